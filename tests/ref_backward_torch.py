"""Backward passes of the vision-transformer kernels, the fine-tuning loss and AdamW against
PyTorch (Debian python3-torch): autograd in float64 on the same float32 inputs.

For every kernel: random inputs and a random upstream gradient dout; the reference is
torch.autograd of the op written directly in torch (layer_norm, linear, the activations,
softmax attention, conv2d for the patch embedding, F.interpolate for position embeddings,
F.normalize for the cosine); ours is the C backward called through ctypes. Gradient buffers
are pre-filled with random values, so the check is (after - before) == autograd, which also
asserts that gradients accumulate. Bar: norm-wise relative error ||ours - ref|| / ||ref||
<= 1e-3 for every gradient (fp32 kernels are expected near 1e-6).

AdamW: 10 steps against torch.optim.AdamW (float64) on the same gradient sequence; the
warmup + cosine schedule against torch's LinearLR and CosineAnnealingLR.
"""
import ctypes
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

import vfr_testlib as T

torch.set_num_threads(2)
BAR = 1e-3
ck = T.Checker("ref_backward_torch")
lib = T.load_internal_lib()
rs = np.random.RandomState(1234)
worst = {"rel": 0.0, "what": ""}

FP = ctypes.POINTER(ctypes.c_float)
ci, cf, cd = ctypes.c_int, ctypes.c_float, ctypes.c_double


def P(a):
    """float32 numpy array -> float*, or NULL for None."""
    if a is None:
        return None
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(FP)


def rnd(*shape, scale=1.0):
    return (rs.standard_normal(shape) * scale).astype(np.float32)


def t64(a, grad=False):
    return torch.tensor(a.astype(np.float64), requires_grad=grad)


def rel_err(ours, ref):
    ours = np.asarray(ours, np.float64).ravel()
    ref = np.asarray(ref, np.float64).ravel()
    den = np.linalg.norm(ref)
    return float(np.linalg.norm(ours - ref) / (den if den > 0 else 1.0))


def compare(what, ours, ref, bar=BAR):
    e = rel_err(ours, ref)
    if e > worst["rel"]:
        worst["rel"], worst["what"] = e, what
    print(f"  {what:58s} rel {e:.2e}", flush=True)
    ck.check(e <= bar and np.all(np.isfinite(ours)), f"{what}: rel err {e:.3e} > {bar}")


def grad_buffers(*likes):
    """Random initial gradient contents (to assert accumulation), and copies of them. Each
    argument is the reference gradient the buffer will receive (the buffer gets its shape and
    a random fill of its RMS size, so that the fp32 rounding of (before + gradient) does not
    swamp the comparison), or a bare shape tuple (fill of size 1)."""
    bufs = []
    for like in likes:
        if isinstance(like, tuple):
            bufs.append(rnd(*like))
        else:
            rms = float(np.sqrt(np.mean(np.square(like)))) or 1.0
            bufs.append(rnd(*like.shape, scale=rms))
    return bufs, [b.copy() for b in bufs]


def autograd(fn, inputs, dout):
    """Gradients of sum(fn(*inputs) * dout) with respect to each input (float64)."""
    ts = [t64(a, True) for a in inputs]
    out = fn(*ts)
    (out * t64(dout)).sum().backward()
    return [t.grad.numpy() for t in ts]


def declare():
    v = None
    sig = {
        "layernorm_forward": (v, [FP, FP, FP, FP, ci, ci, cf, ci]),
        "layernorm_forward_train": (v, [FP, FP, FP, FP, FP, FP, ci, ci, cf, ci]),
        "layernorm_backward": (v, [FP, FP, FP, FP, FP, FP, FP, FP, ci, ci, ci]),
        "matmul_backward": (v, [FP, FP, FP, FP, FP, FP, ci, ci, ci, ctypes.c_void_p]),
        "bias_activation_forward": (v, [FP, FP, ci, ci, ci, ci]),
        "bias_activation_forward_train": (v, [FP, FP, FP, ci, ci, ci, ci]),
        "bias_activation_backward": (v, [FP, FP, FP, FP, FP, ci, ci, ci, ci]),
        "swiglu_backward": (v, [FP, FP, FP, FP, FP, ci, ci, ci]),
        "residual_backward": (v, [FP, FP, FP, FP, FP, FP, FP, FP, ci, ci, ci]),
        "softmax_backward": (v, [FP, FP, FP, ci, ci, ci]),
        "engine_create": (ci, [ci, ci, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]),
        "attention_scratch_floats": (ctypes.c_size_t, [ci, ci, ci]),
        "attention_backward_scratch_floats": (ctypes.c_size_t, [ci, ci, ci]),
        "attention_backward": (v, [FP, FP, FP, FP, FP, FP, FP, FP, ci, ci, ci, ci,
                                   ctypes.c_void_p]),
        "attention_forward": (v, [FP, FP, FP, FP, FP, ci, ci, ci, ci, ctypes.c_void_p]),
        "embeddings_backward": (v, [FP, FP, FP, FP, FP, ci, ci, ci, ci, ci]),
        "im2patch_forward": (v, [FP, FP, ci, ci, ci, ci, ci, ci]),
        "interpolate_bicubic": (ci, [FP, FP, FP, ci, ci, ci, ci, ci, ci]),
        "interpolate_bicubic_backward": (ci, [FP, FP, FP, ci, ci, ci, ci, ci, ci]),
        "dinov2_pos_embed_backward": (ci, [FP, FP, FP, ci, ci, ci, ci, ci, ci]),
        "l2normalize_forward": (v, [FP, FP, FP, ci, ci]),
        "l2normalize_backward": (v, [FP, FP, FP, FP, ci, ci]),
        "cosine_forward": (v, [FP, FP, FP, ci, ci]),
        "cosine_backward": (v, [FP, FP, FP, FP, FP, ci, ci]),
        "robust_loss": (cd, [FP, FP, FP, ci, ci, cd, FP, FP,
                             ctypes.POINTER(cd), ctypes.POINTER(cd)]),
        "adamw_step": (v, [FP, FP, FP, FP, ctypes.c_size_t, cd, ctypes.c_void_p, ctypes.c_long,
                           ci]),
        "lr_warmup_cosine": (cd, [ctypes.c_long, ctypes.c_long, ctypes.c_long, cd, cd]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args


declare()
ENGINES = {}


def engine(threads):
    """The products' engine (engine.h) on `threads` threads, one per count, kept for the run."""
    if threads not in ENGINES:
        e = ctypes.c_void_p()
        assert lib.engine_create(threads, 0, ctypes.byref(e), None) == 0
        ENGINES[threads] = e
    return ENGINES[threads]

ACT = {"quick_gelu": 1, "gelu": 2, "gelu_tanh": 3}
ACT_TORCH = {
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


class AdamWParams(ctypes.Structure):
    _fields_ = [("beta1", cd), ("beta2", cd), ("eps", cd), ("weight_decay", cd)]


# ----------------------------------------------------------------------------------------------

def test_layernorm(N, C, eps, threads):
    x, w, b = rnd(N, C, scale=2.0) + 0.5, rnd(C), rnd(C)
    dout = rnd(N, C)
    out, mean, rstd = (np.zeros((N, C), np.float32), np.zeros(N, np.float32),
                       np.zeros(N, np.float32))
    lib.layernorm_forward_train(P(out), P(mean), P(rstd), P(x), P(w), P(b), N, C, eps, threads)
    plain = np.zeros((N, C), np.float32)
    lib.layernorm_forward(P(plain), P(x), P(w), P(b), N, C, eps, threads)
    ck.check(np.array_equal(out, plain),
             f"layernorm_forward_train {N}x{C}: out == layernorm_forward")
    x64 = x.astype(np.float64)
    compare(f"layernorm {N}x{C} mean", mean, x64.mean(1))
    compare(f"layernorm {N}x{C} rstd", rstd, 1 / np.sqrt(x64.var(1) + eps))
    ref = autograd(lambda x_, w_, b_: F.layer_norm(x_, (C,), w_, b_, eps), [x, w, b], dout)
    (dx, dw, db), (dx0, dw0, db0) = grad_buffers(*ref)
    lib.layernorm_backward(P(dx), P(dw), P(db), P(dout), P(x), P(w), P(mean), P(rstd), N, C,
                           threads)
    for name, g, g0, r in (("dinp", dx, dx0, ref[0]), ("dweight", dw, dw0, ref[1]),
                           ("dbias", db, db0, ref[2])):
        compare(f"layernorm {N}x{C} t{threads} {name}", g - g0, r)


def test_matmul(N, C, OC, bias, threads, want_dinp=True):
    x, w = rnd(N, C), rnd(OC, C, scale=1 / math.sqrt(C))
    b = rnd(OC) if bias else None
    dout = rnd(N, OC)
    inputs = [x, w] + ([b] if bias else [])
    ref = autograd(lambda *a: F.linear(*a), inputs, dout)
    (dx, dw, db), (dx0, dw0, db0) = grad_buffers(ref[0], ref[1], ref[2] if bias else (OC,))
    lib.matmul_backward(P(dx) if want_dinp else None, P(dw), P(db) if bias else None, P(dout),
                        P(x), P(w), N, C, OC, engine(threads))
    tag = f"matmul{'' if bias else ' nobias'} {N}x{C}->{OC} t{threads}"
    if want_dinp:
        compare(f"{tag} dinp", dx - dx0, ref[0])
    else:
        ck.check(np.array_equal(dx, dx0), f"{tag}: dinp NULL left its buffer alone")
    compare(f"{tag} dweight", dw - dw0, ref[1])
    if bias:
        compare(f"{tag} dbias", db - db0, ref[2])
    else:
        ck.check(np.array_equal(db, db0), f"{tag}: dbias untouched")


def test_bias_activation(act, N, C, threads):
    x, b, dout = rnd(N, C, scale=2.0), rnd(C), rnd(N, C)
    out = np.zeros((N, C), np.float32)
    lib.bias_activation_forward_train(P(out), P(x), P(b), N, C, ACT[act], threads)
    inplace = x.copy()
    lib.bias_activation_forward(P(inplace), P(b), N, C, ACT[act], threads)
    ck.check(np.array_equal(out, inplace),
             f"bias_activation_forward_train {act} == in-place forward")
    ref = autograd(lambda x_, b_: ACT_TORCH[act](x_ + b_), [x, b], dout)
    (dx, db), (dx0, db0) = grad_buffers(*ref)
    lib.bias_activation_backward(P(dx), P(db), P(dout), P(x), P(b), N, C, ACT[act], threads)
    compare(f"bias+{act} {N}x{C} dinp", dx - dx0, ref[0])
    compare(f"bias+{act} {N}x{C} dbias", db - db0, ref[1])


def test_swiglu(N, H, threads):
    x, b, dout = rnd(N, 2 * H, scale=2.0), rnd(2 * H), rnd(N, H)

    def f(x_, b_):
        y = x_ + b_
        return F.silu(y[:, :H]) * y[:, H:]
    ref = autograd(f, [x, b], dout)
    (dx, db), (dx0, db0) = grad_buffers(*ref)
    lib.swiglu_backward(P(dx), P(db), P(dout), P(x), P(b), N, H, threads)
    compare(f"swiglu {N}x{H} dinp", dx - dx0, ref[0])
    compare(f"swiglu {N}x{H} dbias", db - db0, ref[1])


def test_residual(N, C, with_scale, threads):
    x, y, b, dout = rnd(N, C), rnd(N, C), rnd(C), rnd(N, C)
    s = rnd(C, scale=0.1) if with_scale else None
    inputs = [x, y, b] + ([s] if with_scale else [])
    ref = autograd(lambda x_, y_, b_, *s_: x_ + (y_ + b_) * (s_[0] if s_ else 1.0), inputs, dout)
    (dx, dy, db, ds), (dx0, dy0, db0, ds0) = grad_buffers(*ref[:3],
                                                          ref[3] if with_scale else (C,))
    lib.residual_backward(P(dx), P(dy), P(db), P(ds), P(dout), P(y), P(b), P(s), N, C, threads)
    tag = f"residual{' +layerscale' if with_scale else ''} {N}x{C}"
    compare(f"{tag} dx", dx - dx0, ref[0])
    compare(f"{tag} dy", dy - dy0, ref[1])
    compare(f"{tag} dbias", db - db0, ref[2])
    if with_scale:
        compare(f"{tag} dscale", ds - ds0, ref[3])
    else:
        ck.check(np.array_equal(ds, ds0), f"{tag}: dscale untouched without a scale")
    # in place: the residual stream's gradient buffer is both dout and dx
    stream = dout.copy()
    lib.residual_backward(P(stream), None, None, None, P(stream), P(y), P(b), P(s), N, C, threads)
    ck.check(np.array_equal(stream, dout), f"{tag}: dx == dout passes through unchanged")


def test_softmax(N, C, threads):
    x, dout = rnd(N, C, scale=3.0), rnd(N, C)
    out = torch.softmax(t64(x), -1).numpy().astype(np.float32)
    ref = autograd(lambda x_: torch.softmax(x_, -1), [x], dout)
    (dx,), (dx0,) = grad_buffers(*ref)
    lib.softmax_backward(P(dx), P(dout), P(out), N, C, threads)
    compare(f"softmax {N}x{C} dinp", dx - dx0, ref[0])


def torch_attention(q, k, v, B, Tn, C, NH):
    hd = C // NH

    def heads(t):
        return t.view(B, Tn, NH, hd).transpose(1, 2)
    s = heads(q) @ heads(k).transpose(-1, -2) * hd ** -0.5
    return (torch.softmax(s, -1) @ heads(v)).transpose(1, 2).reshape(B, Tn, C)


def test_attention(B, Tn, C, NH, threads):
    q, k, v = rnd(B, Tn, C), rnd(B, Tn, C), rnd(B, Tn, C)
    dout = rnd(B, Tn, C)
    # the forward's layout, checked once against the same torch code
    att = np.zeros(lib.attention_scratch_floats(B, Tn, NH), np.float32)
    out = np.zeros((B, Tn, C), np.float32)
    lib.attention_forward(P(out), P(att), P(q), P(k), P(v), B, Tn, C, NH, engine(threads))
    with torch.no_grad():
        fwd = torch_attention(t64(q), t64(k), t64(v), B, Tn, C, NH).numpy()
    compare(f"attention forward {B}x{Tn}x{C} h{NH} (layout)", out, fwd)
    ref = autograd(lambda q_, k_, v_: torch_attention(q_, k_, v_, B, Tn, C, NH), [q, k, v], dout)
    scratch = np.zeros(lib.attention_backward_scratch_floats(B, Tn, NH), np.float32)
    (dq, dk, dv), (dq0, dk0, dv0) = grad_buffers(*ref)
    t0 = time.time()
    lib.attention_backward(P(dq), P(dk), P(dv), P(scratch), P(dout), P(q), P(k), P(v), B, Tn, C,
                           NH, engine(threads))
    ms = (time.time() - t0) * 1e3
    for name, g, g0, r in (("dq", dq, dq0, ref[0]), ("dk", dk, dk0, ref[1]),
                           ("dv", dv, dv0, ref[2])):
        compare(f"attention {B}x{Tn}x{C} h{NH} t{threads} {name}", g - g0, r)
    print(f"    attention_backward {B}x{Tn}x{C} h{NH}: {ms:.1f} ms", flush=True)


def test_patch_conv(B, CH, H, W, Pz, D, bias, threads):
    """The patch convolution = im2patch_forward + a linear layer; the weight gradient from
    matmul_backward (dinp NULL) against conv2d's autograd."""
    px = rnd(B, CH, H, W)
    w = rnd(D, CH, Pz, Pz, scale=0.1)
    b = rnd(D) if bias else None
    GH, GW = H // Pz, W // Pz
    dout = rnd(B, D, GH, GW)  # conv output layout (B,D,GH,GW)
    inputs = [w] + ([b] if bias else [])
    ref = autograd(lambda w_, *b_: F.conv2d(t64(px), w_, b_[0] if b_ else None, stride=Pz),
                   inputs, dout)
    K = CH * Pz * Pz
    patches = np.zeros((B * GH * GW, K), np.float32)
    lib.im2patch_forward(P(patches), P(px), B, CH, H, W, Pz, threads)
    dtok = np.ascontiguousarray(dout.transpose(0, 2, 3, 1).reshape(B * GH * GW, D))
    (dw, db), (dw0, db0) = grad_buffers(ref[0].reshape(D, K), ref[1] if bias else (D,))
    lib.matmul_backward(None, P(dw), P(db) if bias else None, P(dtok), P(patches),
                        P(w.reshape(D, K).copy()), B * GH * GW, K, D, engine(threads))
    tag = f"patch conv {B}x{CH}x{H}x{W} P{Pz} D{D}"
    compare(f"{tag} dweight", (dw - dw0).reshape(D, CH, Pz, Pz), ref[0])
    if bias:
        compare(f"{tag} dbias", db - db0, ref[1])


def test_embeddings(B, R, G, D, threads):
    Tn = 1 + R + G
    patch, cls, pos = rnd(B, G, D), rnd(D), rnd(1 + G, D)
    reg = rnd(max(R, 1), D)[:R].copy()
    dout = rnd(B, Tn, D)

    def f(patch_, cls_, pos_, *reg_):
        first = (cls_ + pos_[0]).expand(B, 1, D)
        parts = [first]
        if R:
            parts.append(reg_[0].expand(B, R, D))
        parts.append(patch_ + pos_[1:])
        return torch.cat(parts, 1)
    inputs = [patch, cls, pos] + ([reg] if R else [])
    ref = autograd(f, inputs, dout)
    (dp, dc, dpos, dr), (dp0, dc0, dpos0, dr0) = grad_buffers(*ref[:3], ref[3] if R else (1, D))
    lib.embeddings_backward(P(dp), P(dc), P(dr) if R else None, P(dpos), P(dout), B, Tn, D, R,
                            threads)
    tag = f"embeddings B{B} R{R} G{G} D{D}"
    compare(f"{tag} dpatch", dp - dp0, ref[0])
    compare(f"{tag} dcls", dc - dc0, ref[1])
    compare(f"{tag} dpos", dpos - dpos0, ref[2])
    if R:
        compare(f"{tag} dregisters", dr - dr0, ref[3])


def test_interpolate(IH, IW, OH, OW, C, aa):
    grid, dout = rnd(IH, IW, C), rnd(OH, OW, C)
    tmp = np.zeros(max(IH * OW * C, 1), np.float32)
    out = np.zeros((OH, OW, C), np.float32)
    ck.check(lib.interpolate_bicubic(P(out), P(grid), P(tmp), IH, IW, OH, OW, C, aa) == 0,
             "interpolate_bicubic ran")

    def f(g):
        x = g.permute(2, 0, 1).unsqueeze(0)
        y = F.interpolate(x, size=(OH, OW), mode="bicubic", align_corners=False,
                          antialias=bool(aa))
        return y[0].permute(1, 2, 0)
    ref = autograd(f, [grid], dout)
    (dg,), (dg0,) = grad_buffers(*ref)
    rc = lib.interpolate_bicubic_backward(P(dg), P(dout), P(tmp), IH, IW, OH, OW, C, aa)
    ck.check(rc == 0, "interpolate_bicubic_backward returned 0")
    tag = f"bicubic{' aa' if aa else ''} {IH}x{IW}->{OH}x{OW} C{C}"
    compare(f"{tag} dgrid", dg - dg0, ref[0])
    # adjoint identity with OUR forward: <dout, A x> == <A^T dout, x>
    lhs = float(np.dot(dout.ravel().astype(np.float64), out.ravel()))
    rhs = float(np.dot((dg - dg0).ravel().astype(np.float64), grid.ravel()))
    e = abs(lhs - rhs) / max(abs(lhs), 1.0)
    print(f"  {tag + ' adjoint of our forward':58s} rel {e:.2e}", flush=True)
    ck.check(e <= 1e-5, f"{tag}: <dout, A x> {lhs} vs <A^T dout, x> {rhs}")


def test_dinov2_pos(G, C, H, W, Pz, aa):
    pos = rnd(1 + G * G, C)
    gh, gw = H // Pz, W // Pz
    dout = rnd(1 + gh * gw, C)

    def f(p):
        if gh * gw == G * G and H == W:
            return p
        grid = p[1:].reshape(1, G, G, C).permute(0, 3, 1, 2)
        y = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False,
                          antialias=bool(aa))
        return torch.cat([p[:1], y[0].permute(1, 2, 0).reshape(gh * gw, C)], 0)
    ref = autograd(f, [pos], dout)
    tmp = np.zeros(G * gw * C, np.float32)
    (dp,), (dp0,) = grad_buffers(*ref)
    rc = lib.dinov2_pos_embed_backward(P(dp), P(dout), P(tmp), 1 + G * G, C, H, W, Pz, aa)
    ck.check(rc == 0, "dinov2_pos_embed_backward returned 0")
    compare(f"dinov2 pos embed G{G} {H}x{W} P{Pz}{' aa' if aa else ''} dpos", dp - dp0, ref[0])


def test_l2norm_cosine(N, C):
    x, dout = rnd(N, C), rnd(N, C)
    x[0] = 0.0  # a zero row: the clamp
    out, norm = np.zeros((N, C), np.float32), np.zeros(N, np.float32)
    lib.l2normalize_forward(P(out), P(norm), P(x), N, C)
    compare(f"l2normalize {N}x{C} forward", out, F.normalize(t64(x), dim=1).detach().numpy())
    ref = autograd(lambda x_: F.normalize(x_, dim=1), [x], dout)
    (dx,), (dx0,) = grad_buffers(*ref)
    lib.l2normalize_backward(P(dx), P(dout), P(out), P(norm), N, C)
    compare(f"l2normalize {N}x{C} dinp (incl. a zero row)", dx - dx0, ref[0])

    a, b, dc = rnd(N, C), rnd(N, C), rnd(N)
    b[1] = 0.0

    def cos(a_, b_):
        return (F.normalize(a_, dim=1) * F.normalize(b_, dim=1)).sum(1)
    c = np.zeros(N, np.float32)
    lib.cosine_forward(P(c), P(a), P(b), N, C)
    compare(f"cosine {N}x{C} forward", c, cos(t64(a), t64(b)).detach().numpy())
    ref = autograd(cos, [a, b], dc)
    (da, db), (da0, db0) = grad_buffers(*ref)
    lib.cosine_backward(P(da), P(db), P(dc), P(a), P(b), N, C)
    compare(f"cosine {N}x{C} da", da - da0, ref[0])
    compare(f"cosine {N}x{C} db (incl. a zero row)", db - db0, ref[1])


def test_loss(B, E, lam):
    tc, tp, fc = rnd(B, E), rnd(B, E), rnd(B, E)
    tp += 0.7 * tc  # correlated, as a perturbed view is
    fc += 0.9 * tc

    def cos(a_, b_):
        return (F.normalize(a_, dim=1) * F.normalize(b_, dim=1)).sum(1)
    ttc, ttp, tfc = t64(tc, True), t64(tp, True), t64(fc)
    l1 = -cos(ttc, ttp).mean()
    l2 = -cos(tfc, ttc).mean()
    L = l1 + lam * l2
    L.backward()
    (dtc, dtp), (dtc0, dtp0) = grad_buffers(ttc.grad.numpy(), ttp.grad.numpy())
    o1, o2 = cd(), cd()
    ours = lib.robust_loss(P(tc), P(tp), P(fc), B, E, lam, P(dtc), P(dtp), ctypes.byref(o1),
                           ctypes.byref(o2))
    tag = f"loss B{B} E{E} lambda {lam}"
    compare(f"{tag} L", [ours, o1.value, o2.value], [L.item(), l1.item(), l2.item()], bar=1e-6)
    compare(f"{tag} dL/d f'(x)", dtc - dtc0, ttc.grad.numpy())
    compare(f"{tag} dL/d f'(P x)", dtp - dtp0, ttp.grad.numpy())


def test_adamw(n, lr, betas, eps, wd, steps=10):
    p0 = rnd(n)
    grads = [rnd(n, scale=0.1 * (i + 1)) for i in range(steps)]
    ref = torch.tensor(p0.astype(np.float64), requires_grad=True)
    ref32 = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.AdamW([ref], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    opt32 = torch.optim.AdamW([ref32], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    ours, m, v = p0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)
    hp = AdamWParams(betas[0], betas[1], eps, wd)
    for i, g in enumerate(grads):
        ref.grad = torch.tensor(g.astype(np.float64))
        ref32.grad = torch.tensor(g)
        opt.step()
        opt32.step()
        lib.adamw_step(P(ours), P(g), P(m), P(v), n, lr, ctypes.byref(hp), i + 1, 2)
    tag = f"adamw {steps} steps n{n} lr {lr} betas {betas} wd {wd}"
    # The update (param - start), not the param: a tolerance on what the steps moved. Against
    # float64 it includes the fp32 rounding of param (ulp(1) / update size); against torch's
    # own float32 AdamW that rounding is shared and what is left is the arithmetic order.
    compare(f"{tag} update vs f64", ours - p0, ref.detach().numpy() - p0)
    compare(f"{tag} update vs f32", ours - p0, ref32.detach().numpy() - p0)
    st = opt.state[ref]
    compare(f"{tag} exp_avg", m, st["exp_avg"].numpy())
    compare(f"{tag} exp_avg_sq", v, st["exp_avg_sq"].numpy())


def test_schedule(total, warmup, lr_max, lr_min):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr_max)
    ours, ref = [], []
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / warmup, end_factor=1.0,
                                             total_iters=warmup - 1)
    for s in range(warmup):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        warm.step()
    opt2 = torch.optim.SGD([p], lr=lr_max)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=total - warmup, eta_min=lr_min)
    for s in range(warmup, total):
        ref.append(opt2.param_groups[0]["lr"])
        opt2.step()
        cos.step()
    ours = [lib.lr_warmup_cosine(s, total, warmup, lr_max, lr_min) for s in range(total)]
    compare(f"lr schedule total {total} warmup {warmup}", ours, ref, bar=1e-9)
    ck.check(abs(lib.lr_warmup_cosine(total + 5, total, warmup, lr_max, lr_min) - lr_min) < 1e-15,
             "lr past the end is lr_min")


# ----------------------------------------------------------------------------------------------
# the whole tower: vit_forward_train + vit_backward against autograd of a torch ViT (float64)

LAYER_FIELDS = ["ln1_w", "ln1_b", "q_w", "q_b", "k_w", "k_b", "v_w", "v_b", "o_w", "o_b", "ls1",
                "ln2_w", "ln2_b", "fc1_w", "fc1_b", "fc2_w", "fc2_b", "ls2"]
TOP_FIELDS = ["patch_w", "patch_b", "cls", "registers", "pos", "pre_ln_w", "pre_ln_b"]
HEAD_FIELDS = ["final_ln_w", "final_ln_b", "proj"]


class VitLayer(ctypes.Structure):
    _fields_ = [(f, FP) for f in LAYER_FIELDS]


class VitParams(ctypes.Structure):
    _fields_ = ([(f, FP) for f in TOP_FIELDS] + [("layers", ctypes.POINTER(VitLayer))]
                + [(f, FP) for f in HEAD_FIELDS])


class VitGrads(ctypes.Structure):
    _fields_ = VitParams._fields_ + [("memory", FP), ("n", ctypes.c_size_t)]


class VitDims(ctypes.Structure):
    _fields_ = [(f, ci) for f in ["D", "L", "NH", "M", "P", "H", "W", "GH", "GW", "R", "T", "E",
                                  "swiglu", "clip", "proj", "cls_mean", "act"]] + \
        [("eps", cf), ("threads", ci), ("engine", ctypes.c_void_p), ("bf16", ci)]


def opaque():
    """Zeroed storage for the C activation structs, which Python never reads (a few dozen
    pointers; 4 KiB is ample)."""
    return ctypes.create_string_buffer(4096)


def declare_vit():
    sig = {
        "vit_grads_alloc": (ci, [ctypes.POINTER(VitGrads), ctypes.POINTER(VitParams),
                                 ctypes.POINTER(VitDims)]),
        "vit_grads_free": (None, [ctypes.POINTER(VitGrads)]),
        "vit_train_acts_reserve": (ci, [ctypes.c_void_p, ctypes.POINTER(VitDims), ci]),
        "vit_train_acts_free": (None, [ctypes.c_void_p]),
        "vit_acts_reserve": (ci, [ctypes.c_void_p, ctypes.POINTER(VitDims), ci]),
        "vit_acts_free": (None, [ctypes.c_void_p]),
        "vit_forward": (None, [FP, FP, ctypes.POINTER(VitParams), ctypes.POINTER(VitDims),
                               ctypes.c_void_p, ci]),
        "vit_forward_train": (None, [FP, FP, ctypes.POINTER(VitParams), ctypes.POINTER(VitDims),
                                     ctypes.c_void_p, ci]),
        "vit_backward": (None, [ctypes.POINTER(VitGrads), FP, ctypes.POINTER(VitParams),
                                ctypes.POINTER(VitDims), ctypes.c_void_p, ci, ci]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args


declare_vit()


def make_vit(cfg):
    """Random float32 parameters {name: array} at the config's shapes (None where absent)."""
    D, L, M, Pz, R, E = cfg["D"], cfg["L"], cfg["M"], cfg["P"], cfg["R"], cfg["E"]
    np_ = (cfg["H"] // Pz) * (cfg["W"] // Pz)
    M1 = 2 * M if cfg["swiglu"] else M
    clip, sd = cfg["clip"], 1 / math.sqrt(D)
    top = {"patch_w": rnd(D, 3 * Pz * Pz, scale=0.1),
           "patch_b": None if clip else rnd(D, scale=0.1),
           "cls": rnd(D, scale=0.5), "registers": rnd(R, D, scale=0.5) if R else None,
           "pos": rnd(1 + np_, D, scale=0.5),
           "pre_ln_w": (1 + rnd(D, scale=0.1)) if clip else None,
           "pre_ln_b": rnd(D, scale=0.1) if clip else None,
           "final_ln_w": 1 + rnd(D, scale=0.1), "final_ln_b": rnd(D, scale=0.1),
           "proj": rnd(E, D, scale=sd) if clip else None}
    layers = []
    for _ in range(L):
        lay = {"ln1_w": 1 + rnd(D, scale=0.1), "ln1_b": rnd(D, scale=0.1),
               "ln2_w": 1 + rnd(D, scale=0.1), "ln2_b": rnd(D, scale=0.1)}
        for n in "qkvo":
            lay[f"{n}_w"], lay[f"{n}_b"] = rnd(D, D, scale=sd), rnd(D, scale=0.1)
        lay["fc1_w"], lay["fc1_b"] = rnd(M1, D, scale=sd), rnd(M1, scale=0.1)
        lay["fc2_w"], lay["fc2_b"] = rnd(D, M, scale=1 / math.sqrt(M)), rnd(D, scale=0.1)
        lay["ls1"] = None if clip else (0.5 + rnd(D, scale=0.1))
        lay["ls2"] = None if clip else (0.5 + rnd(D, scale=0.1))
        layers.append(lay)
    return top, layers


def torch_vit(top, layers, cfg, px):
    """The tower in torch, written from the maths of model/vit.h (not from our C)."""
    D, Pz, NH, M, R, eps = cfg["D"], cfg["P"], cfg["NH"], cfg["M"], cfg["R"], cfg["eps"]
    B = px.shape[0]
    w = top["patch_w"].view(D, 3, Pz, Pz)
    pe = F.conv2d(px, w, top["patch_b"], stride=Pz).flatten(2).transpose(1, 2)  # (B,np,D)
    parts = [(top["cls"] + top["pos"][0]).expand(B, 1, D)]
    if R:
        parts.append(top["registers"].expand(B, R, D))
    parts.append(pe + top["pos"][1:])
    x = torch.cat(parts, 1)
    if cfg["clip"]:
        x = F.layer_norm(x, (D,), top["pre_ln_w"], top["pre_ln_b"], eps)
    Tn = x.shape[1]
    for lay in layers:
        h = F.layer_norm(x, (D,), lay["ln1_w"], lay["ln1_b"], eps)
        q, k, v = (F.linear(h, lay[f"{n}_w"], lay[f"{n}_b"]) for n in "qkv")
        a = torch_attention(q, k, v, B, Tn, D, NH)
        o = F.linear(a, lay["o_w"], lay["o_b"])
        x = x + (o * lay["ls1"] if lay["ls1"] is not None else o)
        h = F.layer_norm(x, (D,), lay["ln2_w"], lay["ln2_b"], eps)
        u = F.linear(h, lay["fc1_w"], lay["fc1_b"])
        u = F.silu(u[..., :M]) * u[..., M:] if cfg["swiglu"] else ACT_TORCH[cfg["act"]](u)
        y = F.linear(u, lay["fc2_w"], lay["fc2_b"])
        x = x + (y * lay["ls2"] if lay["ls2"] is not None else y)
    cls = F.layer_norm(x[:, 0], (D,), top["final_ln_w"], top["final_ln_b"], eps)
    if cfg["clip"]:
        return F.linear(cls, top["proj"])
    if not cfg["cls_mean"]:
        return cls
    full = F.layer_norm(x, (D,), top["final_ln_w"], top["final_ln_b"], eps)
    return torch.cat([cls, full[:, 1 + R:].mean(1)], 1)


def grad_view(ptr, shape):
    return np.ctypeslib.as_array(ptr, shape=shape).copy() if ptr else None


def test_vit(name, cfg, B, first_layer=0):
    D, L, Pz = cfg["D"], cfg["L"], cfg["P"]
    GH, GW = cfg["H"] // Pz, cfg["W"] // Pz
    Tn = 1 + cfg["R"] + GH * GW
    dims = VitDims(D=D, L=L, NH=cfg["NH"], M=cfg["M"], P=Pz, H=cfg["H"], W=cfg["W"], GH=GH, GW=GW,
                   R=cfg["R"], T=Tn, E=cfg["E"], swiglu=int(cfg["swiglu"]), clip=int(cfg["clip"]),
                   proj=int(cfg["clip"]), cls_mean=int(cfg["cls_mean"]), act=ACT[cfg["act"]],
                   eps=cfg["eps"], threads=2, engine=engine(2))
    top, layers = make_vit(cfg)
    keep = []  # numpy arrays the C structs point into

    def ptr(a):
        if a is None:
            return None
        keep.append(a)
        return P(a)
    clayers = (VitLayer * L)(*[VitLayer(*[ptr(lay[f]) for f in LAYER_FIELDS]) for lay in layers])
    params = VitParams(*[ptr(top[f]) for f in TOP_FIELDS], clayers,
                       *[ptr(top[f]) for f in HEAD_FIELDS])
    px = rnd(B, 3, cfg["H"], cfg["W"])
    dout = rnd(B, cfg["E"])
    # forward: identical to vit_forward
    acts, tacts = opaque(), opaque()
    ck.check(lib.vit_acts_reserve(acts, ctypes.byref(dims), B) == 0, "vit_acts_reserve")
    ck.check(lib.vit_train_acts_reserve(tacts, ctypes.byref(dims), B) == 0,
             "vit_train_acts_reserve")
    out, out_t = np.zeros((B, cfg["E"]), np.float32), np.zeros((B, cfg["E"]), np.float32)
    lib.vit_forward(P(out), P(px), ctypes.byref(params), ctypes.byref(dims), acts, B)
    lib.vit_forward_train(P(out_t), P(px), ctypes.byref(params), ctypes.byref(dims), tacts, B)
    ck.check(np.array_equal(out, out_t), f"vit {name}: vit_forward_train == vit_forward "
             f"(max diff {np.abs(out - out_t).max():.2e})")
    # reference
    ttop = {k: (t64(v, True) if v is not None else None) for k, v in top.items()}
    tlayers = [{k: (t64(v, True) if v is not None else None) for k, v in lay.items()}
               for lay in layers]
    ref_out = torch_vit(ttop, tlayers, cfg, t64(px))
    compare(f"vit {name} forward vs torch", out_t, ref_out.detach().numpy())
    (ref_out * t64(dout)).sum().backward()
    grads = VitGrads()
    ck.check(lib.vit_grads_alloc(ctypes.byref(grads), ctypes.byref(params), ctypes.byref(dims))
             == 0, "vit_grads_alloc")
    t0 = time.time()
    lib.vit_backward(ctypes.byref(grads), P(dout), ctypes.byref(params), ctypes.byref(dims), tacts,
                     B, first_layer)
    ms = (time.time() - t0) * 1e3
    # a second call doubles every gradient (accumulation)
    lib.vit_backward(ctypes.byref(grads), P(dout), ctypes.byref(params), ctypes.byref(dims), tacts,
                     B, first_layer)
    checked, worst_vit = 0, 0.0
    for f in TOP_FIELDS + HEAD_FIELDS:
        if top[f] is None:
            ck.check(not getattr(grads, f), f"vit {name}: no gradient for absent {f}")
            continue
        ours = grad_view(getattr(grads, f), top[f].shape) / 2
        frozen = first_layer > 0 and f in TOP_FIELDS
        ref = np.zeros_like(ours) if frozen else ttop[f].grad.numpy()
        if frozen:
            ck.check(not np.any(ours), f"vit {name}: frozen {f} got no gradient")
        else:
            worst_vit = max(worst_vit, rel_err(ours, ref))
            compare(f"vit {name} d{f}", ours, ref)
        checked += 1
    for i, (lay, tl) in enumerate(zip(layers, tlayers)):
        for f in LAYER_FIELDS:
            gp = getattr(grads.layers[i], f)
            if lay[f] is None:
                ck.check(not gp, f"vit {name}: no gradient for absent layer {i} {f}")
                continue
            ours = grad_view(gp, lay[f].shape) / 2
            if i < first_layer:
                ck.check(not np.any(ours), f"vit {name}: frozen layer {i} {f} got no gradient")
            elif f == "k_b":
                # Exactly zero in exact arithmetic: q.(k + b) shifts every score of a row by the
                # same q.b, which the softmax cancels. Autograd gives ~1e-17, we give fp32
                # rounding; the check is that it is negligible beside the query bias's gradient.
                scale = np.linalg.norm(tl["q_b"].grad.numpy())
                e = float(np.linalg.norm(ours)) / scale
                ck.check(e <= 1e-5, f"vit {name}: layer {i} dk_b not ~0: {e:.3e} of |dq_b|")
            else:
                e = rel_err(ours, tl[f].grad.numpy())
                worst_vit = max(worst_vit, e)
                ck.check(e <= BAR, f"vit {name}: layer {i} d{f} rel err {e:.3e}")
                if e > worst["rel"]:
                    worst["rel"], worst["what"] = e, f"vit {name} layer {i} d{f}"
            checked += 1
    print(f"  vit {name}: {checked} parameter tensors, worst rel err {worst_vit:.2e}, "
          f"backward {ms:.1f} ms", flush=True)
    lib.vit_grads_free(ctypes.byref(grads))
    lib.vit_acts_free(acts)
    lib.vit_train_acts_free(tacts)


VIT_CLIP = dict(D=32, L=2, NH=4, M=64, P=8, H=32, W=32, R=0, E=24, swiglu=False, clip=True,
                cls_mean=False, act="quick_gelu", eps=1e-5)
VIT_B16_ONE_LAYER = dict(D=768, L=1, NH=12, M=3072, P=16, H=224, W=224, R=0, E=512,
                         swiglu=False, clip=True, cls_mean=False, act="quick_gelu", eps=1e-5)
VIT_DINO_REG = dict(D=24, L=2, NH=3, M=96, P=8, H=24, W=40, R=2, E=48, swiglu=False, clip=False,
                    cls_mean=True, act="gelu", eps=1e-6)
VIT_DINO_SWIGLU = dict(D=24, L=2, NH=2, M=32, P=8, H=32, W=24, R=0, E=24, swiglu=True,
                       clip=False, cls_mean=False, act="gelu", eps=1e-6)


def main():
    t0 = time.time()
    print("layernorm", flush=True)
    test_layernorm(37, 129, 1e-5, 2)
    test_layernorm(197, 768, 1e-6, 2)
    test_layernorm(5, 64, 1e-5, 1)
    print("matmul", flush=True)
    test_matmul(37, 65, 33, True, 1)
    test_matmul(37, 65, 33, False, 2)
    test_matmul(197, 768, 768, True, 2)           # large enough to split among threads
    test_matmul(50, 147, 96, True, 2, want_dinp=False)
    print("activations", flush=True)
    for act in ACT:
        test_bias_activation(act, 37, 130, 2)
    test_swiglu(37, 48, 2)
    test_swiglu(3, 5, 1)
    print("residual", flush=True)
    test_residual(37, 65, True, 2)
    test_residual(37, 65, False, 1)
    print("softmax / attention", flush=True)
    test_softmax(37, 50, 2)
    test_attention(2, 17, 48, 4, 2)
    test_attention(3, 5, 12, 3, 1)
    test_attention(1, 197, 768, 12, 2)           # ViT-B/16 shape
    print("patch conv / embeddings", flush=True)
    test_patch_conv(2, 3, 32, 48, 16, 40, False, 2)  # CLIP: no bias
    test_patch_conv(2, 3, 28, 42, 14, 24, True, 2)   # DINOv2: bias
    test_embeddings(2, 0, 6, 20, 2)
    test_embeddings(3, 4, 9, 33, 2)
    print("position-embedding interpolation", flush=True)
    for aa in (0, 1):
        test_interpolate(5, 5, 8, 8, 3, aa)     # up
        test_interpolate(9, 9, 4, 6, 2, aa)     # down, non-square
        test_interpolate(37, 37, 16, 16, 4, aa)  # DINOv2 trained grid to 224/14
        test_interpolate(6, 6, 6, 6, 2, aa)      # same size
    test_dinov2_pos(4, 8, 56, 56, 14, 0)        # grid matches: copied
    test_dinov2_pos(4, 8, 70, 42, 14, 0)
    test_dinov2_pos(4, 8, 84, 84, 14, 1)
    print("loss", flush=True)
    test_l2norm_cosine(7, 33)
    test_loss(8, 64, 1.0)
    test_loss(3, 512, 0.5)
    print("adamw / schedule", flush=True)
    test_adamw(1000, 1e-3, (0.9, 0.999), 1e-8, 0.01)
    test_adamw(257, 3e-2, (0.8, 0.95), 1e-6, 0.1)
    test_adamw(64, 1e-4, (0.9, 0.999), 1e-8, 0.0)
    test_schedule(100, 10, 1e-3, 0.0)
    test_schedule(37, 5, 3e-4, 1e-5)
    print("whole tower", flush=True)
    test_vit("clip", VIT_CLIP, 2)
    test_vit("clip last layer only", VIT_CLIP, 2, first_layer=1)
    test_vit("dinov2 registers cls+mean", VIT_DINO_REG, 2)
    test_vit("dinov2 swiglu", VIT_DINO_SWIGLU, 3)
    test_vit("ViT-B/16 shapes, 1 layer", VIT_B16_ONE_LAYER, 1)
    print(f"worst relative error {worst['rel']:.2e} ({worst['what']}); "
          f"{time.time() - t0:.1f} s", flush=True)
    ck.finish()


if __name__ == "__main__":
    main()
