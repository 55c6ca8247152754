"""Structured loops for the LLVM builder: counted and conditional, with loop-carried values as phis."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir

from .values import V


def for_range(b: ir.IRBuilder, start, stop, step, carried: Sequence,
              body: Callable) -> list:
    """``for i in range(start, stop, step)`` (signed compare, step > 0) at the builder's position.
    ``body(i, values) -> new values`` emits the loop body; returns the carried values after the
    loop. The builder ends positioned after the loop."""
    pre = b.block
    head = b.append_basic_block("for.head")
    blk = b.append_basic_block("for.body")
    done = b.append_basic_block("for.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(start.type, "i")
    i.add_incoming(start, pre)
    phis = []
    for c in carried:
        p = b.phi(c.type)
        p.add_incoming(c, pre)
        phis.append(p)
    b.cbranch(b.icmp_signed("<", i, stop), blk, done)
    b.position_at_end(blk)
    new = list(body(i, list(phis)) or ())
    latch = b.block
    nxt = b.add(i, step)
    b.branch(head)
    i.add_incoming(nxt, latch)
    for p, v in zip(phis, new):
        p.add_incoming(v, latch)
    b.position_at_end(done)
    return phis


def while_loop(n0: V, r0: V, cond: Callable[[V], V], step: Callable[[V, V], tuple[V, V]]) -> V:
    """``n, r = n0, r0; while cond(n): n, r = step(n, r)``; returns r."""
    b = n0.b
    pre = b.block
    head = b.append_basic_block("while.head")
    blk = b.append_basic_block("while.body")
    done = b.append_basic_block("while.end")
    b.branch(head)
    b.position_at_end(head)
    n = b.phi(n0.ty)
    r = b.phi(r0.ty)
    n.add_incoming(n0.v, pre)
    r.add_incoming(r0.v, pre)
    b.cbranch(cond(n0.new(n)).v, blk, done)
    b.position_at_end(blk)
    n1, r1 = step(n0.new(n), r0.new(r))
    latch = b.block
    b.branch(head)
    n.add_incoming(n1.v, latch)
    r.add_incoming(r1.v, latch)
    b.position_at_end(done)
    return r0.new(r)
