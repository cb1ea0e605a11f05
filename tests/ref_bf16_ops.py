"""The bf16 building blocks of the forward pass (vec_math.h rows, ops.h layernorm and
attention in bf16, gemm_amx.h) through ctypes against a NumPy reference written here.

bf16 rounding is vm_bf16 (vec_math.h), written here from the bit pattern: round to nearest
with ties to even on the fp32 bits, denormals kept, a NaN -> its high 16 bits | 0x40 (quiet).
Each bound below is the worst case of the operations the C code runs, so that a correct
implementation always meets it and a wrong one (a lost rounding, a wrong head, a wrong
layout, a skipped tail) misses it; where a bound could be too loose to notice a missing
rounding, a negative control shows it would.

1. vec_math rows, for every path this CPU runs (VM_PORTABLE .. vm_isa_best()):
   - vm_bf16_row bit for bit against NumPy: ties both ways, carry into the exponent and to
     inf (0x7F7FFFFF -> 0x7F80), +-inf, quiet and signalling NaNs (quieted, never rounded
     into inf or another NaN), denormals, and 10^5 random bit patterns (every exponent)
     plus random ties; lengths 1, 15, 16, 17, 100 (ragged tails of the 8- and 16-lane
     loops) and 100003. dst[n..] keeps its guard value.
   - vm_softmax_row_bf16 equals bit for bit vm_bf16_row of vm_softmax_row on a copy of the
     row (its documented definition). vm_softmax_row itself against a float64 softmax:
     relative error <= d = 2 * 2^-24 * max|r - max r| + 2^-20 (the fp32 subtraction r - max
     rounds with error 2^-24 |r - max|, which becomes a relative error of exp; the sum's
     relative error is at most its terms'; vm_expf ~1-2 ulp, 1/sum and the product 2^-24
     each), plus 1e-30 absolute (exp is clamped at -87, so a tiny reference may come out
     as ~1e-38). The bf16 row then within d + 2^-8 relative (half an ulp of bf16 is at most
     2^-8 of the value: 8 significant bits), times (1 + 2^-8) for the rounded magnitude.
     Rows of 1, 7, 16, 197, 300 at scales 1 and 30 (score spreads up to ~200), and equal
     values (exactly 1/n).
   - vm_mul_row, vm_add_row bit for bit against NumPy float32 (one IEEE operation each),
     denormals and huge values included; the guard after n kept.
   - In a child process, rows that end exactly at an inaccessible page: a read or write
     past n (an unmasked tail) kills the child, which the parent reports.
2. ops.h in bf16:
   - layernorm_forward_bf16: tmp bit for bit layernorm_forward's fp32 output (tmp aliasing
     inp too), out bit for bit vm_bf16 of it. tmp against a float64 layernorm within
     2^-21 * (|xhat * w| + |mean * rstd * w| + |b|) (a handful of fp32 roundings of those
     magnitudes: float(mean), x - m, * rstd, * w, + b; the sums are in double), and out
     within that plus 2^-8 of the value.
   - attention_forward_bf16 on bf16 q, k, v, (B,T,C,NH) = (2,5,32,2), (3,17,64,4),
     (1,197,128,2), (2,9,96,4) (hd 24: an inexact 1/sqrt(hd)) and (2,1100,32,2) (two
     images overflow the 16 MB score scratch: the image loop), and on an AMX CPU, where
     heads of hd % 32 == 0 run on the AMX kernel (gemm_amx.h: p16 unused, so only the output
     is checked), (2,9,64,2), (3,40,128,2), (1,257,192,3). Reference: S = q_h k_h^T *
     float32(1/sqrt(hd)) and P = softmax(S) in float64. The fp32 scores carry an absolute
     error ds <= (hd + 4) 2^-24 scale (|q| @ |k|^T) + 2^-24 |S|, so the fp32 P has relative
     error e <= 2 (2 max ds + 2^-24 max|S - max S| + 2^-20) per row (twice the estimate, as
     for the rows above; scores stay far from the exp clamp), and its bf16 rounding p16
     lies in [bf16(P (1 - e)), bf16(P (1 + e))] = [P_lo, P_hi] (rounding is monotone):
     checked on p16 (the last image block). The output, with O = P_ref @ v for P_ref the
     bf16 of the float64 P: |out - O| <= (1 + 2^-8) ((P_hi - P_lo) @ |v| + (T + 8) 2^-24
     (P_hi @ |v|)) + 2^-8 |O| + 1e-30 (an ambiguous P entry may round either way; T fp32
     additions of exact bf16 x bf16 products; the output's bf16 rounding). Negative control:
     the same bound fails with the heads' outputs swapped. And an exact case: q = 0 gives
     uniform attention with P = float(1/T) exactly (exp(0) = 1), and for v in +-[0.5, 2)
     the fp32 sums of bf16(1/T) v are exact (< 24 bits), so out must be bit for bit
     bf16(bf16(1/T) * sum v) and p16 all bf16(1/T); an unrounded P (float(1/T)) gives other
     bits somewhere (negative control), so the exact case sees P's rounding.
3. gemm_amx.h (only on a CPU with AMX-BF16, else a SKIP line for this part): the packed
   weight bit for bit in the documented tile order (64-byte aligned); the product against
   the NumPy emulation (bf16-rounded inputs, float64 sums) within the fp32 accumulation
   bound E = (K + 8) 2^-24 (|a| @ |w|^T) (K fp32 additions, relative error 2^-24 each;
   bf16 x bf16 products are exact in fp32); an fp32 product of the unrounded inputs misses
   it at K >= 64 (negative control). Epilogues: bias + act (0 and every vfr_activation:
   1 quick_gelu, 2 gelu erf, 3 gelu tanh, 4 relu) in fp32 within 1.2 (E + 2^-24 |t + b|) +
   4e-6 |act| + 2^-21 |t + b| (the activations' derivatives are below 1.2; their fp32
   implementations are within a few ulp, the tails of gelu_tanh within 2^-22 |x|
   absolute), the same with bf16 output equal bit for bit to vm_bf16 of the fp32 one and
   within that bound (1 + 2^-8) + 2^-8 |act|; bias + act + scale + accumulate into a
   prefilled y (fp32) within |scale| bound + 2^-22 (|act scale| + |y0|). The product of
   the first N rows is bit for bit the first N rows of the product (N = 1 .. 257, the
   zero-padded last row block included), rows 32..44 computed alone equal the rows of the
   whole, and rows past N (guards) are never written. Shapes: N in 1, 31, 32, 45, 100, 257;
   (OC, C) = (32,32), (64,64), (96,96), (544,32) (17 column blocks: past one chunk of 16),
   (544,96), (64,1600) (the 48-block input slices, ragged), (224,3072) at N 33 and 64.
"""
import ctypes as C
import math
import mmap
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

import vfr_testlib as T  # noqa: E402

ck = T.Checker("ref_bf16_ops")
THREADS = 2
VM_NAMES = {0: "portable", 1: "avx2", 2: "avx512"}
ACT_QUICK_GELU, ACT_GELU, ACT_GELU_TANH, ACT_RELU = 1, 2, 3, 4  # src/model/config.h

u16p = C.POINTER(C.c_uint16)


# ----------------------------------------------------------------------------------------------
# NumPy emulation

def f32_bits(x):
    return np.ascontiguousarray(x, np.float32).view(np.uint32)


def from_bits(u):
    return np.ascontiguousarray(u, np.uint32).view(np.float32)


def bf16_bits(x):
    """vm_bf16: float32 array -> bf16 bits (nearest even, denormals kept, NaN quieted)."""
    u = f32_bits(x).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    nan = ((u & 0x7F800000) == 0x7F800000) & ((u & 0x7FFFFF) != 0)
    return np.where(nan, (u >> 16) | 0x40, r).astype(np.uint16)


def bf16_value(b):
    """bf16 bits -> float32 values."""
    return (np.ascontiguousarray(b, np.uint16).astype(np.uint32) << 16).view(np.float32)


def bf16_round(x):
    return bf16_value(bf16_bits(x))


def bf16_round64(x):
    """float64 -> the nearest bf16 value (ties to even), as float64 (normal range)."""
    m, e = np.frexp(np.asarray(x, np.float64))
    return np.ldexp(np.rint(np.ldexp(m, 8)), e - 8)


def same_bits_f32(a, b):
    """Equal bits, or both NaN (a NaN's payload may depend on the operand order)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return bool(np.all((f32_bits(a) == f32_bits(b)) | (np.isnan(a) & np.isnan(b))))


def softmax64(r):
    r = np.asarray(r, np.float64)
    e = np.exp(r - r.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_erfc = np.frompyfunc(math.erfc, 1, 1)


def act64(z, act):
    z = np.asarray(z, np.float64)
    if act == 0:
        return z
    if act == ACT_QUICK_GELU:
        return z / (1.0 + np.exp(-1.702 * z))
    if act == ACT_GELU:
        return 0.5 * z * _erfc(-z / math.sqrt(2.0)).astype(np.float64)
    if act == ACT_GELU_TANH:
        return 0.5 * z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
    if act == ACT_RELU:
        return np.maximum(z, 0.0)
    raise ValueError(act)


# ----------------------------------------------------------------------------------------------
# prototypes

class AmxWeight(C.Structure):  # src/model/gemm_amx.h
    _fields_ = [("data", C.c_void_p), ("OC", C.c_int), ("C", C.c_int)]


class AmxEpilogue(C.Structure):  # src/model/gemm_amx.h
    _fields_ = [("bias", C.c_void_p), ("act", C.c_int), ("scale", C.c_void_p),
                ("accumulate", C.c_int)]


def prototypes(lib):
    v, i, fl = C.c_void_p, C.c_int, C.c_float
    lib.vm_isa_best.argtypes, lib.vm_isa_best.restype = [], i
    lib.vm_bf16_row.argtypes = [i, v, v, i]
    lib.vm_softmax_row.argtypes = [i, v, i]
    lib.vm_softmax_row_bf16.argtypes = [i, v, v, i]
    lib.vm_mul_row.argtypes = [i, v, v, i]
    lib.vm_add_row.argtypes = [i, v, v, i]
    for f in (lib.vm_bf16_row, lib.vm_softmax_row, lib.vm_softmax_row_bf16, lib.vm_mul_row,
              lib.vm_add_row):
        f.restype = None
    lib.layernorm_forward.argtypes = [v, v, v, v, i, i, fl, i]
    lib.layernorm_forward.restype = None
    lib.layernorm_forward_bf16.argtypes = [v, v, v, v, v, i, i, fl, i]
    lib.layernorm_forward_bf16.restype = None
    lib.attention_scratch_floats.argtypes, lib.attention_scratch_floats.restype = [i, i, i], \
        C.c_size_t
    lib.attention_forward_bf16.argtypes = [v, v, v, v, v, v, i, i, i, i, v]
    lib.attention_forward_bf16.restype = None
    lib.engine_create.argtypes = [i, i, C.POINTER(C.c_void_p), T.ERR_P]
    lib.engine_create.restype = i
    lib.engine_free.argtypes, lib.engine_free.restype = [v], None
    lib.amx_cpu_supported.argtypes, lib.amx_cpu_supported.restype = [], i
    lib.amx_weight_pack.argtypes = [C.POINTER(AmxWeight), v, i, i]
    lib.amx_weight_pack.restype = i
    lib.amx_weight_free.argtypes, lib.amx_weight_free.restype = [C.POINTER(AmxWeight)], None
    lib.amx_linear.argtypes = [v, i, v, C.POINTER(AmxWeight), i, C.POINTER(AmxEpilogue), i, v,
                               C.c_size_t]
    lib.amx_linear.restype = i
    lib.amx_linear_scratch_bytes.argtypes = [C.POINTER(AmxWeight), i, i]
    lib.amx_linear_scratch_bytes.restype = C.c_size_t


# ----------------------------------------------------------------------------------------------
# 1. vec_math rows

GUARD16, GUARD32 = 0xA5A5, np.float32(-7.25)

SPECIALS = [  # (fp32 bits, vm_bf16 bits)
    (0x3F808000, 0x3F80), (0x3F818000, 0x3F82), (0x3F808001, 0x3F81), (0x3F80FFFF, 0x3F81),
    (0xBF80FFFF, 0xBF81), (0x3F7FFFFF, 0x3F80), (0x7F7FFFFF, 0x7F80), (0x7F7F8000, 0x7F80),
    (0x7F7E8000, 0x7F7E), (0xFF7FFFFF, 0xFF80), (0x7F800000, 0x7F80), (0xFF800000, 0xFF80),
    (0x7FC00000, 0x7FC0), (0xFFC00000, 0xFFC0), (0x7F800001, 0x7FC0), (0xFF800001, 0xFFC0),
    (0x7F808000, 0x7FC0), (0x7FBFFFFF, 0x7FFF), (0x7FFFFFFF, 0x7FFF), (0x00000000, 0x0000),
    (0x80000000, 0x8000), (0x00000001, 0x0000), (0x00008000, 0x0000), (0x00018000, 0x0002),
    (0x00010000, 0x0001), (0x80017FFF, 0x8001), (0x007FFFFF, 0x0080), (0x807FFFFF, 0x8080),
    (0x00800000, 0x0080), (0x40490FDB, 0x4049), (0xC0490FDB, 0xC049),
]


def bf16_row(lib, isa, src):
    n = len(src)
    dst = np.full(n + 5, GUARD16, np.uint16)
    lib.vm_bf16_row(isa, dst.ctypes.data, src.ctypes.data, n)
    return dst[:n], bool(np.all(dst[n:] == GUARD16))


def bf16_row_checks(lib, isas):
    rs = np.random.RandomState(11)
    spec_in = from_bits(np.array([s for s, _ in SPECIALS], np.uint32))
    spec_want = np.array([w for _, w in SPECIALS], np.uint16)
    ck.check(np.array_equal(bf16_bits(spec_in), spec_want),
             "the NumPy vm_bf16 itself misses the special values")  # the reference's own check
    rand_bits = rs.randint(0, 2 ** 32, size=100000, dtype=np.uint64).astype(np.uint32)
    ties = (rs.randint(0, 2 ** 32, size=3000, dtype=np.uint64).astype(np.uint32) & 0xFFFF0000) \
        | np.repeat(np.array([0x8000, 0x7FFF, 0x8001], np.uint32), 1000)
    wide = (rs.choice([-1.0, 1.0], 2000) * np.exp2(rs.uniform(-149, 128, 2000))).astype(np.float32)
    pool = np.concatenate([spec_in, from_bits(ties), wide, from_bits(rand_bits)])
    total = 0
    for isa in isas:
        name = VM_NAMES[isa]
        got, guard = bf16_row(lib, isa, spec_in)
        for (b, w), g in zip(SPECIALS, got):
            ck.check(g == w, f"vm_bf16_row[{name}]({b:#010x}) = {g:#06x}, want {w:#06x}")
        ck.check(guard, f"vm_bf16_row[{name}] n={len(spec_in)}: wrote past n")
        for n in (1, 15, 16, 17, 100, 100003):
            for off in ((0, 5, 31) if n < 1000 else (0, 3)):
                src = np.ascontiguousarray(np.roll(pool, -off * 977)[:n])
                got, guard = bf16_row(lib, isa, src)
                want = bf16_bits(src)
                bad = np.nonzero(got != want)[0]
                ck.check(bad.size == 0, f"vm_bf16_row[{name}] n={n}: {bad.size} values differ, "
                         + (f"first {f32_bits(src)[bad[0]]:#010x} -> {got[bad[0]]:#06x}, "
                            f"want {want[bad[0]]:#06x}" if bad.size else ""))
                ck.check(guard, f"vm_bf16_row[{name}] n={n}: wrote dst[n]")
                total += n
        dst = np.full(4, GUARD16, np.uint16)
        lib.vm_bf16_row(isa, dst.ctypes.data, spec_in.ctypes.data, 0)
        ck.check(np.all(dst == GUARD16), f"vm_bf16_row[{name}] n=0 wrote")
    print(f"vm_bf16_row: {len(isas)} paths, {total} values bit for bit (specials, ties, random "
          f"bit patterns)")


def softmax_checks(lib, isas):
    rs = np.random.RandomState(12)
    worst32, worst16 = 0.0, 0.0
    nrows = 0
    for isa in isas:
        name = VM_NAMES[isa]
        for n in (1, 7, 16, 197, 300):
            for scale in (1.0, 30.0, 0.0):
                for rep in range(2):
                    r = (rs.randn(n) * scale + rs.uniform(-50, 50)).astype(np.float32)
                    what = f"vm_softmax_row_bf16[{name}] n={n} scale={scale}"
                    rb = np.append(r, GUARD32).astype(np.float32)
                    dst = np.full(n + 3, GUARD16, np.uint16)
                    lib.vm_softmax_row_bf16(isa, rb.ctypes.data, dst.ctypes.data, n)
                    rf = np.append(r, GUARD32).astype(np.float32)
                    lib.vm_softmax_row(isa, rf.ctypes.data, n)
                    ck.check(rb[n] == GUARD32 and rf[n] == GUARD32 and np.all(dst[n:] == GUARD16),
                             f"{what}: wrote past n")
                    p32 = rf[:n].copy()
                    want = np.full(n + 3, GUARD16, np.uint16)
                    lib.vm_bf16_row(isa, want.ctypes.data, p32.ctypes.data, n)
                    ck.check(np.array_equal(dst, want),
                             f"{what}: differs from vm_bf16_row(vm_softmax_row) in "
                             f"{int((dst != want).sum())} values")
                    ref = softmax64(r)
                    d = 2 * 2.0 ** -24 * float(np.abs(r.astype(np.float64) - r.max()).max()) \
                        + 2.0 ** -20
                    e32 = np.abs(p32 - ref)
                    b32 = d * ref + 1e-30
                    ck.check(bool(np.all(e32 <= b32)), f"{what}: fp32 softmax off the float64 "
                             f"one by {float((e32 / b32).max()):.3g} x its bound")
                    got = bf16_value(dst[:n]).astype(np.float64)
                    e16 = np.abs(got - ref)
                    b16 = (2.0 ** -8 + d) * (1 + 2.0 ** -8) * ref + 1e-30
                    ck.check(bool(np.all(e16 <= b16)), f"{what}: bf16 softmax off the float64 "
                             f"one by {float((e16 / b16).max()):.3g} x its bound")
                    if scale == 0.0:
                        ck.check(bool(np.all(p32 == np.float32(1.0 / n))),
                                 f"{what}: equal values give not exactly float(1/n)")
                    worst32 = max(worst32, float((e32 / b32).max()))
                    worst16 = max(worst16, float((e16 / b16).max()))
                    nrows += 1
    print(f"vm_softmax_row(_bf16): {nrows} rows; worst error / bound: fp32 {worst32:.3f}, "
          f"bf16 {worst16:.3f}")


def mul_add_checks(lib, isas):
    rs = np.random.RandomState(13)
    count = 0
    with np.errstate(all="ignore"):
        for isa in isas:
            name = VM_NAMES[isa]
            for n in (1, 7, 8, 15, 16, 17, 100, 1001):
                a = (rs.randn(n) * np.exp2(rs.uniform(-140, 120, n))).astype(np.float32)
                b = (rs.randn(n) * np.exp2(rs.uniform(-30, 30, n))).astype(np.float32)
                if n > 8:
                    a[:4] = [np.inf, -np.inf, 0.0, -0.0]
                    b[:4] = [2.0, np.inf, -3.0, 5.0]
                    a[4], b[5] = np.float32(1e-45), np.float32(-1e-40)  # denormals
                for fn, op in ((lib.vm_mul_row, np.multiply), (lib.vm_add_row, np.add)):
                    r = np.append(a, GUARD32).astype(np.float32)
                    s = np.append(b, np.float32(np.nan)).astype(np.float32)
                    fn(isa, r.ctypes.data, s.ctypes.data, n)
                    want = op(a, b, dtype=np.float32)
                    ck.check(same_bits_f32(r[:n], want), f"{fn.__name__}[{name}] n={n}: "
                             f"{int((f32_bits(r[:n]) != f32_bits(want)).sum())} values differ "
                             f"from NumPy float32")
                    ck.check(r[n] == GUARD32, f"{fn.__name__}[{name}] n={n}: wrote r[n]")
                    count += 1
    print(f"vm_mul_row, vm_add_row: {count} rows bit for bit against NumPy float32")


def guard_page_checks(lib, isas):
    """Rows ending at a PROT_NONE page, in a child: a read or write past n faults."""
    page = mmap.PAGESIZE
    libc = C.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [C.c_void_p, C.c_size_t, C.c_int]
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            maps, ends = [], []
            for _ in range(3):
                m = mmap.mmap(-1, 2 * page)
                base = C.addressof(C.c_char.from_buffer(m))
                if libc.mprotect(base + page, page, 0) != 0:
                    os._exit(3)
                maps.append(m)
                ends.append(base + page)
            rs = np.random.RandomState(14)
            for isa in isas:
                for n in (1, 7, 15, 16, 17, 33, 100):
                    x = rs.randn(n).astype(np.float32)
                    y = rs.randn(n).astype(np.float32)
                    src, other = ends[0] - 4 * n, ends[1] - 4 * n
                    dst16 = ends[2] - 2 * n
                    C.memmove(src, x.ctypes.data, 4 * n)
                    lib.vm_bf16_row(isa, dst16, src, n)
                    got = np.ctypeslib.as_array(C.cast(dst16, u16p), (n,)).copy()
                    code |= 0 if np.array_equal(got, bf16_bits(x)) else 2
                    C.memmove(other, y.ctypes.data, 4 * n)
                    lib.vm_mul_row(isa, src, other, n)
                    lib.vm_add_row(isa, src, other, n)
                    C.memmove(src, x.ctypes.data, 4 * n)
                    lib.vm_softmax_row(isa, src, n)
                    C.memmove(src, x.ctypes.data, 4 * n)
                    lib.vm_softmax_row_bf16(isa, src, dst16, n)
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        ck.check(False, f"vec_math rows at a page end: the child died of signal "
                        f"{os.WTERMSIG(status)} (a read or write past n)")
    else:
        rc = os.WEXITSTATUS(status)
        ck.check(rc == 0, f"vec_math rows at a page end: child exit {rc} (2: wrong bf16 bits, "
                          f"3: mprotect failed, 4: exception)")
        if rc == 0:
            print("vec_math rows ending at an inaccessible page: no access past n")


# ----------------------------------------------------------------------------------------------
# 2. layernorm and attention in bf16

def layernorm_checks(lib):
    rs = np.random.RandomState(21)
    worst32, worst16 = 0.0, 0.0
    for N, Cw, eps, offset in ((1, 1, 1e-5, 0.0), (7, 64, 1e-5, 3.0), (33, 197, 1e-6, -20.0),
                               (5, 768, 1e-5, 0.5), (3, 3, 1e-2, 100.0)):
        what = f"layernorm_forward_bf16 N={N} C={Cw}"
        x = (rs.randn(N, Cw) * rs.uniform(0.1, 5, (N, 1)) + offset).astype(np.float32)
        w = (rs.randn(Cw) * 0.8 + 1).astype(np.float32)
        b = (rs.randn(Cw) * 0.3).astype(np.float32)
        out = np.full(N * Cw + 4, GUARD16, np.uint16)
        tmp = np.full(N * Cw + 4, GUARD32, np.float32)
        lib.layernorm_forward_bf16(out.ctypes.data, tmp.ctypes.data, x.ctypes.data,
                                   w.ctypes.data, b.ctypes.data, N, Cw, eps, THREADS)
        ref32 = np.full((N, Cw), GUARD32, np.float32)
        lib.layernorm_forward(ref32.ctypes.data, x.ctypes.data, w.ctypes.data, b.ctypes.data,
                              N, Cw, eps, THREADS)
        ck.check(np.all(out[N * Cw:] == GUARD16) and np.all(tmp[N * Cw:] == GUARD32),
                 f"{what}: wrote past N*C")
        o16, t32 = out[:N * Cw].reshape(N, Cw), tmp[:N * Cw].reshape(N, Cw)
        ck.check(np.array_equal(f32_bits(t32), f32_bits(ref32)),
                 f"{what}: tmp differs from layernorm_forward's fp32 output")
        ck.check(np.array_equal(o16, bf16_bits(ref32)),
                 f"{what}: out is not vm_bf16 of layernorm_forward's output")
        alias = x.copy()
        out2 = np.zeros((N, Cw), np.uint16)
        lib.layernorm_forward_bf16(out2.ctypes.data, alias.ctypes.data, alias.ctypes.data,
                                   w.ctypes.data, b.ctypes.data, N, Cw, eps, THREADS)
        ck.check(np.array_equal(out2, o16) and np.array_equal(f32_bits(alias), f32_bits(t32)),
                 f"{what}: tmp aliasing inp gives other results")
        x64 = x.astype(np.float64)
        mu = x64.mean(axis=1, keepdims=True)
        rstd = 1.0 / np.sqrt(((x64 - mu) ** 2).mean(axis=1, keepdims=True) + float(np.float32(eps)))
        xhat = (x64 - mu) * rstd
        ref = xhat * w + b
        b32 = 2.0 ** -21 * (np.abs(xhat * w) + np.abs(mu * rstd * w) + np.abs(b)) + 1e-30
        e32 = np.abs(t32 - ref)
        ck.check(bool(np.all(e32 <= b32)), f"{what}: fp32 rows off float64 by "
                 f"{float((e32 / b32).max()):.3g} x the bound")
        e16 = np.abs(bf16_value(o16) - ref)
        b16 = b32 * (1 + 2.0 ** -8) + 2.0 ** -8 * np.abs(ref) + 1e-30
        ck.check(bool(np.all(e16 <= b16)), f"{what}: bf16 rows off float64 by "
                 f"{float((e16 / b16).max()):.3g} x the bound")
        worst32 = max(worst32, float((e32 / b32).max()))
        worst16 = max(worst16, float((e16 / b16).max()))
    print(f"layernorm_forward_bf16: bit for bit layernorm_forward + vm_bf16; worst error / "
          f"bound vs float64: fp32 {worst32:.3f}, bf16 {worst16:.3f}")


def attention_run(lib, eng, q16, k16, v16, B, Tn, Cw, NH):
    n = lib.attention_scratch_floats(B, Tn, NH)
    att = np.full(n + 4, GUARD32, np.float32)
    p16 = np.full(n + 4, GUARD16, np.uint16)
    out = np.full(B * Tn * Cw + 4, GUARD16, np.uint16)
    lib.attention_forward_bf16(out.ctypes.data, att.ctypes.data, p16.ctypes.data,
                               q16.ctypes.data, k16.ctypes.data, v16.ctypes.data, B, Tn, Cw, NH,
                               eng)
    ok = bool(np.all(out[B * Tn * Cw:] == GUARD16) and np.all(p16[n:] == GUARD16)
              and np.all(att[n:] == GUARD32))
    return out[:B * Tn * Cw].reshape(B, Tn, Cw), p16[:n], n, ok


AMX = False  # set in main


def heads(x, B, Tn, NH, hd):
    """(B,T,C) -> (B,NH,T,hd)"""
    return x.reshape(B, Tn, NH, hd).transpose(0, 2, 1, 3)


def attention_checks(lib, eng):
    rs = np.random.RandomState(22)
    worst, worst_p = 0.0, 0.0
    for B, Tn, Cw, NH, qs in ((2, 5, 32, 2, 1.0), (3, 17, 64, 4, 2.0), (1, 197, 128, 2, 1.0),
                              (2, 9, 96, 4, 3.0), (2, 1100, 32, 2, 1.0), (2, 9, 64, 2, 2.0),
                              (3, 40, 128, 2, 1.0), (1, 257, 192, 3, 1.0)):
        what = f"attention_forward_bf16 (B,T,C,NH)=({B},{Tn},{Cw},{NH})"
        hd = Cw // NH
        amx = AMX and hd % 32 == 0  # the AMX kernel: p16 is not used
        q16 = bf16_bits((rs.randn(B, Tn, Cw) * qs).astype(np.float32))
        k16 = bf16_bits(rs.randn(B, Tn, Cw).astype(np.float32))
        v16 = bf16_bits((rs.randn(B, Tn, Cw) + 0.3).astype(np.float32))
        out, p16, n, guard = attention_run(lib, eng, q16, k16, v16, B, Tn, Cw, NH)
        ck.check(guard, f"{what}: wrote past out, att or p16")
        scale = float(np.float32(1.0) / np.sqrt(np.float32(hd)))
        q = heads(bf16_value(q16).astype(np.float64), B, Tn, NH, hd)
        k = heads(bf16_value(k16).astype(np.float64), B, Tn, NH, hd)
        v = heads(bf16_value(v16).astype(np.float64), B, Tn, NH, hd)
        S = (q @ k.transpose(0, 1, 3, 2)) * scale
        ds = (hd + 4) * 2.0 ** -24 * scale * (np.abs(q) @ np.abs(k).transpose(0, 1, 3, 2)) \
            + 2.0 ** -24 * np.abs(S)
        spread = S.max(axis=-1, keepdims=True) - S.min(axis=-1, keepdims=True)
        ck.check(float(spread.max()) < 80, f"{what}: test scores too spread for the exp clamp")
        e = 2 * (2 * ds.max(axis=-1, keepdims=True) + 2.0 ** -24 * spread + 2.0 ** -20)
        P = softmax64(S)
        del S, ds
        P_lo, P_hi = bf16_round64(P * (1 - e)), bf16_round64(P * (1 + e))
        P_ref = bf16_round64(P)
        # p16 holds the last block of images the scratch took
        per = NH * Tn * Tn
        nb = n // per
        first = (B - 1) // nb * nb
        if Tn == 1100:
            ck.check(nb < B, f"{what}: the scratch took all {B} images (no image loop)")
        if not amx:
            got_p = bf16_value(p16[:(B - first) * per]).astype(np.float64).reshape(
                B - first, NH, Tn, Tn)
            inside = (got_p >= P_lo[first:]) & (got_p <= P_hi[first:])
            ck.check(bool(inside.all()), f"{what}: {int((~inside).sum())} entries of p16 "
                     f"outside [bf16(P (1 - e)), bf16(P (1 + e))]")
        worst_p = max(worst_p, float((e * (P > 0)).max()))
        O = P_ref @ v
        av = np.abs(v)
        bound = (1 + 2.0 ** -8) * ((P_hi - P_lo) @ av + (Tn + 8) * 2.0 ** -24 * (P_hi @ av)) \
            + 2.0 ** -8 * np.abs(O) + 1e-30
        got = heads(bf16_value(out).astype(np.float64), B, Tn, NH, hd)
        err = np.abs(got - O)
        ck.check(bool(np.all(err <= bound)), f"{what}: output off the float64 reference by "
                 f"{float((err / bound).max()):.3g} x the bound")
        worst = max(worst, float((err / bound).max()))
        swapped = O[:, ::-1]
        ck.check(bool(np.any(np.abs(got - swapped) > bound)),
                 f"{what}: the bound would also pass swapped heads")
        del P, P_lo, P_hi, P_ref
    print(f"attention_forward_bf16: worst output error / bound {worst:.3f} (largest P "
          f"relative error allowed {worst_p:.2e})")

    # exact: uniform attention
    for B, Tn, Cw, NH in ((2, 5, 32, 2), (1, 17, 64, 4), (2, 33, 128, 2)):
        what = f"attention_forward_bf16 q=0 (B,T,C,NH)=({B},{Tn},{Cw},{NH})"
        q16 = np.zeros((B, Tn, Cw), np.uint16)
        k16 = bf16_bits(rs.randn(B, Tn, Cw).astype(np.float32))
        vf = rs.choice([-1.0, 1.0], (B, Tn, Cw)) * rs.uniform(0.5, 2.0, (B, Tn, Cw))
        v16 = bf16_bits(vf.astype(np.float32))
        out, p16, n, guard = attention_run(lib, eng, q16, k16, v16, B, Tn, Cw, NH)
        ck.check(guard, f"{what}: wrote past out, att or p16")
        pb = bf16_bits(np.array([1.0 / Tn], np.float32))[0]
        if not (AMX and (Cw // NH) % 32 == 0):
            ck.check(bool(np.all(p16 == pb)), f"{what}: p16 not all bf16(1/T) = {pb:#06x}")
        vsum = bf16_value(v16).astype(np.float64).sum(axis=1, keepdims=True)
        want = bf16_bits((float(bf16_value(np.array([pb]))[0]) * vsum).astype(np.float32))
        want = np.broadcast_to(want, out.shape)
        ck.check(np.array_equal(out, want), f"{what}: {int((out != want).sum())} of {out.size} "
                 f"outputs differ from the exact bf16(bf16(1/T) sum v)")
        plain = bf16_bits((float(np.float32(1.0 / Tn)) * vsum).astype(np.float32))
        ck.check(bool(np.any(np.broadcast_to(plain, out.shape) != out)),
                 f"{what}: an unrounded P would give the same bits (the case sees nothing)")
    print("attention_forward_bf16 uniform (q = 0): exact bits")


# ----------------------------------------------------------------------------------------------
# 3. the AMX kernel

def amx_pack(lib, w):
    OC, Cw = w.shape
    aw = AmxWeight()
    rc = lib.amx_weight_pack(C.byref(aw), w.ctypes.data, OC, Cw)
    return rc, aw


def amx_run(lib, a16, aw, N, ep=None, y_bf16=0, y0=None, scratch="given"):
    """scratch: "given" (the engine's way: a caller's buffer, here 1 byte off alignment, with
    the 63 bytes of slack), "short" (one byte too few: the kernel allocates its own) or
    "own" (None)."""
    OC = aw.OC
    need = lib.amx_linear_scratch_bytes(C.byref(aw), N, THREADS) + 63
    buf = np.zeros(need + 1, np.uint8)
    sp = {"given": buf.ctypes.data + 1, "short": buf.ctypes.data + 1, "own": None}[scratch]
    sn = {"given": need, "short": need - 1, "own": 0}[scratch]
    if y_bf16:
        y = np.full((N + 2, OC), GUARD16, np.uint16)
    else:
        y = np.full((N + 2, OC), GUARD32, np.float32)
        if y0 is not None:
            y[:N] = y0
    rc = lib.amx_linear(y.ctypes.data, y_bf16, a16.ctypes.data, C.byref(aw), N,
                        C.byref(ep) if ep is not None else None, THREADS, sp, sn)
    guard = GUARD16 if y_bf16 else GUARD32
    return rc, y[:N], bool(np.all(y[N:] == guard))


def amx_checks(lib):
    if not lib.amx_cpu_supported():
        print("SKIP ref_bf16_ops gemm_amx: this CPU (or OS) has no AMX-BF16 tiles")
        return
    rs = np.random.RandomState(31)
    t0 = time.time()
    worst = {}
    nprod = 0
    for OC, Cw, Ns in ((32, 32, (1, 31, 32, 45, 100, 257)), (64, 64, (1, 31, 32, 45, 100, 257)),
                       (96, 96, (1, 31, 32, 45, 100, 257)), (544, 32, (1, 31, 32, 45, 100, 257)),
                       (544, 96, (1, 45, 257)), (64, 1600, (45,)), (224, 3072, (33, 64)),
                       # the driver's paths: many row groups (N >= 1537 on 2 threads) and
                       # few; activations copied whole (C <= 1024) or per input slice; ragged
                       # last input slice and last column chunk
                       (416, 320, (2000, 1537, 300, 45)), (800, 1088, (1600, 97))):
        shape = f"amx_linear OC={OC} C={Cw}"
        Nmax = max(Ns)
        a = (rs.randn(Nmax, Cw) * 1.7).astype(np.float32)
        w = (rs.randn(OC, Cw) * 0.05).astype(np.float32)
        a16 = bf16_bits(a)
        rc, aw = amx_pack(lib, w)
        if not ck.check(rc == 0 and (aw.OC, aw.C) == (OC, Cw) and aw.data,
                        f"{shape}: amx_weight_pack rc {rc}, shape {(aw.OC, aw.C)}"):
            continue
        ck.check(aw.data % 64 == 0, f"{shape}: packed weight not 64-byte aligned")
        packed = np.ctypeslib.as_array(C.cast(aw.data, u16p), (OC * Cw,)).copy()
        want = bf16_bits(w).reshape(OC // 16, 16, Cw // 32, 16, 2).transpose(0, 2, 3, 1, 4)
        ck.check(np.array_equal(packed, want.reshape(-1)), f"{shape}: packed layout differs")

        ar, wr = bf16_value(a16).astype(np.float64), bf16_round(w).astype(np.float64)
        t = ar @ wr.T
        E = (Cw + 8) * 2.0 ** -24 * (np.abs(ar) @ np.abs(wr).T)

        # plain product, every N: bound, prefix rows, guards
        rc, ymax, guard = amx_run(lib, a16, aw, Nmax)
        ck.check(rc == 0 and guard, f"{shape} N={Nmax}: rc {rc}, guard rows kept {guard}")
        err = np.abs(ymax - t)
        ck.check(bool(np.all(err <= E)), f"{shape} N={Nmax}: product off the emulation by "
                 f"{float((err / E).max()):.3g} x the accumulation bound")
        worst["product"] = max(worst.get("product", 0), float((err / E).max()))
        if Cw >= 64:
            plain = a.astype(np.float64) @ w.astype(np.float64).T
            ck.check(bool(np.any(np.abs(plain - t) > E)),
                     f"{shape}: the bound would also pass unrounded inputs")
        for j, N in enumerate(Ns):
            if N == Nmax:
                continue
            rc, y, guard = amx_run(lib, a16, aw, N, scratch=("own", "short", "given")[j % 3])
            ck.check(rc == 0 and guard, f"{shape} N={N}: rc {rc}, guard rows kept {guard}")
            ck.check(np.array_equal(f32_bits(y), f32_bits(ymax[:N])),
                     f"{shape} N={N}: rows differ from the first N rows of N={Nmax}")
            nprod += 1
        if Nmax >= 45:
            sub = np.ascontiguousarray(a16[32:45])
            rc, y, guard = amx_run(lib, sub, aw, 13)
            ck.check(rc == 0 and guard and np.array_equal(f32_bits(y), f32_bits(ymax[32:45])),
                     f"{shape}: rows 32..44 alone differ from the same rows of the whole")
        rc, y, guard = amx_run(lib, a16, aw, 0)
        ck.check(rc == 0 and guard, f"{shape} N=0: rc {rc}, wrote {not guard}")

        # bias + act, fp32 and bf16 outputs
        bias = (rs.randn(OC) * 0.5).astype(np.float32)
        scale = (rs.randn(OC) * 0.7).astype(np.float32)
        z = t + bias
        Ez = E + 2.0 ** -24 * (np.abs(t) + np.abs(bias))
        N = Nmax
        for act in (0, ACT_QUICK_GELU, ACT_GELU, ACT_GELU_TANH, ACT_RELU):
            what = f"{shape} N={N} bias + act {act}"
            A = act64(z, act)
            delta = 1.2 * Ez + 4e-6 * np.abs(A) + 2.0 ** -21 * np.abs(z) + 1e-30
            ep = AmxEpilogue(bias.ctypes.data, act, None, 0)
            rc, y32, guard = amx_run(lib, a16, aw, N, ep)
            ck.check(rc == 0 and guard, f"{what} fp32: rc {rc}, guard rows kept {guard}")
            err = np.abs(y32 - A)
            ck.check(bool(np.all(err <= delta)), f"{what} fp32: off the reference by "
                     f"{float((err / delta).max()):.3g} x the bound")
            worst["bias+act fp32"] = max(worst.get("bias+act fp32", 0), float((err / delta).max()))
            rc, y16, guard = amx_run(lib, a16, aw, N, ep, y_bf16=1)
            ck.check(rc == 0 and guard, f"{what} bf16: rc {rc}, guard rows kept {guard}")
            ck.check(np.array_equal(y16, bf16_bits(y32)),
                     f"{what}: bf16 output is not vm_bf16 of the fp32 output")
            b16 = delta * (1 + 2.0 ** -8) + 2.0 ** -8 * np.abs(A)
            err = np.abs(bf16_value(y16) - A)
            ck.check(bool(np.all(err <= b16)), f"{what} bf16: off the reference by "
                     f"{float((err / b16).max()):.3g} x the bound")
            worst["bias+act bf16"] = max(worst.get("bias+act bf16", 0), float((err / b16).max()))
            nprod += 2

        # scale + accumulate into a prefilled y (fp32), with and without bias + act
        y0 = (rs.randn(N, OC) * 2).astype(np.float32)
        for bias_p, act in ((None, 0), (bias, ACT_QUICK_GELU)):
            what = f"{shape} N={N} scale + accumulate (bias {bias_p is not None}, act {act})"
            zz, EE = (z, Ez) if bias_p is not None else (t, E)
            A = act64(zz, act)
            delta = 1.2 * EE + 4e-6 * np.abs(A) + 2.0 ** -21 * np.abs(zz) + 1e-30
            ref = A * scale + y0
            bnd = np.abs(scale) * delta + 2.0 ** -22 * (np.abs(A * scale) + np.abs(y0)) + 1e-30
            ep = AmxEpilogue(bias_p.ctypes.data if bias_p is not None else None, act,
                             scale.ctypes.data, 1)
            rc, y, guard = amx_run(lib, a16, aw, N, ep, y0=y0)
            ck.check(rc == 0 and guard, f"{what}: rc {rc}, guard rows kept {guard}")
            err = np.abs(y - ref)
            ck.check(bool(np.all(err <= bnd)), f"{what}: off the reference by "
                     f"{float((err / bnd).max()):.3g} x the bound")
            worst["scale+acc"] = max(worst.get("scale+acc", 0), float((err / bnd).max()))
            nprod += 1
        lib.amx_weight_free(C.byref(aw))
        ck.check(not aw.data, f"{shape}: amx_weight_free left data set")
    print(f"amx_linear: {nprod} products besides the largest N per shape; worst error / bound: "
          + ", ".join(f"{k} {v:.3f}" for k, v in worst.items()) + f" ({time.time() - t0:.1f}s)")


def main():
    t_start = time.time()
    global AMX
    lib = T.load_internal_lib()
    prototypes(lib)
    AMX = bool(lib.amx_cpu_supported())  # attention then runs on the AMX kernel (hd % 32 == 0)
    best = lib.vm_isa_best()
    isas = list(range(best + 1))
    print(f"vec_math paths run here: {', '.join(VM_NAMES[i] for i in isas)}")
    guard_page_checks(lib, isas)  # forks: before any OpenMP team exists
    bf16_row_checks(lib, isas)
    softmax_checks(lib, isas)
    mul_add_checks(lib, isas)
    layernorm_checks(lib)
    eng, err = C.c_void_p(), T.abi.vfr_error()
    rc = lib.engine_create(THREADS, 1, C.byref(eng), C.byref(err))
    if ck.check(rc == 0 and eng.value, f"engine_create bf16: rc {rc}: {err.message.decode()}"):
        attention_checks(lib, eng)
        lib.engine_free(eng)
    amx_checks(lib)
    print(f"ref_bf16_ops: {time.time() - t_start:.1f}s")
    ck.finish()


if __name__ == "__main__":
    main()
