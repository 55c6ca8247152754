"""The execution graph (edges from buffer uses, transitive reduction, priorities) and the scheduler
(sequential and concurrent runs, asynchronous nodes, errors, nested control flow)."""
from __future__ import annotations

import threading

import pytest

from async_values import AsyncValue
from xla_runtime.executor import (BufferSlice, CallNode, ConditionalNode, ExecutionGraph, Frame, WhileNode,
                                  WorkerPool, execute_graph)

S = BufferSlice
TIMEOUT = 30   # generous: only reached when something is broken


def node(name, reads=(), writes=(), fn=None, nbytes=4096):
    return CallNode(name, fn or (lambda frame: None), reads=reads, writes=writes, nbytes=nbytes)


def graph(nodes, **kw):
    kw.setdefault("sequential_max_nodes", 0)
    kw.setdefault("small_buffer_bytes", -1)
    return ExecutionGraph(nodes, **kw)


@pytest.fixture(scope="module")
def pool():
    p = WorkerPool(4, name="test-worker")
    yield p
    p.shutdown()


def frame(pool, buffers=None):
    return Frame(buffers if buffers is not None else [None] * 16, pool=pool)


# -- graph construction --------------------------------------------------------------------------

def test_edges_follow_read_write_conflicts():
    g = graph([node("w0", writes=[S(0)]),             # 0
               node("r0", reads=[S(0)]),              # 1: read after write
               node("r0b", reads=[S(0)]),             # 2: two reads do not conflict with each other
               node("w0again", writes=[S(0)]),        # 3: write after the reads and the write
               node("other", writes=[S(1)])])         # 4: independent
    edges = set(g.edges())
    assert (0, 1) in edges and (0, 2) in edges
    assert (1, 2) not in edges and (2, 1) not in edges
    assert (1, 3) in edges and (2, 3) in edges
    assert (0, 3) not in edges          # implied by 0 -> 1 -> 3: removed by transitive reduction
    assert not any(4 in e for e in edges)
    assert g.sources == [0, 4]          # highest priority (most reachable nodes) first


def test_disjoint_slices_of_one_buffer_do_not_conflict():
    g = graph([node("a", writes=[S(0, 0, 64)]), node("b", writes=[S(0, 64, 64)]),
               node("c", reads=[S(0, 32, 64)]), node("whole", reads=[S(0)])])
    edges = set(g.edges())
    assert (0, 1) not in edges
    assert (0, 2) in edges and (1, 2) in edges
    assert (0, 3) in edges and (1, 3) in edges


def test_transitive_reduction_and_priority():
    # a -> b -> c and a -> c: the direct edge is redundant
    g = graph([node("a", writes=[S(0)]), node("b", reads=[S(0)], writes=[S(1)]),
               node("c", reads=[S(0), S(1)], writes=[S(2)])])
    assert g.edges() == [(0, 1), (1, 2)]
    assert g.priority == [2, 1, 0]
    assert g.is_chain


def test_sequential_choice():
    chain = [node(f"n{i}", reads=[S(i)], writes=[S(i + 1)]) for i in range(20)]
    assert ExecutionGraph(chain).is_sequential                      # a chain
    wide = [node(f"n{i}", writes=[S(i)]) for i in range(20)]
    assert not ExecutionGraph(wide).is_sequential                   # 20 independent, large nodes
    assert ExecutionGraph(wide[:8]).is_sequential                   # few nodes
    small = [node(f"n{i}", writes=[S(i)], nbytes=16) for i in range(20)]
    assert ExecutionGraph(small).is_sequential                      # all buffers tiny


# -- running ---------------------------------------------------------------------------------------

def _diamond(log, lock):
    def rec(name):
        def fn(frame):
            with lock:
                log.append(name)
        return fn
    return [node("src", writes=[S(0)], fn=rec("src")),
            node("left", reads=[S(0)], writes=[S(1)], fn=rec("left")),
            node("right", reads=[S(0)], writes=[S(2)], fn=rec("right")),
            node("sink", reads=[S(1), S(2)], writes=[S(3)], fn=rec("sink"))]


@pytest.mark.parametrize("sequential", [True, False])
def test_every_node_runs_once_after_its_inputs(pool, sequential):
    log, lock = [], threading.Lock()
    g = graph(_diamond(log, lock), sequential_max_nodes=100 if sequential else 0)
    assert g.is_sequential == sequential
    done = execute_graph(g, frame(pool))
    done.block_until_ready(TIMEOUT)
    assert done.is_concrete()
    assert sorted(log) == ["left", "right", "sink", "src"]
    assert log[0] == "src" and log[-1] == "sink"


def test_independent_nodes_run_concurrently(pool):
    # both nodes wait at a barrier for each other: this only completes if they overlap in time
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    threads = set()

    def meet(frame):
        threads.add(threading.get_ident())
        barrier.wait()
    g = graph([node("a", writes=[S(0)], fn=meet), node("b", writes=[S(1)], fn=meet)])
    done = execute_graph(g, frame(pool))
    done.block_until_ready(TIMEOUT)
    assert done.is_concrete(), done.error
    assert len(threads) == 2


def test_asynchronous_node_result_gates_successors(pool):
    ran = []
    for sequential in (True, False):
        gate = AsyncValue()
        g = graph([node("async", writes=[S(0)], fn=lambda f, gate=gate: gate),
                   node("after", reads=[S(0)], fn=lambda f: ran.append("after"))],
                  sequential_max_nodes=100 if sequential else 0)
        done = execute_graph(g, frame(pool))
        assert not done.is_available() and not ran
        threading.Thread(target=gate.emplace, args=(None,)).start()
        done.block_until_ready(TIMEOUT)
        assert done.is_concrete() and ran == ["after"]
        ran.clear()


@pytest.mark.parametrize("sequential", [True, False])
def test_first_error_aborts_dependants_and_completes(pool, sequential):
    ran = []

    def boom(frame):
        raise ZeroDivisionError("node failed")
    nodes = [node("bad", writes=[S(0)], fn=boom)]
    nodes += [node(f"after{i}", reads=[S(0)], writes=[S(1 + i)], fn=lambda f, i=i: ran.append(i))
              for i in range(10)]
    g = graph(nodes, sequential_max_nodes=100 if sequential else 0)
    done = execute_graph(g, frame(pool))
    done.block_until_ready(TIMEOUT)
    assert isinstance(done.error, ZeroDivisionError)
    assert ran == []


def test_error_from_an_asynchronous_node(pool):
    gate = AsyncValue()
    g = graph([node("async", writes=[S(0)], fn=lambda f: gate), node("after", reads=[S(0)])])
    done = execute_graph(g, frame(pool))
    gate.set_error(KeyError("late failure"))
    done.block_until_ready(TIMEOUT)
    assert isinstance(done.error, KeyError)


def test_wide_graph_many_nodes(pool):
    counts = [0] * 200
    lock = threading.Lock()

    def bump(i):
        def fn(frame):
            with lock:
                counts[i] += 1
        return fn
    nodes = [node(f"n{i}", reads=[S(i % 7)], writes=[S(100 + i)], fn=bump(i)) for i in range(200)]
    done = execute_graph(graph(nodes), frame(pool, [None] * 400))
    done.block_until_ready(TIMEOUT)
    assert done.is_concrete() and counts == [1] * 200


# -- control flow ----------------------------------------------------------------------------------

class CountingWhile(WhileNode):
    """while buffers[0] < limit: buffers[0] += 1, with the increment as the body graph."""

    def __init__(self, limit, body_fn=None):
        cond = graph([node("cond", reads=[S(0)], writes=[S(1)],
                           fn=lambda f: f.buffers.__setitem__(1, f.buffers[0] < limit))])
        body = graph([node("body", reads=[S(0)], writes=[S(0)],
                           fn=body_fn or (lambda f: f.buffers.__setitem__(0, f.buffers[0] + 1)))])
        super().__init__("loop", cond, body, writes=[S(0)])

    def predicate(self, frame):
        return frame.buffers[1]


def test_while_runs_many_iterations_without_recursion(pool):
    g = graph([CountingWhile(50_000)])
    f = frame(pool, [0, None])
    done = execute_graph(g, f)
    assert done.is_concrete()       # everything was synchronous: done on return
    assert f.buffers[0] == 50_000
    assert g.has_loops


def test_while_with_asynchronous_body(pool):
    def body(frame):
        av = AsyncValue()

        def later():
            frame.buffers[0] += 1
            av.emplace(None)
        pool.submit(later)
        return av
    f = frame(pool, [0, None])
    done = execute_graph(graph([CountingWhile(200, body)]), f)
    done.block_until_ready(TIMEOUT)
    assert done.is_concrete() and f.buffers[0] == 200


def test_while_body_error_stops_the_loop(pool):
    def body(frame):
        if frame.buffers[0] == 3:
            raise RuntimeError("iteration 3 failed")
        frame.buffers[0] += 1
    f = frame(pool, [0, None])
    done = execute_graph(graph([CountingWhile(10, body)]), f)
    assert isinstance(done.error, RuntimeError) and f.buffers[0] == 3


class Pick(ConditionalNode):
    def branch_index(self, frame):
        return frame.buffers[0]


@pytest.mark.parametrize("index,expected", [(0, "zero"), (1, "one"), (7, "one"), (-1, "one")])
def test_conditional_picks_branch_and_clamps(pool, index, expected):
    branches = [graph([node(n, writes=[S(1)], fn=lambda f, n=n: f.buffers.__setitem__(1, n))])
                for n in ("zero", "one")]
    f = frame(pool, [index, None])
    done = execute_graph(graph([Pick("cond", branches, reads=[S(0)], writes=[S(1)])]), f)
    assert done.is_concrete() and f.buffers[1] == expected
