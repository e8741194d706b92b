"""Dot-product primitives, lowered per target.

Owns `ml.dot4_i8(acc, a, b)`: each i32 lane j of `acc` plus a[4j..4j+3] . b[4j..4j+3]
(a u8 or i8, b i8; exact, wrapping like i32), `ml.dot2_i16(acc, a, b)`: likewise
with pairs of i16 (a and b SIMD[i16, 2W], or both SIMD[i32, W] holding the pairs,
element 2j in the low half of lane j), and `ml.dot2_bf16(acc, a, b)`:
each f32 lane j of `acc` plus a[2j+1]*b[2j+1], then plus a[2j]*b[2j] (each
product is exact in f32; two roundings, in that order, as `vdpbf16ps` does);
a and b are SIMD[bf16, 2W], or both SIMD[i32, W] holding the bf16 pairs'
bits (element 2j in the low half of lane j), as packed matmul panels do.

Each instruction is emitted only when the target has its feature (an
intrinsic the target lacks would abort LLVM, and the process with it):

| primitive | x86 | AArch64 | elsewhere |
| --- | --- | --- | --- |
| dot4_i8, u8 x i8 | `vpdpbusd` (avx512vnni; avxvnni or +vl for 128/256 bits) | `usdot` (i8mm) | widen, multiply, add pairs twice (x86: `pmaddwd`) |
| dot4_i8, i8 x i8 | `vpdpbusd` on a+128, minus 128 x the sums of b | `sdot` (dotprod) | likewise |
| dot2_i16 | `pmaddwd` + add (`vpdpwssd` where LLVM fuses them, with VNNI) | `smull` + pairwise add | widen, multiply, add pairs |
| dot2_bf16 | `vdpbf16ps` (avx512bf16; +vl for 128/256 bits) | `bfdot` (bf16) | widen, multiply, add odd then even |

`vdpbf16ps` and `bfdot` flush subnormals, and `bfdot` rounds its sum its own
way: their results equal the portable ones where no subnormal or inexact
intermediate sum occurs.  Vectors wider than the instruction are split.
"""
from __future__ import annotations

from llvmlite import ir as ll

from ..dtypes import f32
from ..mltypes import SimdType
from . import arith
from .lltypes import BFLOAT, I32, lane_indices



def _slice(lw, v, start, count):
    return lw.b.shuffle_vector(v, v, lane_indices(count, range(start, start + count)))


def _concat(lw, parts):
    while len(parts) > 1:
        merged = []
        for a, b in zip(parts[::2], parts[1::2]):
            n = a.type.count
            merged.append(lw.b.shuffle_vector(a, b, lane_indices(2 * n, range(2 * n))))
        parts = merged
    return parts[0]


def _native_lanes(target, kind: str) -> tuple[int, ...]:
    """The accumulator widths (i32/f32 lanes) the target has an instruction for."""
    if target.arch == "x86_64":
        base = "avx512vnni" if kind == "i8x4" else "avx512bf16"
        widths = []
        if target.has(base):
            widths.append(16)
            if target.has("avx512vl"):
                widths += [8, 4]
        if kind == "i8x4" and target.has("avxvnni") and 8 not in widths:
            widths += [8, 4]
        return tuple(widths)
    if target.arch == "aarch64":
        feature = "dotprod" if kind == "i8x4" else "bf16"
        return (4,) if target.has(feature) else ()
    return ()


def _chunked(lw, acc, a, b, width, group, native, emit):
    """Apply `emit` to slices of `native` lanes (and `group` x as many inputs), then concatenate."""
    if width == native:
        return emit(acc, a, b)
    parts = []
    for c in range(0, width, native):
        parts.append(emit(_slice(lw, acc, c, native), _slice(lw, a, group * c, group * native),
                          _slice(lw, b, group * c, group * native)))
    return _concat(lw, parts)


def lower(lw, kind: str, acc, a, b, e):
    width = e.type.width
    packed = e.a.type.width == width               # SIMD[i32, W]: two 16-bit values a lane
    if kind == "i16x2":
        return _generic_i16(lw, acc, a, b, width, packed)
    native = [n for n in _native_lanes(lw.mb.target, kind) if n <= width and width % n == 0]
    if kind == "i8x4":
        signed_a = e.a.type.dtype.kind == "i"
        if native:
            emit = _x86_vnni(lw, signed_a) if lw.mb.target.arch == "x86_64" else _neon_dot(lw, signed_a)
            if emit is not None:
                return _chunked(lw, acc, a, b, width, 4, native[0], emit)
        return _generic_i8(lw, acc, a, b, width, signed_a)
    if native:
        emit = _x86_bf16(lw) if lw.mb.target.arch == "x86_64" else _neon_bfdot(lw)
        bits = (lambda v: lw.b.bitcast(v, ll.VectorType(BFLOAT, 2 * width))) if packed else \
            (lambda v: arith_bits(lw, v))
        return _chunked(lw, acc, bits(a), bits(b), width, 2, native[0], emit)
    if packed:
        a, b = _unpack_pairs(lw, a, width), _unpack_pairs(lw, b, width)
    return _generic_bf16(lw, acc, a, b, width)


# -- int8 -----------------------------------------------------------------------------------

def _x86_vnni(lw, signed_a):
    def vpdpbusd(acc, a, b):
        n = acc.type.count
        return lw.intrinsic(f"llvm.x86.avx512.vpdpbusd.{32 * n}", [acc, a, b], acc.type)

    def emit(acc, a, b):
        if not signed_a:
            return vpdpbusd(acc, a, b)
        bias = ll.Constant(a.type, 0x80)            # a + 128 as u8, then subtract 128 * sum(b)
        shifted = vpdpbusd(acc, lw.b.xor(a, bias), b)
        return lw.b.sub(shifted, vpdpbusd(ll.Constant(acc.type, 0), bias, b))
    return emit


def _neon_dot(lw, signed_a):
    target = lw.mb.target
    if not signed_a and not target.has("i8mm"):
        return None

    def emit(acc, a, b):
        name = "sdot" if signed_a else "usdot"
        return lw.intrinsic(f"llvm.aarch64.neon.{name}.v4i32.v16i8", [acc, a, b], acc.type)
    return emit


def _pair_sums(bb, v, n):
    """<2n x i32> -> <n x i32>: lane j = v[2j] + v[2j+1]."""
    even = bb.shuffle_vector(v, v, lane_indices(n, range(0, 2 * n, 2)))
    odd = bb.shuffle_vector(v, v, lane_indices(n, range(1, 2 * n, 2)))
    return bb.add(even, odd)


def _generic_i8(lw, acc, a, b, width, signed_a):
    """Products widened to i32, summed in pairs, then pairs of pairs: the shape x86's
    instruction selection turns into `pmaddwd` (16-bit products summed in pairs; than
    summing lanes 4 apart, the int8 matmul ran 4.8x faster on x86-64-v3, 3x on x86-64-v4)."""
    bb = lw.b
    wide = ll.VectorType(I32, 4 * width)
    prod = bb.mul((bb.sext if signed_a else bb.zext)(a, wide), bb.sext(b, wide))
    return bb.add(acc, _pair_sums(bb, _pair_sums(bb, prod, 2 * width), width))


def _generic_i16(lw, acc, a, b, width, packed):
    """i16 products summed in pairs: exactly `pmaddwd` on x86 (which LLVM fuses with the
    add into `vpdpwssd` where the target has VNNI)."""
    bb = lw.b
    if packed:
        a, b = (bb.bitcast(v, ll.VectorType(ll.IntType(16), 2 * width)) for v in (a, b))
    wide = ll.VectorType(I32, 2 * width)
    return bb.add(acc, _pair_sums(bb, bb.mul(bb.sext(a, wide), bb.sext(b, wide)), width))


# -- bf16 -----------------------------------------------------------------------------------

def arith_bits(lw, v):
    """bf16 lanes (carried as f32) as the `bfloat` vector the instructions take."""
    n = v.type.count
    bits = arith.bf16_to_bits(lw, v, SimdType(f32, n))
    return lw.b.bitcast(bits, ll.VectorType(BFLOAT, n))


def _x86_bf16(lw):
    def emit(acc, a, b):
        n = acc.type.count
        return lw.intrinsic(f"llvm.x86.avx512bf16.dpbf16ps.{32 * n}", [acc, a, b], acc.type)
    return emit


def _neon_bfdot(lw):
    def emit(acc, a, b):
        return lw.intrinsic("llvm.aarch64.neon.bfdot.v4f32.v8bf16", [acc, a, b], acc.type)
    return emit


def _unpack_pairs(lw, v, width):
    """<W x i32> of bf16 pairs (even element in the low half) -> <2W x float>."""
    bb = lw.b
    lo = bb.bitcast(bb.shl(v, ll.Constant(v.type, 16)), ll.VectorType(ll.FloatType(), width))
    hi = bb.bitcast(bb.and_(v, ll.Constant(v.type, -65536)), ll.VectorType(ll.FloatType(), width))
    return bb.shuffle_vector(lo, hi, lane_indices(2 * width, (k // 2 + (k % 2) * width for k in range(2 * width))))


def _generic_bf16(lw, acc, a, b, width):
    bb = lw.b
    prod = bb.fmul(a, b)                        # exact: 8-bit by 8-bit significands
    odd = bb.shuffle_vector(prod, prod, lane_indices(width, range(1, 2 * width, 2)))
    even = bb.shuffle_vector(prod, prod, lane_indices(width, range(0, 2 * width, 2)))
    return bb.fadd(bb.fadd(acc, odd), even)


