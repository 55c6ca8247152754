"""The systems compared in one run. Each peer turns a case (a workload at one size, with its
inputs) into a call that runs it once and returns its results, ready. A peer that cannot run a case
raises ``Skipped`` (missing package, unsupported op: a reason the table shows) or ``NotApplicable``
(no natural formulation, e.g. no hand-written numba loop for an MLP)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .workloads import Workload, python_fori_loop


class Skipped(Exception):
    """This peer cannot run the case here; the message says why."""


class NotApplicable(Skipped):
    """This peer has no natural formulation of the case."""


class Failed(Exception):
    """This peer tried and failed (a compile error, say); the message says how."""


@dataclass
class Case:
    workload: Workload
    size: str
    args: list[np.ndarray]
    static: dict = field(default_factory=dict)
    exe: object | None = None          # ours, compiled from the stored HLO (set by the suite)
    hlo_missing: str | None = None     # why there is no ``exe``: no module to compile
    hlo_error: str | None = None       # why there is no ``exe``: compiling or running it failed


@dataclass(frozen=True)
class Peer:
    name: str
    label: str                                    # column heading
    prepare: Callable[[Case], Callable[[], object]]
    check_available: Callable[[], str | None] = lambda: None   # None, or why the peer is missing

    def available(self) -> str | None:
        return self.check_available()


def _numpy(case: Case):
    w = case.workload
    if w.fn is None:
        raise NotApplicable("no array program")
    kwargs = w.kwargs(case.static, python_fori_loop)
    return lambda: w.fn(np, *case.args, **kwargs)


def _ours_hlo(case: Case):
    if case.hlo_error:
        raise Failed(case.hlo_error)
    if case.exe is None:
        raise Skipped(case.hlo_missing or "no module")
    exe, args = case.exe, case.args

    def call():
        outs = exe.execute(*args)
        for o in outs:
            o.block_until_ready()
        return outs
    return call


@functools.cache
def _jit_missing() -> str | None:
    try:
        from jit import jit  # noqa: F401
    except Exception as e:   # noqa: BLE001 -- any import failure means "not available"
        return f"@jit is not importable ({type(e).__name__}: {e})"
    return None


def _ours_jit(case: Case):
    from jit import fori_loop, jit
    w = case.workload
    if w.fn is None:
        raise NotApplicable("no array program")
    kwargs = w.kwargs(case.static, fori_loop)
    f = jit(lambda *a: w.fn(np, *a, **kwargs))

    def call():
        out = f(*case.args)
        if hasattr(out, "block_until_ready"):     # one array: no tree walk (JAX's is in C++)
            out.block_until_ready()
            return out
        for leaf in _leaves(out):
            if hasattr(leaf, "block_until_ready"):
                leaf.block_until_ready()
            else:
                np.asarray(leaf)
        return out
    return call


@functools.cache
def _jax_missing() -> str | None:
    try:
        import jax  # noqa: F401
    except Exception as e:   # noqa: BLE001
        return f"jax is not installed (pip install -e '.[bench]'): {type(e).__name__}"
    return None


def _jax(case: Case):
    import jax
    import jax.numpy as jnp
    w = case.workload
    f = jax.jit(functools.partial(w.jax_spelling(), jnp, **w.kwargs(case.static, jax.lax.fori_loop)))
    dargs = [jax.device_put(a) for a in case.args]    # inputs live on the device, as a user's would
    return lambda: jax.block_until_ready(f(*dargs))


def _numba(case: Case):
    if case.workload.numba is None:
        raise NotApplicable("no hand-written loop")
    f = case.workload.numba(**case.static)
    return lambda: f(*case.args)


PEERS: dict[str, Peer] = {p.name: p for p in [
    Peer("ours-hlo", "ours (HLO)", _ours_hlo),
    Peer("ours-jit", "ours (@jit)", _ours_jit, _jit_missing),
    Peer("jax", "JAX", _jax, _jax_missing),
    Peer("numpy", "NumPy", _numpy),
    Peer("numba", "numba", _numba),
]}


def prepare(peer: Peer, case: Case) -> Callable[[], object]:
    """The peer's call for ``case``, run once (compiles, warms caches); raises Skipped."""
    w = case.workload
    if w.peers is not None and peer.name not in w.peers:
        raise NotApplicable("not compared on this workload")
    missing = peer.available()
    if missing:
        raise Skipped(missing)
    try:
        call = peer.prepare(case)
        call()
    except NotImplementedError as e:
        raise Skipped(f"not supported: {e}") from None
    except ImportError as e:
        raise Skipped(f"needs {e.name or e}") from None
    return call


def _leaves(x) -> list:
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in _leaves(item)]
    if isinstance(x, dict):
        return [leaf for k in sorted(x) for leaf in _leaves(x[k])]
    return [x]


def leaves(result) -> list[np.ndarray]:
    """A result as flat NumPy arrays, leaves in order (how our Executable returns them)."""
    return [np.asarray(leaf) for leaf in _leaves(result)]
