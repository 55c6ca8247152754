"""A native thread team for split BLAS and kernel nodes: helpers that never take the GIL.

A split node handed to the Python pool pays two thread hand-overs on these VMs: the helper wakes
and then waits for the GIL until the caller enters BLAS (60-70 µs after it), and a caller that
finishes first sleeps until the helper's completion wakes it (another 60-200 µs). XLA's own thread
pool (Eigen's) spins before it sleeps for the same reason. Here each helper lives inside one
ctypes call (``team_native``): after a job it spins on a shared word for ``XRT_TEAM_SPIN_US``,
then sleeps on it. A node wakes the team before it prepares its execution, publishes the job (a
list of native steps: gemm calls into NumPy's BLAS, compiled kernels) and takes chunks with the
helpers; it spins for the last chunk with the GIL released. One job at a time: a node that finds
the team busy (another execution) runs through the Python pool instead.

Steps come from the prepared part functions of nodes: ``fn.native(threads, keep)`` gives the job
words of ``fn(lo, hi)``, or None when some operand is not expressible (then the Python path runs).
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import hashlib
import os
import sys
import threading
import time

import numpy as np

from .. import config
from ..executor.pool import Task
from . import host_pool
from . import team_native as tn
from .blas_threads import openblas_libraries, single_threaded_blas

_MAGIC = b"xrt-team-1\n"
# (symbol, BLAS integer bits), best first: NumPy 2's scipy-openblas is ILP64
_GEMMS = (("scipy_cblas_{}gemm64_", 64), ("cblas_{}gemm64_", 64), ("scipy_cblas_{}gemm", 32), ("cblas_{}gemm", 32))
_TRANS = {False: 111, True: 112}          # CblasNoTrans, CblasTrans
# helpers woken ahead of a job spin this long for it: preparing it can take longer than the spin
# budget (when other threads want the GIL), and a helper gone back to sleep wakes 60-300 µs late
WAKE_HOLD_NS = 2_000_000
# a deferred execution nobody has claimed goes to the worker pool after this long
DEFER_NS = 100_000


def _gemm_symbols():
    """(sgemm address, dgemm address, integer bits) of NumPy's OpenBLAS, or None."""
    for lib in openblas_libraries():
        for pattern, bits in _GEMMS:
            s, d = (getattr(lib, pattern.format(t), None) for t in "sd")
            if s is not None and d is not None:
                return ctypes.cast(s, ctypes.c_void_p).value, ctypes.cast(d, ctypes.c_void_p).value, bits
    return None


def _object(bits: int) -> bytes:
    """The team's object code: from the disk cache, else compiled (and cached)."""
    from kernels import diskcache
    from kernels.cpu import compiler
    from kernels.cpu.layout import ARRAY_DATA_OFFSET
    text = tn.generate(bits, ARRAY_DATA_OFFSET)
    key = hashlib.sha256(f"{text}|{compiler._environment('llvm')}".encode()).hexdigest()[:32]
    cache = config.cache_dir()
    path = os.path.join(cache, "team", f"team_{key}.o") if cache else None
    obj = diskcache.read(path, _MAGIC) if path else None
    if obj is None:
        from kernels.cpu import llvmjit
        obj, _ = llvmjit.compile_object(text)
        if path:
            try:
                diskcache.write(path, _MAGIC, obj)
            except OSError:
                pass
    return obj


class Team:
    """The helpers, their shared words and the native entry points."""

    def __init__(self, helpers: int, spin_ns: int):
        from kernels.cpu import native
        sgemm, dgemm, bits = _gemm_symbols()
        address, self._owner = native.load_object(_object(bits), tn.SYMBOLS[0], (), config.kernel_loader())
        entry = {name: native.entry_address(self._owner, name) for name in tn.SYMBOLS}
        libc = ctypes.CDLL(None)
        self.ctrl = np.zeros(tn.CTRL_WORDS, np.int64)
        self.ctrl[5] = spin_ns
        self.ctrl[12] = WAKE_HOLD_NS
        self.ctrl[6], self.ctrl[7] = sgemm, dgemm
        self.ctrl[8] = ctypes.cast(libc.syscall, ctypes.c_void_p).value
        self.ctrl[9] = ctypes.cast(libc.clock_gettime, ctypes.c_void_p).value
        self.ctrl[10] = tn.FUTEX_SYSCALL[_machine()]
        self.ctrl[13] = ctypes.cast(libc.sched_yield, ctypes.c_void_p).value
        self._ctrl_address = self.ctrl.ctypes.data
        # a run releases the GIL; a wake (one syscall) keeps it: releasing it would hand it to a
        # thread waiting for it, and getting it back costs a wake-up of this one
        self._run = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(entry["xrt_team_run"])
        self._wake = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(entry["xrt_team_wake"])
        self._stop = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(entry["xrt_team_stop"])
        self._wait = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(entry["xrt_team_wait"])
        self._deferred: collections.deque = collections.deque()     # (task, pool) not yet handed over
        self._dispatcher = None
        self.dispatched = 0                # deferred tasks handed to their pool (tests read it)
        helper = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(entry["xrt_team_helper"])
        self.size = helpers + 1
        self.lock = threading.Lock()
        self.holder = None                 # the thread holding ``lock`` (``holding``)
        self.jobs = 0                      # jobs run (tests read it)
        self._threads = [threading.Thread(target=helper, args=(self._ctrl_address, tid), daemon=True,
                                          name=f"xrt-team-{tid}") for tid in range(1, self.size)]
        for t in self._threads:
            t.start()

    @contextlib.contextmanager
    def holding(self):
        """Hold the team if it is free: yields whether this thread has it."""
        if not self.lock.acquire(blocking=False):
            yield False
            return
        self.holder = threading.get_ident()
        try:
            yield True
        finally:
            self.holder = None
            self.lock.release()

    def chunks_run(self) -> list[int]:
        """Chunks each thread has run so far (the caller's first): a profile of who did the work."""
        return [int(c) for c in self.ctrl[16:16 + self.size]]

    def sleeping(self) -> int:
        """Helpers asleep now (past their spin budget)."""
        return int(self.ctrl[3])

    def wake(self) -> None:
        """Wake sleeping helpers now: they spin for the job this thread is about to publish."""
        self._wake(self._ctrl_address)

    def run(self, words: list, extent: int, chunks: int) -> None:
        """Run the job of ``words`` (steps) over ``[0, extent)`` in ``chunks`` chunks, on this
        thread and the helpers; returns when all are done. Hold ``lock``."""
        steps, gemms = _count_steps(words)
        job = np.array([chunks, extent, 0, 0, steps, self.size, *words], np.int64)
        if gemms:
            with single_threaded_blas():
                self._run(self._ctrl_address, job.ctypes.data)
        else:
            self._run(self._ctrl_address, job.ctypes.data)
        self.jobs += 1

    def defer(self, pool, fn, *args) -> "DeferredTask":
        """A task for ``fn(*args)`` that a caller about to block on its result will claim, handed
        to ``pool`` only if nobody has within ``DEFER_NS``. Submitting it at once wakes a worker
        (the syscall and, once the caller lets go of the GIL, 20-40 µs of that worker on a core
        the execution is using) only for it to find the task claimed. The helpers, which a job is
        about to need anyway, keep the time: a spinning helper past the deadline wakes the
        dispatcher thread, which hands over whatever is still deferred."""
        task = DeferredTask(self)
        task._box.append((fn, args))
        self._deferred.append((task, pool))
        if self._dispatcher is None:
            self._start_dispatcher()
        if not self.ctrl[14]:
            self.ctrl[14] = time.monotonic_ns() + DEFER_NS
        self.wake()                        # a helper spins (past the deadline) to keep the time
        return task

    def _claimed(self, task) -> None:
        for i, (t, _) in enumerate(self._deferred):
            if t is task:
                del self._deferred[i]
                break
        if not self._deferred:
            self.ctrl[14] = 0

    def _start_dispatcher(self) -> None:
        with _lock:
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch, daemon=True, name="xrt-team-dispatch")
                self._dispatcher.start()

    def _dispatch(self) -> None:
        seen = int(self.ctrl[15])
        while True:
            self._wait(self._ctrl_address, seen)          # the GIL released while it sleeps
            seen = int(self.ctrl[15])
            if self.ctrl[2]:
                return
            while self._deferred:
                task, pool = self._deferred.popleft()
                if task._box:                              # not claimed meanwhile
                    self.dispatched += 1
                    pool.submit(task.run)

    def stop(self) -> None:
        self._stop(self._ctrl_address)
        for t in self._threads:
            t.join(timeout=1.0)


class DeferredTask(Task):
    """A Task (``executor.pool``) the team hands to its pool late (``Team.defer``)."""
    __slots__ = ("_team",)

    def __init__(self, team: Team):
        super().__init__()
        self._team = team

    def claim(self):
        claimed = super().claim()
        if claimed is not None:
            self._team._claimed(self)      # before it runs: the deadline must not fire meanwhile
        return claimed


def _machine() -> str:
    import platform
    return platform.machine()


def _count_steps(words: list) -> tuple[int, bool]:
    """(steps, whether any is a gemm)."""
    n = i = 0
    gemm = False
    while i < len(words):
        gemm |= words[i] == tn.GEMM
        i += words[i + 1]
        n += 1
    return n, gemm


_team: Team | None = None
_failed = False
_lock = threading.Lock()


def team() -> Team | None:
    """The process's team, started on first use; None where there is none (one thread, no
    OpenBLAS gemm found, XRT_TEAM_SPIN_US < 0, or its code could not be built)."""
    global _team, _failed
    if _team is None and not _failed:
        with _lock:
            if _team is None and not _failed:
                threads, spin = config.num_threads(), config.team_spin_us()
                threads = min(threads, tn.MAX_THREADS)
                if threads < 2 or spin < 0 or _machine() not in tn.FUTEX_SYSCALL or not sys.platform.startswith("linux") \
                        or _gemm_symbols() is None:
                    _failed = True
                    return None
                try:
                    _team = Team(threads - 1, spin * 1000)
                except (OSError, RuntimeError, ValueError) as e:
                    _failed = True
                    import logging
                    logging.getLogger("xla_runtime.executor").warning("native thread team unavailable: %s", e)
                    return None
    return _team


def _stop_at_exit() -> None:
    if _team is not None:
        _team.stop()


def _after_fork_in_child() -> None:
    # the helpers do not survive fork(): a child starts its own team
    global _team, _failed, _lock
    _team, _failed, _lock = None, False, threading.Lock()


atexit.register(_stop_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)


def private_empty(owner, tag: str, shape, dtype) -> np.ndarray:
    """Memory for an intermediate that only ``owner``'s own job reads (a split dot's product
    before its epilogue, a chain's inner result). While this thread holds the team, jobs run one
    at a time, so the node keeps one such array and reuses it (an allocation of a large block
    costs 7-15 µs); otherwise a fresh one."""
    if _team is None or _team.holder != threading.get_ident():
        return host_pool.empty(shape, dtype)
    kept = owner.__dict__.setdefault("_team_private", {})
    a = kept.get(tag)
    if a is None or a.shape != tuple(shape) or a.dtype != dtype:
        a = kept[tag] = np.empty(shape, dtype)
    return a


# -- steps ------------------------------------------------------------------------------------

_GEMM_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}


def _blas_view(rows: int, cols: int, strides, itemsize: int):
    """(transposed, leading dimension) of a matrix with these byte ``strides`` as BLAS takes it,
    or None."""
    sr, sc = strides
    if (sc == itemsize or cols == 1) and sr % itemsize == 0 and sr // itemsize >= max(cols, 1):
        return False, sr // itemsize
    if rows == 1 and (sc == itemsize or cols == 1):
        return False, max(cols, 1)
    if (sr == itemsize or rows == 1) and sc % itemsize == 0 and sc // itemsize >= max(rows, 1):
        return True, sc // itemsize
    return None


def gemm_step(a: np.ndarray, b: np.ndarray, out: np.ndarray, keep: list, by_batch: bool, r: int = 1) -> list | None:
    """The words of a gemm step computing ``out[i] = a[i] @ b[i]`` (3-D: batch, rows, cols) over
    chunk units: batches [lo*r, hi*r) (``by_batch``) or rows [lo*r, hi*r) of batch 0. None when
    BLAS cannot take the operands as they are. The words name the arrays themselves: ``keep``
    holds them until the job has run."""
    key = (a.shape, a.strides, b.shape, b.strides, out.strides, out.dtype, a.dtype, b.dtype, by_batch, r)
    words = _gemm_words.get(key)
    if words is None:
        words = _gemm_words[key] = _gemm_layout(a, b, out, by_batch, r)
    if words is _NOT_BLAS:
        return None
    keep.append((a, b, out))
    return [*words[:13], id(a), id(b), id(out), *words[16:]]


_NOT_BLAS: list = []
_gemm_words: dict = {}       # layout -> words (the array addresses left 0): a node's layout repeats


def _gemm_layout(a, b, out, by_batch, r) -> list:
    dt = _GEMM_DTYPES.get(out.dtype)
    _, m, k = a.shape
    n = b.shape[2]
    if dt is None or a.dtype != out.dtype or b.dtype != out.dtype or not (m and n and k):
        return _NOT_BLAS
    e = out.itemsize
    la, lb, lc = _blas_view(m, k, a.strides[1:], e), _blas_view(k, n, b.strides[1:], e), _blas_view(m, n, out.strides[1:], e)
    if la is None or lb is None or lc is None or lc[0]:
        return _NOT_BLAS
    if len(_gemm_words) > 4096:
        _gemm_words.clear()
    steps = (a.strides[0], b.strides[0], out.strides[0]) if by_batch else (a.strides[1], 0, out.strides[1])
    return [tn.GEMM, tn.GEMM_WORDS, dt, _TRANS[la[0]], _TRANS[lb[0]], int(by_batch), r, m, n, k, la[1], lb[1], lc[1],
            0, 0, 0, *steps]


def kernel_step(fn, args: list, scratch, threads: int, keep: list) -> list | None:
    """The words of a kernel step ``fn(*args, *scratch(), lo, hi)``: ``args`` shared, a set of
    ``scratch()`` arrays per thread (kept alive in ``keep``). None for a kernel with no native
    address or too many arrays."""
    address = getattr(fn, "address", None)
    if address is None:
        return None
    own = [scratch() for _ in range(threads)]
    nargs = len(args) + len(own[0])
    if nargs > tn.MAX_KERNEL_ARGS or nargs == 0:
        return None
    keep.append(own)
    words = [tn.KERNEL, 0, address, nargs, len(args), *map(id, args)]
    for arrays in own:
        words += map(id, arrays)
    words[1] = len(words)
    return words


def chain(*parts) -> list | None:
    """The words of steps run one after another, or None if any is None."""
    words = []
    for p in parts:
        if p is None:
            return None
        words += p
    return words
