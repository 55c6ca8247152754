"""The host memory pool behind large CPU results: blocks come back only when the last array (or
view) over them dies, and the executable's results use it."""
import gc

import numpy as np

import xla_runtime
from helpers import hlo_module
from xla_runtime.cpu import host_pool
from xla_runtime.cpu.host_pool import MIN_BYTES, HostPool

BIG = (MIN_BYTES // 4 + 1000,)          # float32 elements: above the pooling threshold


def test_a_block_is_reused_only_after_every_view_of_it_is_gone():
    pool = HostPool()
    a = pool.empty(BIG, np.float32)
    a[:] = 7
    view = a[10:20]
    addr = a.ctypes.data
    del a
    gc.collect()
    assert pool.idle_bytes == 0                      # the view keeps the block leased
    b = pool.empty(BIG, np.float32)
    b[:] = 1
    assert b.ctypes.data != addr and (view == 7).all()
    del view
    gc.collect()
    assert pool.idle_bytes > 0
    c = pool.empty(BIG, np.float32)
    assert c.ctypes.data == addr and pool.reused == 1 and pool.idle_bytes == 0


def test_shapes_dtypes_and_small_arrays():
    pool = HostPool()
    import ml_dtypes
    x = pool.empty((3, MIN_BYTES // 4), ml_dtypes.bfloat16)
    assert x.shape == (3, MIN_BYTES // 4) and x.dtype == ml_dtypes.bfloat16 and x.flags.c_contiguous
    assert pool.fresh == 1 and x.flags.writeable
    small = pool.empty((10,), np.float64)
    del small
    gc.collect()
    assert pool.idle_bytes == 0 and pool.fresh == 1       # small arrays are plain np.empty


def test_idle_memory_is_capped(monkeypatch):
    pool = HostPool()
    monkeypatch.setenv("XRT_HOST_POOL_MB", "3")
    arrays = [pool.empty((MIN_BYTES * (k + 1) // 4,), np.float32) for k in range(3)]   # 1, 2, 3 MiB
    del arrays
    gc.collect()
    assert 0 < pool.idle_bytes <= 3 << 20
    monkeypatch.setenv("XRT_HOST_POOL_MB", "0")
    a = pool.empty(BIG, np.float32)
    assert a.base is None                                # disabled: a fresh allocation


def test_results_of_an_executable_come_from_the_pool_and_never_alias_live_ones():
    n = MIN_BYTES // 4 * 2
    exe = xla_runtime.Client("cpu").compile(hlo_module(f"""
  x = f32[{n}] parameter(0)
  ROOT y = f32[{n}] negate(x)"""))
    x = np.arange(n, dtype=np.float32)
    first = np.asarray(exe.execute(x)[0])
    second = np.asarray(exe.execute(x + 1)[0])
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, -x)
    np.testing.assert_array_equal(second, -(x + 1))
    addr = first.ctypes.data
    reused = host_pool.pool().reused
    del first
    gc.collect()
    third = np.asarray(exe.execute(x + 2)[0])
    assert host_pool.pool().reused == reused + 1 and third.ctypes.data == addr
    np.testing.assert_array_equal(third, -(x + 2))
    np.testing.assert_array_equal(second, -(x + 1))
