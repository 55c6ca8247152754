"""The compiled CPU backend: fusion, lowering of fusions to the kernel IR, numba kernels."""
