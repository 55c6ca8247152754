"""Errors under @jit say what went wrong, which value is involved, and what to do instead."""
import numpy as np
import pytest

from jit import TracerConversionError, TracerIndexError, TracerLeakError, jit

X = np.ones((2, 3), np.float32)


def _jit(f, **kw):
    return jit(f, backend="interpreter", **kw)


def test_python_if_on_traced_value_names_the_argument_and_the_fixes():
    def f(x, y):
        if (y * 2).sum() > 0:
            return x
        return -x
    with pytest.raises(TracerConversionError) as e:
        _jit(f)(X, X)
    msg = str(e.value)
    assert "bool()" in msg and "argument y" in msg and "argument x" not in msg
    assert "jit.cond" in msg and "jit.while_loop" in msg and "static_argnums" in msg
    assert "'f'" in msg


def test_conversion_error_names_the_pytree_path():
    def f(params, x):
        return x * float(params["layers"][1]["w"].sum())
    params = {"layers": [{"w": X}, {"w": X}]}
    with pytest.raises(TracerConversionError, match=r"argument params\['layers'\]\[1\]\['w'\]"):
        _jit(f)(params, X)


@pytest.mark.parametrize("convert", [int, float, bool, complex, lambda t: range(t), lambda t: np.asarray(t),
                                     lambda t: np.array([t, t]), lambda t: t.item(), lambda t: [0, 1][t]],
                         ids=["int", "float", "bool", "complex", "range", "asarray", "array", "item", "list index"])
def test_every_concrete_conversion_is_refused(convert):
    with pytest.raises(TracerConversionError, match="static_argnums"):
        _jit(lambda x, n: convert(n))(X, np.int32(1))


def test_conversion_inside_a_loop_body_names_the_carry():
    def f(x):
        def body(v):
            if v[0] > 1:
                return v
            return v * 2
        return jit.while_loop(lambda v: v.sum() < 10, body, x)
    with pytest.raises(TracerConversionError, match="loop carry"):
        _jit(f)(np.ones(2, np.float32))


def test_static_argument_makes_python_control_flow_work():
    def f(x, n):
        return x * 2 if n > 0 else x
    with pytest.raises(TracerConversionError):
        _jit(f)(X, 1)
    np.testing.assert_array_equal(np.asarray(_jit(f, static_argnums=1)(X, 1)), X * 2)


def test_unimplemented_numpy_function_is_named():
    with pytest.raises(NotImplementedError, match=r"numpy\.fft\.fft is not implemented"):
        _jit(lambda x: np.fft.fft(x))(X)
    with pytest.raises(NotImplementedError, match=r"numpy\.interp"):
        _jit(lambda x: np.interp(x, x[0], x[1]))(X)
    with pytest.raises(NotImplementedError, match=r"numpy\.frexp is not implemented"):
        _jit(lambda x: np.frexp(x))(X)


def test_data_dependent_shapes_are_explained():
    for fn in (lambda x: np.nonzero(x), lambda x: np.unique(x), lambda x: np.where(x > 0),
               lambda x: np.argwhere(x)):
        with pytest.raises(TracerIndexError, match="depends on the data"):
            _jit(fn)(X)


def test_non_array_argument_points_to_static_args():
    with pytest.raises(TypeError, match=r"argument mode is a str.*static_argnames"):
        _jit(lambda x, mode: x)(X, "fast")


def test_out_argument_is_rejected_clearly():
    with pytest.raises(TypeError, match=r"numpy\.sum\(out=\.\.\.\)"):
        _jit(lambda x: np.sum(x, axis=0, out=np.empty(3, np.float32)))(X)
    with pytest.raises(TypeError, match=r"numpy\.exp\(out=\.\.\.\)"):
        _jit(lambda x: np.exp(x, out=x))(X)


def test_leaked_tracer_is_reported():
    leaked = []

    def f(x):
        leaked.append(x)
        return x + 1
    _jit(f)(X)
    g = _jit(lambda x: x + leaked[0])
    with pytest.raises(TracerLeakError, match="outside the trace"):
        g(X)


def test_shape_errors_keep_numpy_messages():
    with pytest.raises(ValueError, match="matmul"):
        _jit(lambda x: x @ x)(X)
    with pytest.raises(ValueError, match="cannot reshape"):
        _jit(lambda x: x.reshape(4, 2))(X)
    with pytest.raises(ValueError, match="broadcast"):
        _jit(lambda x: x + np.ones(4, np.float32))(X)
    with pytest.raises(np.exceptions.AxisError):
        _jit(lambda x: x.sum(axis=2))(X)


def test_switch_and_cond_argument_checks():
    with pytest.raises(TypeError, match="pred must be a scalar"):
        _jit(lambda x: jit.cond(x > 0, lambda: x, lambda: -x))(X)
    with pytest.raises(TypeError, match="different shapes"):
        _jit(lambda x, p: jit.cond(p, lambda: x, lambda: x[0]))(X, True)


def test_bad_calls_to_the_compiled_runtime_are_not_crashes():
    f = _jit(lambda x: x * 2)
    f(X)
    with pytest.raises(TypeError):
        f(object())
