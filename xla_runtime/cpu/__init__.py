"""The compiled CPU backend: fusion, lowering of fusions to the kernel IR, native nodes
(kernels themselves are compiled by ``kernels.cpu``)."""
