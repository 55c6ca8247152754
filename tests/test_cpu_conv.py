"""The native convolution node of the compiled CPU backend (xla_runtime/cpu/conv.py): im2col + BLAS
against JAX (XLA:CPU) and the reference interpreter over layouts, strides, padding, dilations,
groups and batch groups; the conformance conv cases; splitting over threads; fallbacks."""
from __future__ import annotations


import numpy as np
import pytest

import xla_runtime
from conformance import Case, assert_matches, available
from helpers import execute_on_threads, jax_hlo_and_outputs, requires_jax
from xla_runtime.client import load_module
from xla_runtime.cpu import conv as conv_mod
from xla_runtime.cpu.conv import ConvNode, conv_node
from xla_runtime.executor import Frame
from xla_runtime.executor.pool import WorkerPool


def _conv_nodes(exe) -> list[ConvNode]:
    return [n for n in exe.program.graph.nodes if isinstance(n, ConvNode)]


def _close(got, want, dtype):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


def _check_jax(lhs, rhs, dtype=np.float32, seed=0, **kw):
    import jax
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(lhs).astype(dtype)
    w = rng.standard_normal(rhs).astype(dtype)
    text, (want,) = jax_hlo_and_outputs(lambda x, w: jax.lax.conv_general_dilated(x, w, **kw), x, w)
    exe = xla_runtime.Client("cpu").compile(text)
    assert len(_conv_nodes(exe)) == 1 and "convolution" not in exe.program.fallbacks
    got = np.asarray(exe.execute(x, w)[0])
    _close(got, want, dtype)
    ref = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x, w)[0])
    _close(got, ref, dtype)
    return exe


# (lhs shape, rhs shape, conv_general_dilated keywords): layouts, 1D/2D/3D, strides, padding
# (negative too), both dilations, feature groups (grouped, depthwise), batch groups, 1x1 windows
CASES = [
    ((2, 9, 9, 5), (3, 3, 5, 4), dict(window_strides=(1, 1), padding="SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))),
    ((2, 5, 9, 9), (4, 5, 3, 3), dict(window_strides=(1, 1), padding="SAME",
                                      dimension_numbers=("NCHW", "OIHW", "NCHW"))),
    ((2, 9, 9, 5), (3, 3, 5, 4), dict(window_strides=(2, 1), padding=((1, 2), (0, -1)),
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))),
    ((2, 9, 8, 6), (3, 2, 3, 4), dict(window_strides=(1, 2), padding=((2, 1), (1, -2)), lhs_dilation=(1, 2),
                                      rhs_dilation=(2, 1), feature_group_count=2,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))),
    ((4, 9, 9, 6), (3, 3, 6, 4), dict(window_strides=(1, 1), padding="VALID", batch_group_count=2,
                                      dimension_numbers=("NHWC", "HWIO", "NCHW"))),
    ((2, 7, 7, 6), (3, 3, 1, 6), dict(window_strides=(1, 1), padding="SAME", feature_group_count=6,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))),      # depthwise
    ((2, 6, 7, 8), (12, 1, 3, 2), dict(window_strides=(2, 1), padding=((1, 1), (0, 2)), rhs_dilation=(1, 2),
                                       feature_group_count=6,
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"))),    # depthwise, x2
    ((2, 9, 9, 6), (1, 1, 6, 4), dict(window_strides=(1, 1), padding="VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))),      # 1x1: no im2col
    ((1, 6, 9, 9), (4, 6, 1, 1), dict(window_strides=(1, 1), padding="VALID",
                                      dimension_numbers=("NCHW", "OIHW", "NCHW"))),
    ((3, 6, 9, 9), (4, 6, 1, 1), dict(window_strides=(2, 2), padding="VALID",
                                      dimension_numbers=("NCHW", "OIHW", "NHWC"))),
    ((2, 9, 9, 6), (1, 1, 6, 4), dict(window_strides=(1, 1), padding=((0, -2), (0, -1)),
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))),      # 1x1, cropped
    ((3, 6, 11), (4, 6, 3), dict(window_strides=(2,), padding="SAME", dimension_numbers=("NCH", "OIH", "NCH"))),
    ((3, 11, 6), (4, 6, 3), dict(window_strides=(1,), padding=((3, -1),), lhs_dilation=(3,), rhs_dilation=(2,),
                                 dimension_numbers=("NWC", "OIW", "NCW"))),
    ((2, 5, 6, 7, 3), (2, 2, 2, 3, 4), dict(window_strides=(1, 2, 1), padding="SAME",
                                            dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))),
    ((4, 3, 5, 6, 7), (4, 3, 2, 3, 2), dict(window_strides=(2, 1, 1), padding=((1, 0), (0, 1), (1, 1)),
                                            batch_group_count=2,
                                            dimension_numbers=("NCDHW", "OIDHW", "NCDHW"))),
    ((5, 4), (4, 6), dict(window_strides=(), padding=(), dimension_numbers=("NC", "IO", "NC"))),   # no spatial
]


@requires_jax
@pytest.mark.parametrize("lhs,rhs,kw", CASES)
def test_conv_matches_jax_and_interpreter(lhs, rhs, kw):
    _check_jax(lhs, rhs, **kw)


@requires_jax
@pytest.mark.parametrize("index,mode", [(0, "im2col"), (1, "im2col"), (5, "depthwise"), (6, "depthwise"),
                                        (7, "direct"), (8, "direct"), (9, "im2col"), (10, "im2col"),
                                        (15, "direct")])
def test_fast_paths_are_taken(index, mode):
    """1x1 windows over matching layouts gemm a view of the input; depthwise runs its own loop."""
    lhs, rhs, kw = CASES[index]
    exe = _check_jax(lhs, rhs, **kw)
    assert _conv_nodes(exe)[0].mode == mode


@requires_jax
def test_conv_f64():
    _check_jax((2, 7, 7, 4), (3, 3, 2, 6), dtype=np.float64, window_strides=(2, 1), padding="SAME",
               feature_group_count=2, dimension_numbers=("NHWC", "HWIO", "NCHW"))


def _random_case(rng):
    nsp = int(rng.integers(1, 4))
    g, bg = 1, 1
    r = rng.random()
    if r < 0.25:
        g = int(rng.integers(2, 4))
    elif r < 0.4:
        bg = int(rng.integers(2, 3))
    ci = int(rng.integers(1, 4))
    n = bg * int(rng.integers(1, 3))
    o = g * bg * int(rng.integers(1, 4))
    sizes = [int(rng.integers(3, 8)) for _ in range(nsp)]
    ksz = [int(rng.integers(1, 4)) for _ in range(nsp)]
    strides = tuple(int(rng.integers(1, 3)) for _ in range(nsp))
    ldil = tuple(int(rng.integers(1, 3)) for _ in range(nsp))
    rdil = tuple(int(rng.integers(1, 3)) for _ in range(nsp))
    pads = tuple((int(rng.integers(-1, 3)), int(rng.integers(-1, 3))) for _ in range(nsp))
    spans = [(k - 1) * d + 1 for k, d in zip(ksz, rdil)]
    if any((s - 1) * ld + 1 + lo + hi < span for s, ld, (lo, hi), span in zip(sizes, ldil, pads, spans)):
        return _random_case(rng)      # an empty result: JAX folds it to a constant
    # random layouts: which array axis holds batch / feature / each spatial dimension
    lhs_spec = tuple(int(i) for i in rng.permutation(nsp + 2))
    rhs_spec = tuple(int(i) for i in rng.permutation(nsp + 2))
    out_spec = tuple(int(i) for i in rng.permutation(nsp + 2))
    lhs = [0] * (nsp + 2)
    rhs = [0] * (nsp + 2)
    for axis, size in zip(lhs_spec, [n, ci * g] + sizes):
        lhs[axis] = size
    for axis, size in zip(rhs_spec, [o, ci] + ksz):
        rhs[axis] = size
    from jax.lax import ConvDimensionNumbers
    kw = dict(window_strides=strides, padding=pads, lhs_dilation=ldil, rhs_dilation=rdil,
              dimension_numbers=ConvDimensionNumbers(lhs_spec, rhs_spec, out_spec),
              feature_group_count=g, batch_group_count=bg)
    return tuple(lhs), tuple(rhs), kw


@requires_jax
@pytest.mark.parametrize("seed", range(16))
def test_conv_random_configurations(seed):
    rng = np.random.default_rng(1000 + seed)
    lhs, rhs, kw = _random_case(rng)
    _check_jax(lhs, rhs, seed=seed, **kw)


CONV_TEXT = """HloModule conv
ENTRY main {
  x = f32[2,6,6,3]{3,2,1,0} parameter(0)
  w = f32[3,2,3,4]{3,2,1,0} parameter(1)
  ROOT c = f32[2,6,5,4]{3,2,1,0} convolution(x, w), window={size=3x2 pad=1_1x0_0 rhs_reversal=1x1}, dim_labels=b01f_01io->b01f
}
"""


def test_conv_window_reversal_matches_interpreter():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)
    exe = xla_runtime.Client("cpu").compile(CONV_TEXT)
    assert len(_conv_nodes(exe)) == 1
    want = np.asarray(xla_runtime.Client("interpreter").compile(CONV_TEXT).execute(x, w)[0])
    _close(exe.execute(x, w)[0], want, np.float32)


def test_conv_zero_sized_operands():
    text = CONV_TEXT.replace("f32[2,6,6,3]", "f32[0,6,6,3]").replace("f32[2,6,5,4]", "f32[0,6,5,4]")
    x, w = np.zeros((0, 6, 6, 3), np.float32), np.ones((3, 2, 3, 4), np.float32)
    assert np.asarray(xla_runtime.Client("cpu").compile(text).execute(x, w)[0]).shape == (0, 6, 5, 4)
    text = CONV_TEXT.replace("f32[2,6,6,3]", "f32[2,6,6,0]").replace("f32[3,2,3,4]", "f32[3,2,0,4]")
    x, w = np.ones((2, 6, 6, 0), np.float32), np.ones((3, 2, 0, 4), np.float32)
    got = np.asarray(xla_runtime.Client("cpu").compile(text).execute(x, w)[0])
    np.testing.assert_array_equal(got, np.zeros((2, 6, 5, 4), np.float32))


@pytest.mark.parametrize("dtype", ["bf16", "f16", "s32"])
def test_unsupported_types_fall_back_and_stay_correct(dtype):
    text = CONV_TEXT.replace("f32", dtype)
    module = load_module(text)
    ins = module.entry.root
    assert conv_node(ins, [0, 1], 2, 0) is None
    np_dtype = {"bf16": np.float32, "f16": np.float16, "s32": np.int32}[dtype]
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 4, (2, 6, 6, 3)).astype(np_dtype)
    w = rng.integers(-3, 4, (3, 2, 3, 4)).astype(np_dtype)
    if dtype == "bf16":
        import ml_dtypes
        x, w = x.astype(ml_dtypes.bfloat16), w.astype(ml_dtypes.bfloat16)
    exe = xla_runtime.Client("cpu").compile(text)
    assert not _conv_nodes(exe)
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x, w)[0])
    np.testing.assert_array_equal(np.asarray(exe.execute(x, w)[0]), want)   # small integers: exact


def test_split_over_a_pool_matches_one_thread(monkeypatch):
    """The row split (several parts, each with its own im2col block) gives the one-thread result."""
    text = """HloModule conv
ENTRY main {
  x = f32[3,20,20,8]{3,2,1,0} parameter(0)
  w = f32[3,3,8,16]{3,2,1,0} parameter(1)
  ROOT c = f32[3,16,20,20]{3,2,1,0} convolution(x, w), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->bf01
}
"""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 20, 20, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    ins = load_module(text).entry.root
    monkeypatch.setattr(conv_mod, "PATCH_BYTES", 8 * 72 * 4)     # tiny blocks: many per part
    monkeypatch.setattr(conv_mod, "MIN_BLOCK_ROWS", 8)
    monkeypatch.setattr(conv_mod, "SPLIT_FLOPS", 0)
    node = ConvNode(ins, [0, 1], 2, 0)
    assert node.split and node.block_rows < 20
    pool = WorkerPool(3)
    try:
        frame = Frame([x, w, None], pool=pool)
        done = node.run(frame)
        assert done is not None       # handed parts to the pool
        done.block_until_ready(timeout=30)
        got = frame.buffers[2]
    finally:
        pool.shutdown()
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x, w)[0])
    _close(got, want, np.float32)


def test_concurrent_executions_on_threads():
    text = """HloModule conv
ENTRY main {
  x = f32[4,24,24,16]{3,2,1,0} parameter(0)
  w = f32[3,3,16,32]{3,2,1,0} parameter(1)
  ROOT c = f32[4,24,24,32]{3,2,1,0} convolution(x, w), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f
}
"""
    exe = xla_runtime.Client("cpu").compile(text)
    assert _conv_nodes(exe)[0].split
    ref = xla_runtime.Client("interpreter").compile(text)
    rng = np.random.default_rng(6)
    inputs = [(rng.standard_normal((4, 24, 24, 16)).astype(np.float32),
               rng.standard_normal((3, 3, 16, 32)).astype(np.float32)) for _ in range(4)]
    wants = [np.asarray(ref.execute(*a)[0]) for a in inputs]
    for runs, want in zip(execute_on_threads(exe, inputs), wants):
        for got in runs:
            _close(got, want, np.float32)


CONFORMANCE = ["conv1d", "conv2d_nchw", "conv2d_nhwc_dilated_grouped", "cnn_forward"]


@pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")
@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", CONFORMANCE)
def test_conformance_convolutions_run_natively(name, which):
    case = Case(name)
    exe = xla_runtime.Client("cpu").compile(case.text(which))
    convs = [i for i in exe.program.module.entry.instructions if i.opcode == "convolution"]
    assert convs and len(_conv_nodes(exe)) == len(convs)
    assert "convolution" not in exe.program.fallbacks
    assert_matches(case, exe.execute(*case.args), f" [{which}]")


@pytest.mark.parametrize("window,mode", [("size=1x1", "direct"), ("size=3x3 pad=1_1x1_1", "im2col")])
def test_non_contiguous_input_buffers(window, mode):
    """Operands may arrive as strided views (another node's transpose): results stay right."""
    text = f"""HloModule conv
ENTRY main {{
  x = f32[2,9,9,6]{{3,2,1,0}} parameter(0)
  w = f32[{window[5]},{window[7]},6,4]{{3,2,1,0}} parameter(1)
  ROOT c = f32[2,9,9,4]{{3,2,1,0}} convolution(x, w), window={{{window}}}, dim_labels=b01f_01io->b01f
}}
"""
    node = ConvNode(load_module(text).entry.root, [0, 1], 2, 0)
    assert node.mode == mode
    rng = np.random.default_rng(14)
    x = rng.standard_normal((6, 9, 9, 2)).astype(np.float32).transpose(3, 1, 2, 0)
    w = rng.standard_normal((int(window[5]), int(window[7]), 6, 4)).astype(np.float32)
    frame = Frame([x, w, None])
    assert node.run(frame) is None
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(np.ascontiguousarray(x), w)[0])
    _close(frame.buffers[2], want, np.float32)


@pytest.mark.parametrize("labels,mode", [("b01f_01io->b01f", "im2col"), ("b01f_01io->bf01", "im2col"),
                                         ("b01f_01io->b01f, feature_group_count=3", "depthwise")])
def test_epilogue_sees_every_finished_block_once(labels, mode):
    """The hook for fusing bias/activation: called in place on each block, features on the given axis."""
    kin = 1 if "group" in labels else 3
    text = f"""HloModule conv
ENTRY main {{
  x = f32[2,9,9,3]{{3,2,1,0}} parameter(0)
  w = f32[3,3,{kin},6]{{3,2,1,0}} parameter(1)
  ROOT c = f32[{'2,9,9,6' if labels.endswith('b01f') or 'group' in labels else '2,6,9,9'}]{{3,2,1,0}} convolution(x, w), window={{size=3x3 pad=1_1x1_1}}, dim_labels={labels}
}}
"""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 9, 9, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, kin, 6)).astype(np.float32)
    bias = np.arange(6, dtype=np.float32) - 2.5
    node = ConvNode(load_module(text).entry.root, [0, 1], 2, 0)
    assert node.mode == mode
    node.block_rows = 7         # several blocks, not aligned with the output rows
    calls = []

    def bias_relu(block, feature_axis):
        calls.append(block.shape)
        b = bias if feature_axis == 1 else bias[:, None]
        np.maximum(block + b, 0, out=block)
    node.epilogue = bias_relu
    frame = Frame([x, w, None])
    assert node.run(frame) is None
    want = np.asarray(xla_runtime.Client("interpreter").compile(text).execute(x, w)[0])
    feature_axis = 3 if want.shape[-1] == 6 else 1
    want = np.maximum(want + bias.reshape([-1 if d == feature_axis else 1 for d in range(4)]), 0)
    _close(frame.buffers[2], want, np.float32)
    assert sum(s[0] if s[-1] == 6 else s[1] for s in calls) == 2 * 9 * 9
