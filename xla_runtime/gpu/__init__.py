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
    control.py     while and conditional on the device: nested graphs, predicate read-back, LoopScope
    permute.py     generated transposes ahead of gemm
    graphs.py      captured mode: recorder, arenas, graphs cached by their addresses
    resident.py    device-resident arrays (DeviceArray) and the client's GpuBuffer
    dlpack.py      DLPack capsules (export and import) with ctypes
    interop.py     zero-copy import of __cuda_array_interface__ / DLPack device arrays

The backend itself is ``xla_runtime/backends/cuda.py`` ("cuda", and "cuda-fake" for tests).

Control flow runs on the device (control.py): a while's cond and body and a conditional's branches
are lowered like the entry into nested graphs on the control node's stream. Each iteration copies
only the 1-byte predicate to the host (a conditional, only its pred/s32 selector), waits for it
through a fence's AsyncValue, and goes on from that callback; the loop state stays in device
buffers (the body's results are the next iteration's parameters, no copies), and each iteration's
temporaries go back to the caching allocator once its fence fires, so the next one reuses them.
Nesting works to any depth. Captured mode leaves such programs in stream mode (the host decides
between device steps, which a graph recorded ahead of launch cannot express).
"""
