"""Random numbers: rng (uniform/normal), rng-bit-generator, rng-get-and-update-state.

``rng`` is nondeterministic in XLA, so NumPy's generator stands in for it. ``rng-bit-generator``
is a pure function of its state and must match XLA:CPU bit for bit: XLA expands it
(RngBitGeneratorExpander) into the ThreeFry-2x32 / Philox-4x32 generators of its prng library,
whose counter layouts are reproduced below. RNG_DEFAULT is Philox on CPU.
"""
from __future__ import annotations

import numpy as np

from ..hlo.shape import ArrayShape
from .common import narrow
from .registry import check, interpreter_rule, shape_rule

_U32 = np.uint32
_U64 = np.uint64
_ALGORITHMS = ("rng_default", "rng_three_fry", "rng_philox")

# XLA:CPU starts each 128-bit rng counter at this arbitrary non-zero value
RNG_STATE_INITIAL_VALUE = 0x7012395


def _interp_state(ctx) -> dict:
    """RNG state of the executable being interpreted (shared by every execution of it)."""
    state = ctx.shared.state
    st = state.get("rng")
    if st is None:
        with ctx.shared.lock:
            st = state.setdefault("rng", {"gen": np.random.default_rng(), "counters": {}})
    return st


# ----------------------------------------------------------------------------------------------
# rng

@shape_rule("rng")
def _rng_shape(ins, shapes):
    dist = ins.attr("distribution")
    check(dist in ("rng_uniform", "rng_normal"), f"rng needs distribution=rng_uniform|rng_normal, got {dist}")
    check(len(shapes) == 2, f"rng takes 2 operands ({'a, b' if dist == 'rng_uniform' else 'mu, sigma'}), "
                            f"got {len(shapes)}")
    out = ins.shape
    check(out.is_array, f"rng produces an array, not {out}")
    t = out.ptype
    for s in shapes:
        check(s.is_array and s.rank == 0 and s.element_type == out.element_type,
              f"rng operands must be scalars of the result type {out.element_type}, got {s}")
    if dist == "rng_normal":
        check(t.is_float, f"rng_normal needs a floating-point type, got {out}")
    else:
        check(t.is_float or t.is_integer, f"rng_uniform needs a float or integer type, got {out}")
    return out.without_layout()


@interpreter_rule("rng")
def _eval_rng(ctx, ins, args):
    gen = _interp_state(ctx)["gen"]
    t = ins.shape.ptype
    dims = ins.shape.dims
    a, b = (np.asarray(v).item() for v in args)
    if ins.attr("distribution") == "rng_normal":
        return narrow(a + b * gen.standard_normal(dims), t)
    if t.is_integer:
        if b <= a:
            return np.full(dims, a, dtype=t.dtype)
        return narrow(gen.integers(a, b, size=dims, dtype=np.int64 if b <= 2 ** 63 else np.uint64), t)
    a, b = float(a), float(b)
    r = narrow(a + (b - a) * gen.random(dims), t)
    if b > a:   # rounding to the target type may land on b; the interval is half-open
        r = np.minimum(r, _float_below(b, t.dtype)).astype(t.dtype)
    return r


def _float_below(b: float, dtype) -> np.ndarray:
    """The largest value of ``dtype`` below ``b`` (one step down in the sign-magnitude bits)."""
    x = np.array(b, dtype)
    u = x.view(np.dtype(f"u{x.itemsize}"))
    one = u.dtype.type(1)
    if x > 0:
        u = u - one
    elif x < 0:
        u = u + one
    else:
        u = (one << u.dtype.type(8 * x.itemsize - 1)) | one   # the negative subnormal next to zero
    return np.asarray(u).view(dtype)


# ----------------------------------------------------------------------------------------------
# bit generators (vectorised over u32/u64 NumPy arrays; arithmetic wraps like C)

_M64 = (1 << 64) - 1


def _split64(x):
    x = np.asarray(x, _U64)
    return (x & _U64(0xFFFFFFFF)).astype(_U32), (x >> _U64(32)).astype(_U32)


def _join64(lo, hi):
    return lo.astype(_U64) | (hi.astype(_U64) << _U64(32))


def threefry2x32(x0, x1, k0, k1):
    """Threefry-2x32 with 20 rounds (Salmon et al., SC'11), as XLA's prng library computes it."""
    rot = (13, 15, 26, 6, 17, 29, 16, 24)
    k0, k1 = int(k0), int(k1)
    ks = tuple(np.array([k], _U32) for k in (k0, k1, 0x1BD11BDA ^ k0 ^ k1))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for block in range(5):
        for r in rot[4 * (block % 2): 4 * (block % 2) + 4]:
            x0 = x0 + x1
            x1 = (x1 << _U32(r)) | (x1 >> _U32(32 - r))
            x1 = x0 ^ x1
        # key injection after every 4 rounds
        x0 = x0 + ks[(block + 1) % 3]
        x1 = x1 + ks[(block + 2) % 3] + np.array([block + 1], _U32)
    return x0, x1


def philox4x32(c, k0, k1):
    """Philox-4x32 with 10 rounds on counters ``c`` (4 u32 arrays), key (k0, k1)."""
    c0, c1, c2, c3 = c
    k0, k1 = int(k0), int(k1)
    for _ in range(10):
        p0 = c0.astype(_U64) * _U64(0xD2511F53)
        p1 = c2.astype(_U64) * _U64(0xCD9E8D57)
        hi0, lo0 = (p0 >> _U64(32)).astype(_U32), p0.astype(_U32)
        hi1, lo1 = (p1 >> _U64(32)).astype(_U32), p1.astype(_U32)
        c0, c1, c2, c3 = hi1 ^ c1 ^ _U32(k0), lo1, hi0 ^ c3 ^ _U32(k1), lo0
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c0, c1, c2, c3


def _threefry_bits32(key, counter, dims):
    """u32 bits of shape ``dims`` and the new counter (XLA's ThreeFryRngBit32).

    XLA halves the shape along one dimension (the first even one, else the largest), runs one
    2x32 block per element of the half shape (counter + row-major index) and interleaves the two
    output words along that dimension."""
    k0, k1 = _split64(key)
    if not dims:
        x0, _ = threefry2x32(*_split64(np.array([counter], _U64)), k0, k1)
        return x0.reshape(()), (counter + 1) & _M64
    d = next((i for i, n in enumerate(dims) if n % 2 == 0), None)
    if d is None:
        d = max(range(len(dims)), key=lambda i: (dims[i], -i))
    half = dims[:d] + ((dims[d] + 1) // 2,) + dims[d + 1:]
    size = int(np.prod(half, dtype=np.int64))
    ctr = _U64(counter) + np.arange(size, dtype=_U64)
    x0, x1 = threefry2x32(*_split64(ctr), k0, k1)
    both = np.stack([x0.reshape(half), x1.reshape(half)], axis=d + 1)
    full = both.reshape(dims[:d] + (2 * half[d],) + dims[d + 1:])
    return full[(slice(None),) * d + (slice(0, dims[d]),)], (counter + size) & _M64


def _threefry_bits64(key, counter, dims):
    size = int(np.prod(dims, dtype=np.int64))
    ctr = _U64(counter) + np.arange(size, dtype=_U64)
    x0, x1 = threefry2x32(*_split64(ctr), *_split64(key))
    return _join64(x0, x1).reshape(dims), (counter + size) & _M64


def _philox_blocks(key, lo, hi, nblocks):
    """``nblocks`` Philox outputs (4 u32 arrays) for the 128-bit counters (lo, hi) + 0..n-1."""
    clo = _U64(lo) + np.arange(nblocks, dtype=_U64)
    carry = clo < _U64(lo)   # the 128-bit add carries into the high word
    chi = np.where(carry, _U64((hi + 1) & _M64), _U64(hi))
    out = philox4x32((*_split64(clo), *_split64(chi)), *_split64(key))
    new_lo = (lo + nblocks) & _M64
    return out, new_lo, (hi + (new_lo < lo)) & _M64


def _philox_bits(key, lo, hi, dims, bits):
    size = int(np.prod(dims, dtype=np.int64))
    if bits == 64:
        out, lo, hi = _philox_blocks(key, lo, hi, (size + 1) // 2)
        words = np.stack([_join64(out[0], out[1]), _join64(out[2], out[3])], axis=1)
    else:
        out, lo, hi = _philox_blocks(key, lo, hi, (size + 3) // 4)
        words = np.stack(out, axis=1)   # round-robin over the 4 output words
    return words.reshape(-1)[:size].reshape(dims), lo, hi


def _as_type(raw, t):
    """XLA keeps the low ``bits`` of each generated word; the result type reinterprets them."""
    if t.bits >= 32:
        return raw.view(t.dtype)
    if t.is_integer and t.bits < 8:
        return narrow(raw.astype(np.int64) & ((1 << t.bits) - 1), t)
    u = raw.astype(np.dtype(f"u{max(t.bits, 8) // 8}"))
    return u.view(t.dtype)


def rng_bit_generator(algorithm: str, state: np.ndarray, dims, t):
    """(new state, bits of type ``t`` and shape ``dims``) for a u64 state, as XLA:CPU computes them."""
    dims = tuple(dims)
    if algorithm == "rng_default":
        algorithm = "rng_philox"
    state = [int(v) for v in state]   # Python ints: counter arithmetic wraps explicitly
    key = state[0]
    if algorithm == "rng_three_fry":
        gen = _threefry_bits64 if t.bits == 64 else _threefry_bits32
        raw, ctr = gen(key, state[1], dims)
        new_state = np.array([key, ctr], _U64)
    else:
        # a 2-word state counts with (state[1], state[0]); a 3-word one with (state[1], state[2])
        lo, hi = (state[1], state[2]) if len(state) >= 3 else (state[1], state[0])
        raw, lo, hi = _philox_bits(key, lo, hi, dims, 64 if t.bits == 64 else 32)
        new_state = np.array([key, lo, hi] if len(state) >= 3 else [key, lo], _U64)
    return new_state, _as_type(raw, t)


@shape_rule("rng-bit-generator")
def _rng_bit_generator_shape(ins, shapes):
    check(len(shapes) == 1, f"rng-bit-generator takes 1 operand (the state), got {len(shapes)}")
    (s,) = shapes
    alg = ins.attr("algorithm", "rng_default")
    check(alg in _ALGORITHMS, f"rng-bit-generator algorithm must be one of {', '.join(_ALGORITHMS)}, got {alg}")
    check(s.is_array and s.element_type == "u64" and s.rank == 1,
          f"rng-bit-generator state must be a u64 vector, got {s}")
    want = (2,) if alg == "rng_three_fry" else (2, 3)
    check(s.dims[0] in want, f"{alg} needs a u64[{' or '.join(map(str, want))}] state, got {s}")
    out = ins.shape
    check(out.is_tuple and len(out.elements) == 2 and out.elements[0].compatible(s),
          f"rng-bit-generator returns (state {s}, bits), got {out}")
    bits = out.elements[1]
    check(bits.is_array and not bits.ptype.is_pred and not bits.ptype.is_complex and bits.ptype.bits <= 64,
          f"rng-bit-generator produces integer or float bits, got {bits}")
    return out.without_layout()


@interpreter_rule("rng-bit-generator")
def _eval_rng_bit_generator(ctx, ins, args):
    bits = ins.shape.elements[1]
    return rng_bit_generator(ins.attr("algorithm", "rng_default"), args[0], bits.dims, bits.ptype)


# ----------------------------------------------------------------------------------------------
# rng-get-and-update-state

def _delta(ins) -> int:
    d = ins.attr("delta")
    return int(str(d)) if d is not None else 0


@shape_rule("rng-get-and-update-state")
def _rng_state_shape(ins, shapes):
    check(not shapes, f"rng-get-and-update-state takes no operands, got {len(shapes)}")
    check(ins.attr("delta") is not None and str(ins.attr("delta")).lstrip("-").isdigit(),
          "rng-get-and-update-state needs an integer delta=")
    return ArrayShape("u64", (2,))


@interpreter_rule("rng-get-and-update-state")
def _eval_rng_state(ctx, ins, args):
    # XLA:CPU's thunk runtime keeps one counter per instruction, living as long as the executable
    counters = _interp_state(ctx)["counters"]
    with ctx.shared.lock:      # executions may run concurrently: the update must be atomic
        old = counters.get(ins, RNG_STATE_INITIAL_VALUE)
        counters[ins] = (old + _delta(ins)) % (1 << 128)
    # the 128-bit counter as [low word, high word] (little-endian, like XLA:CPU)
    return np.array([old & (2 ** 64 - 1), old >> 64], _U64)
