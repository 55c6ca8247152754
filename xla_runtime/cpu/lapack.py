"""The LAPACK custom calls (``ops/lapack.py``) as native host nodes: each node calls LAPACK itself
(``lapack_lib``: the routine the target names, in the operand's own precision, as jaxlib does) on
its operand buffers, with no interpreter in between, and is not counted as a fallback. Where that
library is missing the node runs the target's NumPy kernel instead; the choice is made per run."""
from __future__ import annotations

from ..executor import BufferSlice, Node
from ..hlo.ir import HloInstruction
from ..ops.lapack import LAPACK_CALLS, LapackCall, flag, result_array, result_tuple
from . import lapack_lib
from .blas_threads import single_threaded_blas
from .custom_calls import custom_call_node


def _getrf(ins, args):
    return result_tuple(lapack_lib.getrf(args[0]), ins.shape)


def _potrf(ins, args):
    return result_tuple(lapack_lib.potrf(args[0], lower=flag(ins, "uplo", "LU") == "L"), ins.shape)


def _trsm(ins, args):
    a, b = args
    x = lapack_lib.trsm(a, b, left=flag(ins, "side", "LR") == "L", lower=flag(ins, "uplo", "LU") == "L",
                        trans=flag(ins, "trans_x", "NTC"), unit=flag(ins, "diag", "NU") == "U")
    return result_array(x, ins.shape)


def _geqrf(ins, args):
    return result_tuple(lapack_lib.geqrf(args[0]), ins.shape)


def _orgqr(ins, args):
    return result_array(lapack_lib.orgqr(*args), ins.shape)


def _geev(ins, args):
    left = flag(ins, "compute_left", "NV") == "V"
    right = flag(ins, "compute_right", "NV") == "V"
    return result_tuple(lapack_lib.geev(args[0], left, right), ins.shape)


# routine -> kernel on lapack_lib; syevd and gesdd/gesvd already run numpy.linalg's LAPACK
NATIVE = {"getrf": _getrf, "potrf": _potrf, "trsm": _trsm, "geqrf": _geqrf, "orgqr": _orgqr, "geev": _geev}


class LapackNode(Node):
    kind = "lapack"

    def __init__(self, ins: HloInstruction, call: LapackCall, operand_slots, out_slot, nbytes):
        super().__init__(ins.name, [BufferSlice(s) for s in operand_slots], [BufferSlice(out_slot)], nbytes)
        self.ins, self.call = ins, call
        self.native = NATIVE.get(call.routine)
        self.operand_slots, self.out_slot = tuple(operand_slots), out_slot

    def run(self, frame):
        b = frame.buffers
        kernel = self.native if self.native is not None and lapack_lib.available() else self.call.kernel
        with single_threaded_blas():      # LAPACK's gemms too: the pool is the parallelism
            b[self.out_slot] = kernel(self.ins, [b[s] for s in self.operand_slots])


def _factory(call: LapackCall):
    def factory(ins: HloInstruction, operand_slots, out_slot, nbytes) -> LapackNode:
        return LapackNode(ins, call, operand_slots, out_slot, nbytes)
    return factory


for _target, _call in LAPACK_CALLS.items():
    custom_call_node(_target)(_factory(_call))
