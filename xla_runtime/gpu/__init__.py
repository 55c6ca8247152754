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
    graphs.py      captured mode: recorder, arenas, graphs cached by their addresses
    resident.py    device-resident arrays (DeviceArray) and the client's GpuBuffer
    dlpack.py      DLPack capsules (export and import) with ctypes
    interop.py     zero-copy import of __cuda_array_interface__ / DLPack device arrays

The backend itself is ``xla_runtime/backends/cuda.py`` ("cuda", and "cuda-fake" for tests).

Not built yet: while/conditional with device bodies. They run as host fallbacks (the interpreter
evaluates the whole loop on host copies of its operands). The plan: compile cond and body as
GpuPrograms with device-resident results, and drive the loop from a WhileNode that reads back only
the predicate each iteration, the loop state staying in DeviceArrays between iterations.
"""
