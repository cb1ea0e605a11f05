"""What the benches need to know about this CPU to configure their peers at their best: its
instruction-set flags, the OpenBLAS core types matching its real ISA (Debian's OpenBLAS may
misdetect a CPU and fall back to SSE3 kernels), and NumPy's sgemm rate under a forced core.
Standard library only, so a bench can call it before NumPy or PyTorch load OpenBLAS."""
import os
import subprocess
import sys


def cpu_flags():
    """The flags line of /proc/cpuinfo as a set (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def openblas_cores(flags):
    """OpenBLAS core types for this CPU's real ISA, best first."""
    cores = []
    if "amx_tile" in flags:
        cores.append("SapphireRapids")
    if "avx512_bf16" in flags:
        cores.append("Cooperlake")
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        cores.append("SkylakeX")
    if "avx2" in flags:
        cores.append("Haswell")
    return cores


NUMPY_SGEMM = ("import time, numpy as np\n"
               "n = 2048; rs = np.random.RandomState(0)\n"
               "a, b = rs.rand(n, n).astype(np.float32), rs.rand(n, n).astype(np.float32)\n"
               "a @ b; best = 1e30\n"
               "for _ in range(5):\n"
               "    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)\n"
               "print(2.0 * n ** 3 / best / 1e9)\n")


def numpy_sgemm(core):
    """NumPy sgemm 2048^3 GFLOP/s in a subprocess, OPENBLAS_CORETYPE=core (None: as installed),
    and the core OpenBLAS reports it runs."""
    env = dict(os.environ, OPENBLAS_VERBOSE="2")
    env.pop("OPENBLAS_CORETYPE", None)
    if core:
        env["OPENBLAS_CORETYPE"] = core
    p = subprocess.run([sys.executable, "-c", NUMPY_SGEMM], env=env, capture_output=True, text=True)
    ran = [ln.split(":", 1)[1].strip() for ln in (p.stdout + p.stderr).splitlines()
           if ln.startswith("Core:")]
    try:
        rate = float(p.stdout.split()[-1])
    except (ValueError, IndexError):
        rate = 0.0
    return rate, (ran[-1] if ran else "?")


def best_openblas_core():
    """The core type (of the two best for this CPU) under which NumPy's sgemm is fastest, its
    rate, and the rate as installed: (core or None, GFLOP/s, installed GFLOP/s)."""
    installed, _ = numpy_sgemm(None)
    best, best_rate = None, installed
    for core in openblas_cores(cpu_flags())[:2]:
        rate, _ = numpy_sgemm(core)
        if rate > best_rate:
            best, best_rate = core, rate
    return best, best_rate, installed
