"""The GPU runtime: devices, memory, streams and events, and the GPU backend's node kinds.

    device.py      the Device interface (driver-API shaped) and DeviceError
    cuda.py        CudaDevice on cuda-python's driver bindings (imported only when used)
    cublas.py      cuBLAS gemm through ctypes (CudaDevice.gemm)
    fake.py        FakeDevice: host memory, a thread per stream, kernels as their host builds
    allocator.py   caching allocators for device blocks and pinned staging buffers
    completion.py  AsyncValues completed by device events (a poller thread per device)
    runtime.py     per-device state (streams, pools, loaded kernels), per-execution state, DeviceBuffer
    streams.py     stream assignment from the dependency graph (pure logic)
    nodes.py       the backend's nodes: upload, kernel launch, gemm, host fallback, download
    permute.py     generated transposes ahead of gemm

The backend itself is ``xla_runtime/backends/cuda.py`` ("cuda", and "cuda-fake" for tests).

Not built yet (designs):

- Captured mode (CUDA graphs, XLA's command buffers). Every device node's enqueue sequence is
  fixed once the buffer addresses are: capture the device graph with cuStreamBeginCapture on the
  first stream, fork the other streams by the stream plan's events (they become graph edges),
  instantiate, then replay with one cuGraphLaunch per execution. Addresses must be stable between
  replays, so captured programs keep their temporaries in a program-owned arena (one per concurrent
  execution) instead of per-execution blocks; the uploads of arguments are graph nodes copying from
  fixed staging buffers. A change of address (an imported device buffer, a new arena) updates the
  affected kernel nodes' parameters (cuGraphExecKernelNodeSetParams) and re-captures only when the
  topology changes. Host fallbacks split the program into captured segments.
- Device-resident results: Buffers of the "cuda" client are copied to host NumPy arrays today.
  Keeping them on the device (``DeviceBuffer`` already speaks ``__cuda_array_interface__``) needs
  the client's Buffer to hold a device value, with ``__dlpack__`` exporting kDLCUDA and
  ``__dlpack_device__`` = (2, ordinal), and execute() to accept such buffers (and any object with
  ``__cuda_array_interface__`` / kDLCUDA DLPack) without an upload.
"""
