"""NumPy stream samplers (src/perturb/np_random.c) against numpy.random itself.

Every sampler is compared bit for bit (doubles as their 64-bit patterns, integers
exactly) with numpy.random.RandomState (MT19937, legacy samplers) and default_rng
(PCG64 through SeedSequence) on 10^6 draws per case and several seeds. Array draws
(`size=n`) are compared with n scalar calls in C order, scalar calls are interleaved
to check that every sampler consumes the words NumPy's does, and the raw 32-bit words
after each case show that the two streams are still in step.
"""
import ctypes

import numpy as np

from vfr_testlib import Checker, load_internal_lib

N = 1_000_000
SEEDS = [0, 1, 12345, 2**31 - 1, 2**32 - 1]
I64P = ctypes.POINTER(ctypes.c_int64)
F64P = ctypes.POINTER(ctypes.c_double)

lib = load_internal_lib()
for name, args in {
    "vfr_np_rng_seed": [ctypes.c_void_p, ctypes.c_uint32],
    "vfr_np_rng_random_fill": [ctypes.c_void_p, ctypes.c_int64, F64P],
    "vfr_np_rng_uniform_fill": [ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_int64, F64P],
    "vfr_np_rng_normal_fill": [ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_int64, F64P],
    "vfr_np_rng_poisson_fill": [ctypes.c_void_p, F64P, ctypes.c_int64, I64P],
    "vfr_np_rng_randint_fill": [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, I64P],
    "vfr_np_pcg64_seed": [ctypes.c_void_p, ctypes.c_uint64],
    "vfr_np_pcg64_random_fill": [ctypes.c_void_p, ctypes.c_int64, F64P],
    "vfr_np_pcg64_below_fill": [ctypes.c_void_p, ctypes.c_double, ctypes.c_int64, ctypes.c_void_p],
    "vfr_np_poisson_prepare": [ctypes.c_void_p, ctypes.c_double],
    "vfr_np_rng_poisson_index_fill": [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, I64P],
}.items():
    getattr(lib, name).argtypes = args
    getattr(lib, name).restype = None
lib.vfr_np_rng_u32.argtypes = [ctypes.c_void_p]
lib.vfr_np_rng_u32.restype = ctypes.c_uint32
lib.vfr_np_rng_random.argtypes = [ctypes.c_void_p]
lib.vfr_np_rng_random.restype = ctypes.c_double
lib.vfr_np_rng_uniform.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double]
lib.vfr_np_rng_uniform.restype = ctypes.c_double
lib.vfr_np_rng_gauss.argtypes = [ctypes.c_void_p]
lib.vfr_np_rng_gauss.restype = ctypes.c_double
lib.vfr_np_rng_normal.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double]
lib.vfr_np_rng_normal.restype = ctypes.c_double
lib.vfr_np_rng_poisson.argtypes = [ctypes.c_void_p, ctypes.c_double]
lib.vfr_np_rng_poisson.restype = ctypes.c_int64
lib.vfr_np_rng_randint.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64]
lib.vfr_np_rng_randint.restype = ctypes.c_int64
lib.vfr_np_pcg64_random.argtypes = [ctypes.c_void_p]
lib.vfr_np_pcg64_random.restype = ctypes.c_double
lib.vfr_np_rng_poisson_prepared.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
lib.vfr_np_rng_poisson_prepared.restype = ctypes.c_int64
lib.vfr_np_pcg64_u64.argtypes = [ctypes.c_void_p]
lib.vfr_np_pcg64_u64.restype = ctypes.c_uint64

ck = Checker("ref_np_random")


def mt(seed):
    state = (ctypes.c_double * 320)()  # vfr_np_rng is 2512 bytes, 8-aligned
    lib.vfr_np_rng_seed(state, seed)
    return state


def same(ours, theirs, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if ours.dtype == np.float64:
        diff = int(np.count_nonzero(ours.view(np.uint64) != theirs.view(np.uint64)))
    else:
        diff = int(np.count_nonzero(ours != theirs))
    ck.check(ours.shape == theirs.shape and diff == 0, f"{what}: {diff} of {theirs.size} differ")


def in_step(state, rs, what):
    ours = [lib.vfr_np_rng_u32(state) for _ in range(8)]
    theirs = [int(v) for v in rs.randint(0, 2**32, size=8, dtype=np.uint32)]
    ck.check(ours == theirs, f"{what}: streams out of step afterwards")


def f64(n):
    out = np.empty(n, np.float64)
    return out, out.ctypes.data_as(F64P)


def i64(n):
    out = np.empty(n, np.int64)
    return out, out.ctypes.data_as(I64P)


for seed in SEEDS:
    # raw words, random_sample
    st, rs = mt(seed), np.random.RandomState(seed)
    words = np.array([lib.vfr_np_rng_u32(st) for _ in range(2000)], np.uint32)
    same(words, rs.randint(0, 2**32, size=2000, dtype=np.uint32), f"seed {seed}: raw MT19937 words")
    st, rs = mt(seed), np.random.RandomState(seed)
    out, p = f64(N)
    lib.vfr_np_rng_random_fill(st, N, p)
    same(out, rs.random_sample(N), f"seed {seed}: random_sample")
    in_step(st, rs, f"seed {seed}: random_sample")

    # normal (the cached second value of the polar pair is part of the stream)
    st, rs = mt(seed), np.random.RandomState(seed)
    lib.vfr_np_rng_normal_fill(st, 0.0, 1.0, N, p)
    same(out, rs.standard_normal(N), f"seed {seed}: standard_normal")
    lib.vfr_np_rng_normal_fill(st, 0.5, 0.3, 999, p)  # odd count: a cached value remains
    same(out[:999], rs.normal(0.5, 0.3, 999), f"seed {seed}: normal(0.5, 0.3) after")
    lib.vfr_np_rng_normal_fill(st, -2.0, 7.0, N - 1, p)
    same(out[:N - 1], rs.normal(-2.0, 7.0, N - 1), f"seed {seed}: normal(-2, 7)")

    # uniform, lo > hi included
    for lo, hi in [(0.0, 1.0), (-45.0, 45.0), (-135.0, -45.0), (3.0, -2.5)]:
        st, rs = mt(seed), np.random.RandomState(seed)
        lib.vfr_np_rng_uniform_fill(st, lo, hi, N, p)
        same(out, rs.uniform(lo, hi, N), f"seed {seed}: uniform({lo}, {hi})")
        in_step(st, rs, f"seed {seed}: uniform({lo}, {hi})")

    # poisson: an array of rates across both algorithms, then fixed rates
    st, rs = mt(seed), np.random.RandomState(seed)
    lam = np.random.RandomState((seed + 7) % 2**32).uniform(0, 40, N)
    lam[::17] = 0.0
    lam[::13] = 10.0
    io, ip = i64(N)
    lib.vfr_np_rng_poisson_fill(st, lam.ctypes.data_as(F64P), N, ip)
    same(io, rs.poisson(lam), f"seed {seed}: poisson(lam in 0..40)")
    in_step(st, rs, f"seed {seed}: poisson(array)")
    for rate in [0.3, 3.0, 9.999, 10.0, 60.0, 1e4]:
        st, rs = mt(seed), np.random.RandomState(seed)
        n = N if rate in (3.0, 60.0) else N // 10
        lam = np.full(n, rate)
        io, ip = i64(n)
        lib.vfr_np_rng_poisson_fill(st, lam.ctypes.data_as(F64P), n, ip)
        same(io, rs.poisson(rate, n), f"seed {seed}: poisson({rate})")
        in_step(st, rs, f"seed {seed}: poisson({rate})")

    # randint: small, power-of-two, just above a power of two, near and above 2^32
    for lo, hi in [(0, 1), (0, 2), (-1, 1), (0, 5), (-4, 4), (0, 256), (0, 257), (0, 2**31),
                   (-2**31, 2**31 - 1), (0, 2**32 - 1), (0, 2**32), (0, 2**32 + 1), (7, 2**33 + 3),
                   (-2**40, 2**40), (-2**62, 2**62)]:
        st, rs = mt(seed), np.random.RandomState(seed)
        n = N if hi - lo in (2, 5, 8, 257, 2**32, 2**32 + 1) else N // 10
        io, ip = i64(n)
        lib.vfr_np_rng_randint_fill(st, lo, hi, n, ip)
        same(io, rs.randint(lo, hi, size=n), f"seed {seed}: randint({lo}, {hi})")
        in_step(st, rs, f"seed {seed}: randint({lo}, {hi})")

    # scalar calls interleaved the way the corruptions mix them
    st, rs = mt(seed), np.random.RandomState(seed)
    ours, theirs = [], []
    for i in range(20000):
        ours += [lib.vfr_np_rng_gauss(st), lib.vfr_np_rng_uniform(st, -45.0, 45.0),
                 float(lib.vfr_np_rng_randint(st, -3, 3)), lib.vfr_np_rng_normal(st, 0.1, 0.3),
                 float(lib.vfr_np_rng_poisson(st, (i % 30) * 0.7)), lib.vfr_np_rng_random(st)]
        theirs += [rs.standard_normal(), rs.uniform(-45.0, 45.0), float(rs.randint(-3, 3)),
                   rs.normal(0.1, 0.3), float(rs.poisson((i % 30) * 0.7)), rs.random_sample()]
    same(np.array(ours), np.array(theirs), f"seed {seed}: interleaved scalar draws")
    in_step(st, rs, f"seed {seed}: interleaved scalar draws")

    # Generator(PCG64) from default_rng
    for gseed in [seed, seed + 2**32, 2**64 - 1 - seed]:
        g = (ctypes.c_uint64 * 4)()
        lib.vfr_np_pcg64_seed(g, gseed)
        lib.vfr_np_pcg64_random_fill(g, N, p)
        rng = np.random.default_rng(gseed)
        same(out, rng.random(N), f"default_rng({gseed}).random")
        ck.check([lib.vfr_np_pcg64_u64(g) for _ in range(4)] ==
                 [int(v) for v in rng.bit_generator.random_raw(4)],
                 f"default_rng({gseed}): raw words out of step afterwards")
    # Bernoulli fields rng.random(n) <= p (32 or four interleaved LCG lanes inside), odd n
    for p_ in [0.5, 0.03, 0.27, 0.0, 1.0, 2.0**-53, -1.0, 0.1 + 2.0**-56]:
        g = (ctypes.c_uint64 * 4)()
        lib.vfr_np_pcg64_seed(g, seed)
        rng = np.random.default_rng(seed)
        b = np.empty(N + 3, np.uint8)
        lib.vfr_np_pcg64_below_fill(g, p_, N + 3, b.ctypes.data)
        same(b.astype(bool), rng.random(N + 3) <= p_, f"default_rng({seed}): random() <= {p_}")
        ck.check([lib.vfr_np_pcg64_u64(g) for _ in range(4)] ==
                 [int(v) for v in rng.bit_generator.random_raw(4)],
                 f"default_rng({seed}): below_fill({p_}) leaves the stream out of step")
    # the same fields in short calls one after another: the 32-lane vector path (n >= 32), the
    # four lanes (the 8..31 left) and single words meet at every split
    for p_ in [0.5, 0.17]:
        g = (ctypes.c_uint64 * 4)()
        lib.vfr_np_pcg64_seed(g, seed)
        rng = np.random.default_rng(seed)
        for n_ in [0, 1, 7, 8, 31, 32, 39, 45, 63, 64, 100, 1000, 3]:
            b = np.empty(max(n_, 1), np.uint8)
            lib.vfr_np_pcg64_below_fill(g, p_, n_, b.ctypes.data)
            same(b[:n_].astype(bool), rng.random(n_) <= p_, f"default_rng({seed}): below_fill({p_}, n={n_})")
        ck.check([lib.vfr_np_pcg64_u64(g) for _ in range(4)] ==
                 [int(v) for v in rng.bit_generator.random_raw(4)],
                 f"default_rng({seed}): short below_fill calls leave the stream out of step")
    # poisson with a rate's constants prepared once
    st, rs = mt(seed), np.random.RandomState(seed)
    rates = [0.0, 0.7, 9.99, 10.0, 23.5, 60.0]
    prep = [(ctypes.c_double * 9)() for _ in rates]
    for pr, lam in zip(prep, rates):
        lib.vfr_np_poisson_prepare(pr, lam)
    idx = np.random.RandomState(seed % 1000).randint(0, len(rates), 200000)
    ours = np.array([lib.vfr_np_rng_poisson_prepared(st, prep[i]) for i in idx])
    same(ours, rs.poisson(np.array(rates)[idx]), f"seed {seed}: poisson prepared, mixed rates")
    in_step(st, rs, f"seed {seed}: poisson prepared")

    # poisson over a table of 256 prepared rates (shot noise's x * c), from an even and
    # from an odd word position
    table = (ctypes.c_double * (9 * 256))()
    lams = np.arange(256) / 255.0 * [60, 25, 3, 60][seed % 4]
    for v in range(256):
        lib.vfr_np_poisson_prepare(ctypes.byref(table, 72 * v), lams[v])
    index = np.random.RandomState(seed % 77).randint(0, 256, N).astype(np.uint8)
    for odd in (0, 1):
        st, rs = mt(seed), np.random.RandomState(seed)
        if odd:
            lib.vfr_np_rng_u32(st)
            rs.randint(0, 2**32, dtype=np.uint32)
        io, ip = i64(N)
        lib.vfr_np_rng_poisson_index_fill(st, table, index.ctypes.data, N, ip)
        same(io, rs.poisson(lams[index]), f"seed {seed}: poisson over a rate table (odd start {odd})")
        in_step(st, rs, f"seed {seed}: poisson over a rate table (odd start {odd})")

    g = (ctypes.c_uint64 * 4)()
    lib.vfr_np_pcg64_seed(g, seed)
    ours = [lib.vfr_np_pcg64_random(g) for _ in range(1000)]
    same(np.array(ours), np.random.default_rng(seed).random(1000), f"default_rng({seed}): scalar random()")

ck.finish()
