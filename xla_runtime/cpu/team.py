"""A native thread team for split BLAS and kernel nodes: helpers that never take the GIL.

A split node handed to the Python pool pays two thread hand-overs on these VMs: the helper wakes
and then waits for the GIL until the caller enters BLAS (60-70 µs after it), and a caller that
finishes first sleeps until the helper's completion wakes it (another 60-200 µs). XLA's own thread
pool (Eigen's) spins before it sleeps for the same reason. Here each helper lives inside one
ctypes call (``team_native``): after a job it spins on a shared word for ``XRT_TEAM_SPIN_US``,
then sleeps on it. A node wakes the team before it prepares its execution, publishes the job (a
list of native steps: gemm calls into NumPy's BLAS, compiled kernels) and takes chunks with the
helpers; it spins for the last chunk with the GIL released. One job at a time: a node that finds
the team busy (a parallel branch, another execution) waits for it, since the job uses every core.

A node's job is a template it builds on its first run (``JobTemplate``: gemm and kernel steps,
the arrays only the job uses, holes for the frame's arrays and the results); later runs fill in
the holes. A node the template cannot express (an operand BLAS cannot read in place) runs through
the Python pool.

Claimable executions of programs that use the team are deferred rather than queued
(``Team.defer``): a caller about to block on the result runs it, and no worker is woken for it.
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
        obj, _ = llvmjit.compile_object(text, speed_level=0)     # its time is spent in what it calls
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
        _, self._owner = native.load_object(_object(bits), tn.SYMBOLS[0], (), config.kernel_loader())
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
        self._deferred_lock = threading.Lock()     # a claim's search and the dispatcher's pops
        self._dispatcher = None
        self.dispatched = 0                # deferred tasks handed to their pool (tests read it)
        helper = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(entry["xrt_team_helper"])
        self.size = helpers + 1
        self.lock = threading.Lock()       # held by the thread whose job the team runs: ``holder``
        self.holder = None
        self.jobs = 0                      # jobs run (tests read it)
        self._threads = [threading.Thread(target=helper, args=(self._ctrl_address, tid), daemon=True,
                                          name=f"xrt-team-{tid}") for tid in range(1, self.size)]
        for t in self._threads:
            t.start()

    def acquire(self) -> bool:
        """Wait for the team (another node's job uses every core: running this node beside it
        on the pool would only oversubscribe them, and spinning threads then wait for descheduled
        ones); False if this thread holds it already."""
        me = threading.get_ident()
        if self.holder == me:
            return False
        self.lock.acquire()
        self.holder = me
        return True

    def release(self) -> None:
        self.holder = None
        self.lock.release()

    @contextlib.contextmanager
    def holding(self):
        """Hold the team while the block runs (a node this thread runs meanwhile uses the pool)."""
        held = self.acquire()
        try:
            yield held
        finally:
            if held:
                self.release()

    def chunks_run(self) -> list[int]:
        """Chunks each thread has run so far (the caller's first): a profile of who did the work."""
        return [int(c) for c in self.ctrl[16:16 + self.size]]

    def sleeping(self) -> int:
        """Helpers asleep now (past their spin budget)."""
        return int(self.ctrl[3])

    def release_hold(self) -> None:
        """The job a wake announced is not coming (the node runs on the pool): the helpers need
        not keep spinning for it."""
        self.ctrl[11] = 0

    def wake(self) -> None:
        """Wake sleeping helpers now: they spin for the job this thread is about to publish."""
        self._wake(self._ctrl_address)

    def run(self, job: np.ndarray, gemm: bool) -> None:
        """Run ``job`` (a filled ``JobTemplate``; ``gemm``: it calls BLAS) on this thread and the
        helpers; returns when all its chunks are done. Hold the team (``holding``)."""
        if gemm:
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
        if self._dispatcher is None:
            self._start_dispatcher()
        with self._deferred_lock:
            self._deferred.append((task, pool))
            if not self.ctrl[14]:
                self.ctrl[14] = time.monotonic_ns() + DEFER_NS
        self.wake()                        # a helper spins (past the deadline) to keep the time
        return task

    def _claimed(self, task) -> None:
        with self._deferred_lock:
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
            with self._deferred_lock:
                due = list(self._deferred)
                self._deferred.clear()
            for task, pool in due:
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


# -- job templates ----------------------------------------------------------------------------
#
# A node builds its job once (``JobTemplate``): the layout words of its gemms and kernels, the
# arrays only its job uses (a split dot's product before its epilogue, a chain's inner result,
# kernels' per-thread scratch: jobs run one at a time, so they are the template's own), and holes
# for what changes per call: the arrays in the frame's slots and the node's results. Filling the
# holes costs a few µs; preparing the Python parts costs 50-90 µs on these VMs.

SLOT, SCALAR, NARROW, OUT, OUT_NARROW = range(5)      # hole kinds


class Unsupported(Exception):
    """A template cannot take this node (an operand BLAS cannot read in place, too many arrays)."""


class Hole(tuple):
    """A word filled per call: the address of ``(kind, index)``'s array."""
    __slots__ = ()


def hole(kind: int, index: int) -> Hole:
    return Hole((kind, index))


class JobTemplate:
    def __init__(self, size: int, extent: int, chunks: int):
        self.words = [chunks, extent, 0, 0, 0, size]     # the job header (``team_native``)
        self.holes: list[tuple[int, int, int]] = []     # (word, kind, index)
        self.static: list = []                          # arrays the words point to, kept alive
        self.size = size
        self.gemm = False

    def static_id(self, obj) -> int:
        self.static.append(obj)
        return id(obj)

    def scratch(self, shape, dtype) -> np.ndarray:
        """An array of the template's own (the job's intermediate or scratch)."""
        a = np.empty(shape, dtype)
        self.static.append(a)
        return a

    def add(self, step: list) -> None:
        self.words[4] += 1
        self.gemm |= step[0] == tn.GEMM
        for w in step:
            if isinstance(w, Hole):
                self.holes.append((len(self.words), *w))
                w = 0
            self.words.append(w)

    def fill(self, buffers, outs: list):
        """(job array, arrays to keep until it has run) for this call, or None when a slot's array
        is not a C-contiguous ndarray (the layout words assume one)."""
        job = np.array(self.words, np.int64)
        keep = []
        for at, kind, index in self.holes:
            if kind >= OUT:
                obj = outs[index]
                if kind == OUT_NARROW:
                    obj = obj.view(np.uint16)
                    keep.append(obj)
            else:
                obj = buffers[index]
                if type(obj) is not np.ndarray or not obj.flags.c_contiguous:
                    return None
                if kind != SLOT:
                    obj = obj.reshape(1) if kind == SCALAR else obj.view(np.uint16)
                    keep.append(obj)
            job[at] = id(obj)
        return job, keep


def slot_array(buffers, statics: dict, slot: int):
    """(array, word) of a slot a step reads: the template's own array, else the frame's (a hole)."""
    own = statics.get(slot)
    if own is not None:
        return own, None
    a = buffers[slot]
    if type(a) is not np.ndarray or not a.flags.c_contiguous:
        raise Unsupported(f"slot {slot} holds a {type(a).__name__} that is not a C-contiguous array")
    return a, hole(SLOT, slot)


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


def gemm_step(a: np.ndarray, b: np.ndarray, out: np.ndarray, words, by_batch: bool, r: int = 1) -> list:
    """A gemm step computing ``out[i] = a[i] @ b[i]`` (3-D: batch, rows, cols) over chunk units:
    batches [lo*r, hi*r) (``by_batch``) or rows [lo*r, hi*r) of batch 0. ``words``: the words
    naming a, b and out (an array whose data pointer is theirs: the views' own, or a hole).
    Raises Unsupported when BLAS cannot take the operands as they are."""
    dt = _GEMM_DTYPES.get(out.dtype)
    _, m, k = a.shape
    n = b.shape[2]
    if dt is None or a.dtype != out.dtype or b.dtype != out.dtype or not (m and n and k):
        raise Unsupported(f"a {a.dtype} x {b.dtype} -> {out.dtype} gemm of {m}x{k}x{n}")
    e = out.itemsize
    la, lb, lc = _blas_view(m, k, a.strides[1:], e), _blas_view(k, n, b.strides[1:], e), _blas_view(m, n, out.strides[1:], e)
    if la is None or lb is None or lc is None or lc[0]:
        raise Unsupported("an operand BLAS cannot take in place")
    steps = (a.strides[0], b.strides[0], out.strides[0]) if by_batch else (a.strides[1], 0, out.strides[1])
    return [tn.GEMM, tn.GEMM_WORDS, dt, _TRANS[la[0]], _TRANS[lb[0]], int(by_batch), r, m, n, k, la[1], lb[1], lc[1],
            *words, *steps]


def kernel_step(tpl: JobTemplate, fn, args: list, scratch_specs) -> list:
    """A kernel step ``fn(*args, *scratch, lo, hi)``: ``args`` are words (array addresses or
    holes), each thread gets scratch arrays of its own."""
    address = getattr(fn, "address", None)
    nargs = len(args) + len(scratch_specs)
    if address is None or nargs > tn.MAX_KERNEL_ARGS:
        raise Unsupported("a kernel without a native address, or with too many arrays")
    words = [tn.KERNEL, 0, address, nargs, len(args), *args]
    for _ in range(tpl.size):
        words += [id(tpl.scratch(shape, dtype)) for shape, dtype in scratch_specs]
    words[1] = len(words)
    return words


def template_of(node, build):
    """``node``'s JobTemplate (``build()`` makes it, on first use), or None if it cannot have one."""
    tpl = node.__dict__.get("_team_template")
    if tpl is None:
        try:
            tpl = build()
        except Unsupported:
            tpl = False
        node._team_template = tpl
    return tpl or None
