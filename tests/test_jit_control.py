"""jit.cond / switch / while_loop / fori_loop / scan: traced into HLO conditional/while (values used
from the enclosing function are captured), and plain Python when called outside a trace."""
import numpy as np
import pytest

import jit as jit_module
from jit import jit
from jit.testing import A, assert_same, assert_same_tree, check


def test_helpers_are_attributes_of_the_decorator_and_the_module():
    for name in ("cond", "switch", "while_loop", "fori_loop", "scan"):
        assert getattr(jit, name) is getattr(jit_module, name)
    assert jit_module.jit is jit


def _cond_fn(x, w):
    s = x.sum()
    return jit.cond(s > 0, lambda a, b: (a * w, b + 1), lambda a, b: (a - w, b * 2), x, x[0])


def _cond_ref(x, w):
    return (x * w, x[0] + 1) if x.sum() > 0 else (x - w, x[0] * 2)


def test_cond_both_branches_with_closure():
    f = jit(_cond_fn, backend="interpreter")
    for sign in (1, -1):
        x = sign * np.abs(np.random.default_rng(0).standard_normal((3, 4))).astype(np.float32)
        w = np.float32(1.5) * np.ones((3, 4), np.float32)
        assert_same_tree(f(x, w), _cond_ref(x, w))
    assert f.trace_count == 1
    text = f.lower(x, w).as_text()
    assert " conditional(" in text and "branch_computations=" in text


def test_cond_promotes_weak_branch_results_like_numpy():
    f = jit(lambda x, p: jit.cond(p, lambda: x * 2, lambda: 0.0), backend="interpreter")
    x = np.ones(3, np.float32)
    assert f(x[0], True).dtype == np.float32
    assert float(f(x[0], False)) == 0.0


def test_cond_with_concrete_predicate_traces_one_branch():
    f = jit(lambda x: jit.cond(x.ndim == 1, lambda v: v + 1, lambda v: v.sum(), x), backend="interpreter")
    assert " conditional(" not in f.lower(np.ones(3)).as_text()
    assert_same(f(np.ones(3)), np.ones(3) + 1)


def test_cond_eager_outside_jit():
    x = np.arange(3.0)
    assert_same(jit.cond(x.sum() > 1, lambda v: v * 2, lambda v: v, x), x * 2)


def test_switch_clamps_the_index():
    branches = [lambda a: a + 1, lambda a: a * 10, lambda a: -a]
    f = jit(lambda i, x: jit.switch(i, branches, x), backend="interpreter")
    x = np.arange(4, dtype=np.float32)
    for i in (-3, 0, 1, 2, 7):
        want = branches[min(max(i, 0), 2)](x)
        assert_same(f(np.int32(i), x), want)
        assert_same(jit.switch(i, branches, x), want)
    assert f.trace_count == 1


def _newton_sqrt(a):
    def cond_fun(state):
        i, x = state
        return (i < 20) & (np.max(np.abs(x * x - a)) > 1e-6)

    def body_fun(state):
        i, x = state
        return i + 1, 0.5 * (x + a / x)
    return jit.while_loop(cond_fun, body_fun, (0, np.ones_like(a)))


def test_while_loop_matches_python_loop():
    a = np.array([2.0, 9.0, 0.25], np.float64)
    want = _newton_sqrt(a)                      # outside jit: a Python while loop
    f = jit(_newton_sqrt, backend="interpreter")
    got = f(a)
    assert_same_tree(got, (want[0], np.asarray(want[1])))
    assert_same(f(a * 4)[1], np.sqrt(a * 4), rtol=1e-6)
    assert f.trace_count == 1
    assert " while(" in f.lower(a).as_text()


def test_while_loop_weak_carry_adopts_body_dtype_and_captures_closures():
    def f(x):
        total = x.sum()          # captured by the body, not carried by the caller

        def body(s):
            i, acc = s
            return i + 1, acc + total * i
        return jit.while_loop(lambda s: s[0] < 5, body, (0, 0.0))
    check(f, [A((2, 3), "float32")])


def test_while_loop_body_changing_shape_is_an_error():
    f = jit(lambda x: jit.while_loop(lambda v: v.sum() < 10, lambda v: np.concatenate([v, v]), x),
            backend="interpreter")
    with pytest.raises(TypeError, match="shape of carry leaf 0"):
        f(np.ones(2, np.float32))


def test_fori_loop_static_and_traced_bounds():
    def f(x, n):
        return jit.fori_loop(0, n, lambda i, v: v * 0.5 + i, x)   # i acts as a Python int: v stays float32
    check(f, [A((3,), "float32"), 4])
    g = jit(f, backend="interpreter")
    x = np.ones(3, np.float32)
    for n in (0, 1, 6):
        assert_same(g(x, n), f(x, n))
    assert g.trace_count == 1          # the bound is traced, not baked in
    h = jit(f, static_argnums=1, backend="interpreter")
    assert_same(h(x, 3), f(x, 3))


def test_scan_carry_and_stacked_outputs():
    def step(c, row):
        c = c + row
        return c, (c * 2, row.sum())

    def f(xs):
        return jit.scan(step, np.zeros(xs.shape[1], xs.dtype), xs)
    check(f, [A((5, 3), "float32")])                     # eager NumPy reference vs traced
    check(lambda xs: jit.scan(step, np.zeros(3, np.float64), xs, reverse=True), [A((4, 3), "float64")])


def test_scan_with_length_only():
    def f(x):
        return jit.scan(lambda c, _: (c * 2, c), x, None, length=4)
    check(f, [A((2,), "float32")])


def test_nested_control_flow_captures_through_levels():
    def f(x, w):
        def body(i, acc):
            # a cond inside a loop body, both using w from the outer function
            return jit.cond(i % 2 == 0, lambda a: a + w, lambda a: a * w, acc)
        return jit.fori_loop(0, 5, body, x)
    check(f, [A((3,), "float64"), A((3,), "float64")])


def test_control_flow_on_compiled_cpu_backend():
    def f(x):
        def body(i, acc):
            return acc + np.tanh(x * i)
        y = jit.fori_loop(0, 4, body, np.zeros_like(x))
        return jit.cond(y.sum() > 0, lambda: y, lambda: -y)
    check(f, [A((8,), "float32")], backend="cpu")
