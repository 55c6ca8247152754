"""Model functions written in plain NumPy, jitted on the compiled CPU backend (and cross-checked on
the interpreter), compared with NumPy: values, shapes, dtypes; second call with new values does
not retrace."""
import numpy as np
import pytest

from jit.testing import A, check


def mlp(x, w1, b1, w2, b2):
    h = np.maximum(x @ w1 + b1, 0.0)
    return h @ w2 + b2


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layernorm(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def attention(q, k, v):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return softmax(scores) @ v


def logsumexp(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def kmeans_step(points, centroids):
    d = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    assign = np.argmin(d, axis=1)
    onehot = (assign[:, None] == np.arange(centroids.shape[0])[None, :]).astype(points.dtype)
    counts = onehot.sum(0)
    sums = onehot.T @ points
    new = sums / np.maximum(counts, 1.0)[:, None]
    return np.where(counts[:, None] > 0, new, centroids), assign


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def mlp_train_step(x, y, w, b, lr):
    """One step of least-squares gradient descent, gradients written out by hand."""
    pred = x @ w + b
    err = pred - y
    gw = x.T @ err / x.shape[0]
    gb = err.mean(axis=0)
    return w - lr * gw, b - lr * gb, (err ** 2).mean()


MODELS = {
    "mlp": (mlp, [A((16, 32)), A((32, 64), lo=-0.3, hi=0.3), A((64,)), A((64, 10), lo=-0.3, hi=0.3), A((10,))]),
    "softmax": (softmax, [A((8, 33), lo=-5, hi=5)]),
    "layernorm": (layernorm, [A((8, 64)), A((64,)), A((64,))]),
    "attention": (attention, [A((2, 8, 16)), A((2, 8, 16)), A((2, 8, 16))]),
    "logsumexp": (logsumexp, [A((6, 40), lo=-20, hi=20)]),
    "kmeans_step": (kmeans_step, [A((50, 3), "float64", -5, 5), A((4, 3), "float64", -5, 5)]),
    "gelu": (gelu, [A((1000,), lo=-4, hi=4)]),
    "mlp_train_step": (mlp_train_step, [A((32, 8)), A((32, 2)), A((8, 2)), A((2,)), 0.1]),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_on_cpu_backend(name):
    fn, specs = MODELS[name]
    check(fn, specs, backend="cpu")


@pytest.mark.parametrize("name", list(MODELS))
def test_model_on_interpreter(name):
    fn, specs = MODELS[name]
    check(fn, specs, backend="interpreter")


def test_models_in_float64_and_float16():
    check(softmax, [A((4, 9), "float64", -5, 5)], backend="cpu")
    check(layernorm, [A((4, 16), "float64"), A((16,), "float64"), A((16,), "float64")], backend="cpu")
    check(lambda x: softmax(x), [A((4, 9), "float16", -3, 3)], backend="cpu")
