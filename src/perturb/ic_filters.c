/* The library filters of the ImageNet-C reference, arithmetic for arithmetic: the same
 * operations in the same order in the same precision as scipy.ndimage 1.10, OpenCV 4.6 and
 * NumPy compute them, so that the uint8 results agree bit for bit wherever the reference
 * itself is deterministic. Loops that vectorise run across independent outputs only; the
 * order of the terms within one output is always the reference's. */
/* Separate roundings, as NumPy's ufuncs compute: no contraction to fused multiply-adds
 * (GCC's default in ISO C mode; clang's must be switched off). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include "perturb/ic_filters.h"

/* The loops below run across independent outputs, so vectorising them (which -O2 leaves
 * to a very cheap cost model) keeps every result bit for bit; contraction to fused
 * multiply-adds stays off (ISO C mode), as the reference's arithmetic needs. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/ic_ops.h"
#include "perturb/ic_taps.h"
#include "perturb/np_random.h"

static int oom(vfr_error *err, const char *what) {
  return vfr_fail(err, VFR_ENOMEM, "imagenet-c: out of memory for %s", what);
}

/* malloc of at least `bytes` at a 64-byte boundary (whole cache lines: the vector kernels'
 * loads of aligned rows then never straddle two lines); released with free. */
static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

/* ---- NumPy ------------------------------------------------------------------------ */

double vfr_icf_np_sum(const double *a, size_t n) {
  if (n < 8) {
    double res = 0.0;
    for (size_t i = 0; i < n; i++) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    size_t i;
    for (int j = 0; j < 8; j++) r[j] = a[j];
    for (i = 8; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return vfr_icf_np_sum(a, n2) + vfr_icf_np_sum(a + n2, n - n2);
}

void vfr_icf_to_unit(const vfr_image *in, double *dst) {
  size_t row = (size_t)in->width * 3;
  double unit[256]; /* v / 255., looked up instead of divided */
  vfr_ic_unit_table(unit);
  for (int y = 0; y < in->height; y++) {
    const uint8_t *s = in->data + (size_t)y * in->stride;
    double *d = dst + (size_t)y * row;
    vfr_ict_unit_row(d, s, row, unit);
  }
}

void vfr_icf_store_unit(const double *v, vfr_image *out) {
  size_t row = (size_t)out->width * 3;
  for (int y = 0; y < out->height; y++)
    vfr_ict_store_unit_row(out->data + (size_t)y * out->stride, v + (size_t)y * row, row);
}

/* np.exp of a float64 array as NumPy 1.24 computes it on x86-64 with AVX512_SKX (the
 * machines the reference runs on), where the ufunc calls the vector math library SVML's
 * 8-lane double exp: N = x*log2(e) rounded toward zero to 1/16, r = x - N ln2 in two
 * fused steps, exp(r) - 1 by a degree-6 polynomial in fused multiply-adds, times
 * 2^(frac N) from a 16-entry table, scaled by 2^floor(N). It differs from the C library's
 * exp in the last bit for some arguments, which moves a Gaussian kernel's weights and so
 * the truncated uint8 of flat regions; the filters use it wherever the reference calls
 * np.exp. Arguments beyond |x| >= 707.7 (never reached by the kernels) take the C exp. */
static double np_exp(double x) {
  static const uint64_t table_bits[16] = {
      0x3ff0000000000000, 0x3ff0b5586cf9890f, 0x3ff172b83c7d517b, 0x3ff2387a6e756238,
      0x3ff306fe0a31b715, 0x3ff3dea64c123422, 0x3ff4bfdad5362a27, 0x3ff5ab07dd485429,
      0x3ff6a09e667f3bcd, 0x3ff7a11473eb0187, 0x3ff8ace5422aa0db, 0x3ff9c49182a3f090,
      0x3ffae89f995ad3ad, 0x3ffc199bdd85529c, 0x3ffd5818dcfba487, 0x3ffea4afa2a490da};
  if (!(fabs(x) < 0x1.61da04cbafe44p+9)) return exp(x);
  const double log2e = 0x1.71547652b82fep+0;
  /* 16 N = floor(16 x log2e) of the exact product (the shifter's round-toward-zero) */
  double ph = x * log2e, pl = fma(x, log2e, -ph);
  double a = ph * 16.0, b = pl * 16.0, fa = floor(a);
  double n16 = (a == fa && b < 0.0) ? fa - 1.0 : fa;
  double n = n16 / 16.0;
  int j = (int)((long long)n16 & 15);
  double r = fma(-n, 0x1.62e42fefa39efp-1, x);
  r = fma(-0x1.abc9e3b39803fp-56, n, r);
  const double c2 = 0x1.0000000002622p-1, c3 = 0x1.5555554b508a2p-3,
               c4 = 0x1.555564bb4f5f0p-5, c5 = 0x1.1106603d97c00p-7,
               c6 = 0x1.72eb5ef0d213dp-10;
  double r2 = r * r;
  double p56 = fma(c6, r, c5);
  double p34 = fma(c4, r, c3);
  double r3 = r2 * r;
  double p12 = fma(r2, c2, r);
  double p36 = fma(r2, p56, p34);
  double p16 = fma(r3, p36, p12);
  double th;
  memcpy(&th, &table_bits[j], sizeof th);
  return ldexp(fma(th, p16, th), (int)floor(n));
}

/* ---- scipy.ndimage gaussian_filter -------------------------------------------------- */

int vfr_icf_gauss_radius(double sigma, double truncate) { return (int)(truncate * sigma + 0.5); }

int vfr_icf_gauss_kernel(double sigma, int radius, double *k, vfr_error *err) {
  int n = 2 * radius + 1;
  double *phi = calloc((size_t)n, sizeof(double));
  if (!phi) return oom(err, "a Gaussian kernel");
  double sigma2 = sigma * sigma, c = -0.5 / sigma2;
  for (int i = 0; i < n; i++) {
    long long x = i - radius;
    phi[i] = np_exp(c * (double)(x * x));
  }
  double sum = vfr_icf_np_sum(phi, (size_t)n);
  for (int d = 0; d <= radius; d++) k[d] = phi[radius + d] / sum;
  free(phi);
  return VFR_OK;
}

/* The source index that position i (possibly outside 0..n-1) reads in mode (the line
 * extension of scipy's correlate1d). */
static int extend_index(int i, int n, ic_mode mode) {
  if (i >= 0 && i < n) return i;
  if (mode != IC_MODE_REFLECT || n == 1) return i < 0 ? 0 : n - 1;
  int p = 2 * n, m = i % p;
  if (m < 0) m += p;
  return m < n ? m : p - 1 - m;
}

/* correlate1d along axis 0 of an (h, rowlen) array: each output row is one symmetric
 * tap row (ic_taps.h) over the rows y - d and y + d as the mode extends them. lo, hi hold
 * r + 1 pointers. */
static void correlate_axis0(const double *src, double *dst, int h, size_t rowlen,
                            const double *k, int r, ic_mode mode, int f32, const double **lo,
                            const double **hi) {
  for (int y = 0; y < h; y++) {
    for (int d = 1; d <= r; d++) {
      lo[d] = src + (size_t)extend_index(y - d, h, mode) * rowlen;
      hi[d] = src + (size_t)extend_index(y + d, h, mode) * rowlen;
    }
    vfr_ict_symm_row(dst + (size_t)y * rowlen, rowlen, src + (size_t)y * rowlen, r, lo, hi, k,
                     f32);
  }
}

/* The symmetric tap pointers around centre p, taps d*c apart. */
static void symm_taps(const double *p, int r, int c, const double **lo, const double **hi) {
  for (int d = 1; d <= r; d++) {
    lo[d] = p - (size_t)d * c;
    hi[d] = p + (size_t)d * c;
  }
}

/* correlate1d along axis 1 (w pixels of c values per row); pad holds (w + 2r)*c. The
 * outputs whose taps all lie inside the row read it in place; the r at each end read a
 * copy of their 3r source pixels as the mode extends them (the whole row when w <= 2r). */
static void correlate_axis1(const double *src, double *dst, int h, int w, int c,
                            const double *k, int r, ic_mode mode, int f32, double *pad,
                            const double **lo, const double **hi) {
  size_t rowlen = (size_t)w * (size_t)c;
  const double *p = pad + (size_t)r * c;
  for (int y = 0; y < h; y++) {
    const double *s = src + (size_t)y * rowlen;
    double *o = dst + (size_t)y * rowlen;
    if (w <= 2 * r) {
      for (int x = -r; x < w + r; x++) {
        const double *sp = s + (size_t)extend_index(x, w, mode) * c;
        for (int ch = 0; ch < c; ch++) pad[(size_t)(x + r) * c + ch] = sp[ch];
      }
      symm_taps(p, r, c, lo, hi);
      vfr_ict_symm_row(o, rowlen, p, r, lo, hi, k, f32);
      continue;
    }
    for (int side = 0; side < 2; side++) { /* outputs x0 .. x0 + r - 1 */
      int x0 = side == 0 ? 0 : w - r;
      for (int x = x0 - r; x < x0 + 2 * r; x++) {
        const double *sp = s + (size_t)extend_index(x, w, mode) * c;
        for (int ch = 0; ch < c; ch++) pad[(size_t)(x - x0 + r) * c + ch] = sp[ch];
      }
      symm_taps(p, r, c, lo, hi);
      vfr_ict_symm_row(o + (size_t)x0 * c, (size_t)r * c, p, r, lo, hi, k, f32);
    }
    const double *mid = s + (size_t)r * c;
    symm_taps(mid, r, c, lo, hi);
    vfr_ict_symm_row(o + (size_t)r * c, (size_t)(w - 2 * r) * c, mid, r, lo, hi, k, f32);
  }
}

int vfr_icf_gaussian_filter(double *img, int h, int w, int c, double sigma_y, double sigma_x,
                            double truncate, ic_mode mode, int f32, vfr_error *err) {
  size_t n = (size_t)h * w * c;
  double sig[2] = {sigma_y, sigma_x};
  int rmax = 0;
  for (int a = 0; a < 2; a++) {
    int r = vfr_icf_gauss_radius(sig[a], truncate);
    if (r > rmax) rmax = r;
  }
  double *tmp = malloc(n * sizeof(double));
  double *k = malloc((size_t)(rmax + 1) * sizeof(double));
  double *pad = malloc(((size_t)w + 2 * (size_t)rmax) * c * sizeof(double));
  const double **lo = malloc((size_t)(rmax + 1) * sizeof(double *));
  const double **hi = malloc((size_t)(rmax + 1) * sizeof(double *));
  if (!tmp || !k || !pad || !lo || !hi) {
    free(tmp), free(k), free(pad), free(lo), free(hi);
    return oom(err, "a Gaussian filter");
  }
  int rc = VFR_OK;
  double *cur = img, *next = tmp; /* the passes alternate between the two arrays */
  for (int a = 0; a < 2 && rc == VFR_OK; a++) {
    if (!(sig[a] > 1e-15)) continue;
    int r = vfr_icf_gauss_radius(sig[a], truncate);
    rc = vfr_icf_gauss_kernel(sig[a], r, k, err);
    if (rc) break;
    if (a == 0)
      correlate_axis0(cur, next, h, (size_t)w * c, k, r, mode, f32, lo, hi);
    else
      correlate_axis1(cur, next, h, w, c, k, r, mode, f32, pad, lo, hi);
    double *t = cur;
    cur = next;
    next = t;
  }
  if (cur != img) memcpy(img, cur, n * sizeof(double));
  free(tmp), free(k), free(pad), free(lo), free(hi);
  return rc;
}

/* Axis-0 outputs of rows y0 .. y0 + m - 1 into band (m, rowlen), a strip of columns at a
 * time: the m + 2r source rows a strip reads (m + 2r) * ICF_STRIP doubles stay in the L1
 * cache for all m outputs, where whole rows (2r + 1 of 5 KB and more) would be fetched
 * again for every output row. Source row i is row i mod nring of ring (nring, rowlen);
 * rows holds m + 2r pointers (the rows y0 - r .. y0 + m - 1 + r as the mode extends
 * them), lo and hi r + 1; band's rows are bstride apart. Each value is the same symmetric
 * tap sum as correlate_axis0's. */
#define ICF_STRIP 128
static void correlate_axis0_band(const double *ring, int nring, double *band, size_t bstride,
                                 int y0, int m, int h, size_t rowlen, const double *k, int r,
                                 ic_mode mode, const double **rows, const double **lo,
                                 const double **hi) {
  for (int t = 0; t < m + 2 * r; t++)
    rows[t] = ring + (size_t)(extend_index(y0 - r + t, h, mode) % nring) * rowlen;
  for (size_t q0 = 0; q0 < rowlen; q0 += ICF_STRIP) {
    size_t len = rowlen - q0 < ICF_STRIP ? rowlen - q0 : ICF_STRIP;
    for (int j = 0; j < m; j++) {
      const double *const *c = rows + j + r; /* output row y0 + j's source row */
      for (int d = 1; d <= r; d++) lo[d] = c[-d] + q0, hi[d] = c[d] + q0;
      vfr_ict_symm_row(band + (size_t)j * bstride + q0, len, c[0] + q0, r, lo, hi, k, 0);
    }
  }
}

/* correlate1d along axis 1 of one row of w pixels of c values held at row + r c, with r
 * pixels of room on each side, which are filled as the mode extends the row: then every
 * output reads its taps in place, and the whole row is one symmetric tap row (the
 * values of correlate_axis1's). */
static void correlate_row_extended(double *row, double *o, int w, int c, const double *k, int r,
                                   ic_mode mode, const double **lo, const double **hi) {
  double *p = row + (size_t)r * c; /* pixel 0 */
  for (int x = -r; x < 0; x++)
    memcpy(p + (ptrdiff_t)x * c, p + (size_t)extend_index(x, w, mode) * c, (size_t)c * sizeof(double));
  for (int x = w; x < w + r; x++)
    memcpy(p + (size_t)x * c, p + (size_t)extend_index(x, w, mode) * c, (size_t)c * sizeof(double));
  symm_taps(p, r, c, lo, hi);
  vfr_ict_symm_row(o, (size_t)w * c, p, r, lo, hi, k, 0);
}

/* skimage's gaussian of x = v / 255. stored as bytes, a band of ICF_BAND output rows at a
 * time: the source rows are converted once each into a ring of ICF_BAND + 2r rows (all a
 * band reads: rows y0 - r .. y0 + ICF_BAND - 1 + r, clamped), the band's axis-0 outputs
 * (correlate_axis0_band) go to a band buffer, each of its rows' axis-1 pass to a row
 * buffer, stored as bytes at once. Every value is computed by the same calls on the same
 * values as the whole-image passes, so the bytes are those of vfr_icf_to_unit,
 * vfr_icf_gaussian_filter (mode nearest, truncate 4) and vfr_icf_store_unit; nothing
 * image-sized is allocated and the working set stays in cache. */
#define ICF_BAND 8
int vfr_icf_skimage_gaussian_u8(const uint8_t *src, size_t src_stride, int h, int w,
                                double sigma, uint8_t *dst, size_t dst_stride, vfr_error *err) {
  size_t rowlen = (size_t)w * 3;
  int skip = !(sigma > 1e-15); /* both passes skipped, as gaussian_filter skips them */
  int r = skip ? 0 : vfr_icf_gauss_radius(sigma, 4.0);
  int nring = ICF_BAND + 2 * r;
  size_t padlen = ((size_t)w + 2 * (size_t)r) * 3;
  double *buf = alloc64(
      (((size_t)nring + 1) * rowlen + (ICF_BAND + 1) * padlen + (size_t)r + 1) * sizeof(double));
  /* lo (r + 1), hi (r + 1), rows (ICF_BAND + 2r) */
  const double **lo = malloc(((size_t)2 * (r + 1) + ICF_BAND + 2 * (size_t)r) * sizeof(double *));
  if (!buf || !lo) {
    free(buf), free(lo);
    return oom(err, "a Gaussian filter");
  }
  const double **hi = lo + r + 1, **rows = hi + r + 1;
  /* buf: the ring (nring, rowlen), the band's axis-0 rows (ICF_BAND, padlen: each row
   * with r pixels of room on each side), one axis-1 row (rowlen), the kernel (r + 1) */
  double *ring = buf, *band = ring + (size_t)nring * rowlen, *out = band + ICF_BAND * padlen;
  double *k = out + rowlen;
  double unit[256]; /* v / 255. */
  vfr_ic_unit_table(unit);
  int rc = skip ? VFR_OK : vfr_icf_gauss_kernel(sigma, r, k, err);
  int next = 0; /* the next source row to convert */
  for (int y0 = 0; y0 < h && rc == VFR_OK; y0 += ICF_BAND) {
    int m = h - y0 < ICF_BAND ? h - y0 : ICF_BAND;
    int last = y0 + m - 1 + r < h - 1 ? y0 + m - 1 + r : h - 1;
    for (; next <= last; next++) /* its slot's row, next - nring < y0 - r, is done with */
      vfr_ict_unit_row(ring + (size_t)(next % nring) * rowlen, src + (size_t)next * src_stride,
                       rowlen, unit);
    if (skip) {
      for (int j = 0; j < m; j++)
        vfr_ict_store_unit_row(dst + (size_t)(y0 + j) * dst_stride,
                               ring + (size_t)((y0 + j) % nring) * rowlen, rowlen);
      continue;
    }
    correlate_axis0_band(ring, nring, band + 3 * (size_t)r, padlen, y0, m, h, rowlen, k, r,
                         IC_MODE_NEAREST, rows, lo, hi);
    for (int j = 0; j < m; j++) {
      correlate_row_extended(band + (size_t)j * padlen, out, w, 3, k, r, IC_MODE_NEAREST, lo, hi);
      vfr_ict_store_unit_row(dst + (size_t)(y0 + j) * dst_stride, out, rowlen);
    }
  }
  free(buf), free(lo);
  return rc;
}

/* ---- OpenCV: GaussianBlur of the disk, filter2D ------------------------------------- */

/* cv::getGaussianKernel(n, sigma, CV_32F) (its bit-exact construction, n odd). */
static void cv_gaussian_kernel(int n, double sigma, float *kout) {
  double scale2x = -0.125 / (sigma * sigma);
  int n2 = (n - 1) / 2;
  double values[16], res[33];
  double sum = 0.0;
  for (int i = 0, x = 1 - n; i < n2; i++, x += 2) {
    double t = exp((double)(x * x) * scale2x);
    values[i] = t;
    sum += t;
  }
  sum *= 2.0;
  sum += 1.0;
  double mul1 = 1.0 / sum;
  for (int i = 0; i < n2; i++) {
    double t = values[i] * mul1;
    res[i] = t;
    res[n - 1 - i] = t;
  }
  res[n2] = 1.0 * mul1;
  for (int i = 0; i < n; i++) kout[i] = (float)res[i];
}

static int reflect101(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
  }
  return i;
}

/* One output of OpenCV's symmetric small separable filter in float32 (4.6 on x86-64, the
 * AVX2 code with fused multiply-adds): s = fma(x[-d] + x[d], k[d], ...) from d = 1
 * outwards over x*k[0]; the 3-tap row pass instead computes fma(x, k[0], (x[-1] + x[1])*k[1]).
 * (Checked against cv2.GaussianBlur on every disk the reference builds.) */
static float cv_symm_f32(const float *x, ptrdiff_t step, const float *kc, int half, int row3) {
  if (row3) return fmaf(x[0], kc[0], (x[-step] + x[step]) * kc[1]);
  float s = x[0] * kc[0];
  for (int d = 1; d <= half; d++) s = fmaf(x[-d * step] + x[d * step], kc[d], s);
  return s;
}

int vfr_icf_disk_kernel(int radius, double alias_blur, float *k) {
  int big = radius <= 8 ? 8 : radius;
  int n = 2 * big + 1, ks = radius <= 8 ? 3 : 5, half = ks / 2;
  long long r2 = (long long)radius * radius;
  int count = 0;
  for (int y = -big; y <= big; y++)
    for (int x = -big; x <= big; x++) count += (long long)x * x + (long long)y * y <= r2;
  float fc = (float)count;
  float disk[41 * 41], rows[41 * 45];
  for (int y = -big; y <= big; y++)
    for (int x = -big; x <= big; x++)
      disk[(y + big) * n + (x + big)] = ((long long)x * x + (long long)y * y <= r2 ? 1.0f : 0.0f) / fc;
  float g[5], kc[3];
  cv_gaussian_kernel(ks, alias_blur, g);
  for (int d = 0; d <= half; d++) kc[d] = g[half + d];
  /* rows: each row extended by BORDER_REFLECT_101, then the horizontal pass */
  float line[41 + 4];
  for (int y = 0; y < n; y++) {
    for (int x = -half; x < n + half; x++) line[x + half] = disk[y * n + reflect101(x, n)];
    for (int x = 0; x < n; x++) rows[y * n + x] = cv_symm_f32(line + x + half, 1, kc, half, half == 1);
  }
  /* columns, the rows extended the same way */
  float col[41 + 4];
  for (int x = 0; x < n; x++) {
    for (int y = -half; y < n + half; y++) col[y + half] = rows[reflect101(y, n) * n + x];
    for (int y = 0; y < n; y++) k[y * n + x] = cv_symm_f32(col + y + half, 1, kc, half, 0);
  }
  return big;
}

/* The nonzero taps of a (ks, ks) kernel in row-major order: ti, tj (the tap's kernel row and
 * column), kv (its weight widened to double), and unless row_end is NULL the kernel rows
 * that hold taps, row r's ending before row_end[r] (*nr of them). Returns the tap count. */
static int filter2d_taps(const float *kernel, int ks, int *ti, int *tj, double *kv, int *row_end,
                         int *nr) {
  int nt = 0;
  *nr = 0;
  for (int i = 0; i < ks; i++) {
    int first = nt;
    for (int j = 0; j < ks; j++)
      if (kernel[i * ks + j] != 0.0f) {
        ti[nt] = i, tj[nt] = j, kv[nt] = (double)kernel[i * ks + j];
        nt++;
      }
    if (nt > first && row_end) row_end[(*nr)++] = nt;
  }
  return nt;
}

int vfr_icf_filter2d_reflect101(const double *src, int h, int w, int c, const float *kernel,
                                int ks, double *dst, vfr_error *err) {
  int a = ks / 2;
  size_t pw = ((size_t)w + 2 * (size_t)a) * c, rowlen = (size_t)w * c;
  double *pad = malloc(pw * ((size_t)h + 2 * (size_t)a) * sizeof(double));
  double *kv = malloc((size_t)ks * ks * sizeof(double));
  int *ti = malloc((size_t)ks * ks * sizeof(int)), *tj = malloc((size_t)ks * ks * sizeof(int));
  const double **rows = malloc((size_t)ks * ks * sizeof(double *));
  if (!pad || !kv || !ti || !tj || !rows) {
    free(pad), free(kv), free(ti), free(tj), free(rows);
    return oom(err, "filter2D");
  }
  /* the image with an a-pixel BORDER_REFLECT_101 frame: pad[(y + a)*pw + (x + a)*c + ch] */
  for (int y = -a; y < h + a; y++) {
    const double *s = src + (size_t)reflect101(y, h) * rowlen;
    double *p = pad + (size_t)(y + a) * pw;
    for (int x = -a; x < w + a; x++)
      for (int ch = 0; ch < c; ch++) p[(size_t)(x + a) * c + ch] = s[(size_t)reflect101(x, w) * c + ch];
  }
  int nr, nt = filter2d_taps(kernel, ks, ti, tj, kv, NULL, &nr);
  /* each output sums 0.0 + its nonzero taps in row-major order, every channel alike */
  for (int y = 0; y < h; y++) {
    for (int t = 0; t < nt; t++) rows[t] = pad + (size_t)(y + ti[t]) * pw + (size_t)tj[t] * c;
    vfr_ict_sum_row(dst + (size_t)y * rowlen, rowlen, nt, rows, 0, kv);
  }
  free(pad), free(kv), free(ti), free(tj), free(rows);
  return VFR_OK;
}

int vfr_icf_filter2d_unit_u8(const vfr_image *in, const float *kernel, int ks, vfr_image *out,
                             vfr_error *err) {
  int a = ks / 2, h = in->height, w = in->width, c = 3;
  size_t pw = ((size_t)w + 2 * (size_t)a) * c, rowlen = (size_t)w * c, nk = (size_t)ks * ks;
  double *kv = malloc(nk * sizeof(double));
  float *kf = malloc(nk * sizeof(float));
  int *ti = malloc(nk * sizeof(int)), *tj = malloc(nk * sizeof(int)), *row_end = malloc((size_t)ks * sizeof(int));
  if (!kv || !kf || !ti || !tj || !row_end) {
    free(kv), free(kf), free(ti), free(tj), free(row_end);
    return oom(err, "filter2D");
  }
  int nr, nt = filter2d_taps(kernel, ks, ti, tj, kv, row_end, &nr);
  float margin = vfr_ict_sum_unit_prepare(nt, nr, row_end, kv, kf);
  int rc = VFR_OK;
  if (margin < 0.0f) { /* no fast path: the double sums, then the bytes */
    double *x = malloc((size_t)h * rowlen * sizeof(double)), *y = malloc((size_t)h * rowlen * sizeof(double));
    rc = x && y ? VFR_OK : oom(err, "filter2D");
    if (!rc) vfr_icf_to_unit(in, x);
    if (!rc) rc = vfr_icf_filter2d_reflect101(x, h, w, c, kernel, ks, y, err);
    if (!rc) vfr_icf_store_unit(y, out);
    free(x), free(y);
  } else {
    /* the bytes as floats with an a-pixel BORDER_REFLECT_101 frame:
     * pad[(y + a)*pw + (x + a)*c + ch]; each output row's taps point into it */
    float *pad = malloc(pw * ((size_t)h + 2 * (size_t)a) * sizeof(float));
    const float **rows = malloc((size_t)nt * sizeof(float *));
    double unit[256];
    vfr_ic_unit_table(unit);
    rc = pad && rows ? VFR_OK : oom(err, "filter2D");
    for (int y = -a; !rc && y < h + a; y++) {
      const uint8_t *s = in->data + (size_t)reflect101(y, h) * in->stride;
      float *p = pad + (size_t)(y + a) * pw;
      vfr_ict_u8_to_f32(p + (size_t)a * c, s, rowlen);
      for (int x = 1; x <= a; x++)
        for (int ch = 0; ch < c; ch++) {
          p[(size_t)(a - x) * c + ch] = (float)s[(size_t)reflect101(-x, w) * c + ch];
          p[(size_t)(a + w - 1 + x) * c + ch] = (float)s[(size_t)reflect101(w - 1 + x, w) * c + ch];
        }
    }
    for (int y = 0; !rc && y < h; y++) {
      for (int t = 0; t < nt; t++) rows[t] = pad + (size_t)(y + ti[t]) * pw + (size_t)tj[t] * c;
      vfr_ict_sum_unit_row(out->data + (size_t)y * out->stride, rowlen, nt, nr, row_end, rows, 0, kv,
                           kf, margin, unit);
    }
    free(pad), free(rows);
  }
  free(kv), free(kf), free(ti), free(tj), free(row_end);
  return rc;
}

/* ---- motion blur ------------------------------------------------------------------ */

#define MB_STRIP 128 /* output values of a column strip */

/* The reference's taps for an image of h x w: the weights (gauss_function(np.arange(width),
 * 0, sigma) over their sum) and the shifts of the first nt of them, up to the first shift
 * as large as the image, where it stops; pad = max |dx|. */
typedef struct mb_taps {
  int nt, pad;
  double *kern;   /* (width) */
  int *dys, *dxs; /* (width) */
} mb_taps;

static void mb_taps_free(mb_taps *tp) { free(tp->kern), free(tp->dys), free(tp->dxs); }

static int mb_taps_make(int h, int w, int radius, double sigma, double angle_deg, mb_taps *tp,
                        vfr_error *err) {
  int width = 2 * radius + 1;
  tp->kern = calloc((size_t)width, sizeof(double));
  tp->dys = malloc((size_t)width * sizeof(int)), tp->dxs = malloc((size_t)width * sizeof(int));
  if (!tp->kern || !tp->dys || !tp->dxs) {
    mb_taps_free(tp);
    return oom(err, "a motion-blur kernel");
  }
  double denom = 2.0 * (sigma * sigma), norm = sqrt(2.0 * M_PI) * sigma;
  for (int i = 0; i < width; i++) tp->kern[i] = np_exp((double)(-(long long)i * i) / denom) / norm;
  double z = vfr_icf_np_sum(tp->kern, (size_t)width);
  for (int i = 0; i < width; i++) tp->kern[i] /= z;
  double rad = angle_deg * (M_PI / 180.0);
  double p0 = width * sin(rad), p1 = width * cos(rad);
  double hyp = hypot(p0, p1);
  tp->nt = 0, tp->pad = 0;
  for (int i = 0; i < width; i++) {
    int dy = -(int)ceil((i * p0) / hyp - 0.5);
    int dx = -(int)ceil((i * p1) / hyp - 0.5);
    if (abs(dy) >= h || abs(dx) >= w) break;
    tp->dys[tp->nt] = dy, tp->dxs[tp->nt] = dx, tp->nt++;
    if (abs(dx) > tp->pad) tp->pad = abs(dx);
  }
  return VFR_OK;
}

/* shift(): tap i reads in[clamp(y - dy), clamp(x - dx)]. The outputs x in [pad, w - pad)
 * read inside every row; the pad outputs at each end read strips of 3 pad columns, the
 * rows extended by edge pixels: left[y][(x + pad)*c] = in[y][clamp(x)], x in [-pad, 2 pad),
 * right[y][(x - w + 2 pad)*c] = in[y][clamp(x)], x in [w - 2 pad, w + pad). Narrow images
 * (w <= 2 pad) use one strip of the whole row, x in [-pad, w + pad). The geometry: */
typedef struct mb_strips {
  int whole;          /* one strip of the whole row */
  size_t rowlen;      /* w * c values of a source row */
  size_t srow;        /* values of a strip row */
} mb_strips;

static mb_strips mb_strips_of(int w, int c, int pad, int whole) {
  mb_strips g;
  g.whole = whole || w <= 2 * pad;
  g.rowlen = (size_t)w * c;
  g.srow = (g.whole ? (size_t)w + 2 * (size_t)pad : 3 * (size_t)pad) * c;
  return g;
}

/* The strips of an (h, w, c) array of T values into strip (2, h, srow); one function per
 * element type, so that the edge pixels are copied value by value rather than by calls. */
#define MB_STRIPS_FILL(NAME, T)                                                                \
  static void NAME(const T *src, int h, int w, int c, int pad, const mb_strips *g, T *strip) { \
    size_t scols = g->srow / c;                                                                \
    for (int y = 0; y < h; y++) {                                                              \
      const T *s = src + (size_t)y * g->rowlen;                                                \
      for (int side = 0; side < (g->whole ? 1 : 2); side++) {                                  \
        int x0 = g->whole || side == 0 ? -pad : w - 2 * pad;                                   \
        T *e = strip + ((size_t)side * h + y) * g->srow;                                       \
        /* columns j: x = x0 + j below 0 repeat pixel 0, inside the row are one copy, at or    \
         * beyond w repeat pixel w - 1 */                                                      \
        size_t j = 0, inside_end = x0 + (long)scols <= w ? scols : (size_t)(w - x0);           \
        for (; j < scols && x0 + (long)j < 0; j++)                                             \
          for (int ch = 0; ch < c; ch++) e[j * c + ch] = s[ch];                                \
        if (j < inside_end) {                                                                  \
          memcpy(e + j * c, s + (size_t)(x0 + (long)j) * c, (inside_end - j) * c * sizeof(T)); \
          j = inside_end;                                                                      \
        }                                                                                      \
        for (; j < scols; j++)                                                                 \
          for (int ch = 0; ch < c; ch++) e[j * c + ch] = s[(size_t)(w - 1) * c + ch];          \
      }                                                                                        \
    }                                                                                          \
  }
MB_STRIPS_FILL(mb_strips_fill_f64, double)
MB_STRIPS_FILL(mb_strips_fill_f32, float)

/* The blur of src (h, w, c) values of es bytes (doubles, or with kf floats) into dst (h, w,
 * c) doubles, or with dst NULL into u8 as np.uint8(np.clip(y, 0, 255)) (c = 3). Each output
 * is 0.0 + kern[0]*tap 0 + kern[1]*tap 1 + ..., as the reference accumulates; with kf (the
 * weights as floats, vfr_ict_sum_255_prepare's margin) the u8 values come from the float
 * sums with the exact one where truncation could differ (vfr_ict_sum_255_row). A strip of
 * MB_STRIP columns at a time down all rows, so that the source rows a strip's outputs read
 * (the taps lie along a line of up to 2 radius + 1 rows) stay in the L1 cache from one
 * output row to the next, where whole rows would not. */
static int motion_blur(const void *src, size_t es, int padded, int h, int w, int c,
                       const mb_taps *tp, const float *kf, float margin, double *dst,
                       uint8_t *u8, size_t u8_stride, vfr_error *err) {
  int nt = tp->nt, pad = tp->pad;
  /* the float sums take whole padded rows: their kernel runs best on long rows (blocks of
   * 128 values), where the three parts would leave two short ones. padded: src is already
   * that strip, (h, w + 2 pad, c) */
  mb_strips g = mb_strips_of(w, c, pad, kf != NULL || padded);
  size_t nstrip = g.srow * (size_t)h;
  /* (h, nt) tap pointers, stored with the element type the kernels read them as: double *
   * or float * (malloc'd storage takes the type it is written with) */
  void *rows = malloc((size_t)nt * (size_t)h * (es == sizeof(float) ? sizeof(float *) : sizeof(double *)));
  char *strip = malloc((padded ? 0 : nstrip * 2 * es) + MB_STRIP * sizeof(double));
  if (!rows || !strip) {
    free(rows), free(strip);
    return oom(err, "a motion blur");
  }
  double *sums = (double *)(void *)(strip + (padded ? 0 : nstrip * 2 * es)); /* (MB_STRIP) */
  if (padded)
    ;
  else if (es == sizeof(float))
    mb_strips_fill_f32(src, h, w, c, pad, &g, (float *)(void *)strip);
  else
    mb_strips_fill_f64(src, h, w, c, pad, &g, (double *)(void *)strip);
  for (int part = 0; part < (g.whole ? 1 : 3); part++) {
    /* part 0: the left strip's outputs (all of them when whole), 1: the right's, 2: the
     * middle, read in place */
    int x0 = part == 0 ? 0 : (part == 1 ? w - pad : pad);
    int nx = g.whole ? w : (part == 2 ? w - 2 * pad : pad);
    if (nx <= 0) continue;
    /* output row y's taps: rows[y * nt + t], source row y - dy clamped */
    const char *base = part == 2 || padded ? (const char *)src : strip + (part == 1 ? nstrip * es : 0);
    size_t stride = part == 2 ? g.rowlen : g.srow;
    for (int y = 0; y < h; y++)
      for (int t = 0; t < nt; t++) {
        int sy = y - tp->dys[t];
        sy = sy < 0 ? 0 : (sy >= h ? h - 1 : sy);
        const char *at = base + ((size_t)sy * stride + (size_t)(pad - tp->dxs[t]) * c) * es;
        size_t i = (size_t)y * nt + t;
        if (es == sizeof(float))
          ((const float **)rows)[i] = (const float *)(const void *)at;
        else
          ((const double **)rows)[i] = (const double *)(const void *)at;
      }
    size_t len_all = (size_t)nx * c;
    for (size_t q0 = 0; q0 < len_all; q0 += MB_STRIP) {
      size_t len = len_all - q0 < MB_STRIP ? len_all - q0 : MB_STRIP;
      for (int y = 0; y < h; y++) {
        const float *const *tf = (const float *const *)rows + (size_t)y * nt;
        const double *const *td = (const double *const *)rows + (size_t)y * nt;
        uint8_t *d = u8 ? u8 + (size_t)y * u8_stride + (size_t)x0 * c + q0 : NULL;
        if (kf) {
          vfr_ict_sum_255_row(d, len, nt, tf, q0, tp->kern, kf, margin);
        } else if (dst) {
          vfr_ict_sum_row(dst + (size_t)y * g.rowlen + (size_t)x0 * c + q0, len, nt, td, q0,
                          tp->kern);
        } else {
          vfr_ict_sum_row(sums, len, nt, td, q0, tp->kern);
          vfr_ict_store_255_row(d, sums, len);
        }
      }
    }
  }
  free(rows), free(strip);
  return VFR_OK;
}

int vfr_icf_motion_blur_plane(const double *src, int h, int w, int c, int radius, double sigma,
                              double angle_deg, double *dst, vfr_error *err) {
  mb_taps tp;
  int rc = mb_taps_make(h, w, radius, sigma, angle_deg, &tp, err);
  if (rc) return rc;
  rc = motion_blur(src, sizeof(double), 0, h, w, c, &tp, NULL, 0.0f, dst, NULL, 0, err);
  mb_taps_free(&tp);
  return rc;
}

int vfr_icf_motion_blur_u8(const uint8_t *src, size_t src_stride, int h, int w, int radius,
                           double sigma, double angle_deg, uint8_t *dst, size_t dst_stride,
                           vfr_error *err) {
  mb_taps tp;
  int rc = mb_taps_make(h, w, radius, sigma, angle_deg, &tp, err);
  if (rc) return rc;
  /* the image's values as floats where the float sums run (the same integers), else as
   * doubles */
  float kf[VFR_ICT_SUM_255_MAX_TAPS];
  float margin = vfr_ict_sum_255_prepare(tp.nt, tp.kern, kf);
  /* floats: straight into the padded rows the float sums read (the edge pixels repeated
   * pad times on each side); doubles: the image as it is */
  int fast = margin > 0.0f, pad = tp.pad;
  size_t rowlen = (size_t)w * 3, es = fast ? sizeof(float) : sizeof(double);
  size_t xrow = fast ? ((size_t)w + 2 * (size_t)pad) * 3 : rowlen;
  void *x = malloc(xrow * (size_t)h * es);
  if (!x) {
    mb_taps_free(&tp);
    return oom(err, "a motion blur");
  }
  for (int r = 0; r < h; r++) {
    const uint8_t *s = src + (size_t)r * src_stride;
    if (fast) {
      float *e = (float *)x + (size_t)r * xrow;
      vfr_ict_u8_to_f32(e + (size_t)pad * 3, s, rowlen);
      for (int j = 0; j < pad; j++)
        for (int ch = 0; ch < 3; ch++) {
          e[(size_t)j * 3 + ch] = (float)s[ch];
          e[((size_t)pad + w + j) * 3 + ch] = (float)s[(size_t)(w - 1) * 3 + ch];
        }
    } else {
      vfr_ict_u8_to_f64((double *)x + (size_t)r * rowlen, s, rowlen);
    }
  }
  rc = motion_blur(x, es, fast, h, w, 3, &tp, fast ? kf : NULL, margin, NULL, dst, dst_stride, err);
  free(x);
  mb_taps_free(&tp);
  return rc;
}

/* ---- scipy.ndimage.zoom, order 1 ---------------------------------------------------- */

/* The two taps of one output index along an axis of n input samples, zoom factor zf
 * (mode 'constant', spline boundary 'mirror'): i0, i1 and the weights; 0 when the
 * coordinate falls beyond the grid (the output is then cval = 0). */
typedef struct zoom_tap {
  int i0, i1, zero;
  double w0, w1;
} zoom_tap;

static zoom_tap zoom_tap_at(int kk, double zf, int n) {
  zoom_tap t = {0, 0, 0, 0.0, 0.0};
  double cc = (double)kk * zf;
  if (cc > n - 1) { /* map_coordinate(constant) -> -1: outside */
    t.zero = 1;
    return t;
  }
  int start = (int)floor(cc);
  t.i0 = start;
  t.i1 = start + 1;
  if (t.i1 >= n) { /* mirror of n -> n - 2 */
    t.i1 = n <= 1 ? 0 : 2 * n - 2 - t.i1;
  }
  double x = cc - floor(cc);
  t.w0 = 1.0 - x;
  t.w1 = 1.0 - t.w0;
  return t;
}

/* The crop and output geometry of clipped_zoom along one axis. */
static void clip_geometry(int n, double z, int *crop, int *top, int *out, double *zf) {
  int ch = (int)ceil((double)n / z);
  *crop = ch;
  *top = (n - ch) / 2;
  *out = (int)nearbyint((double)ch * z); /* Python round(): half to even */
  *zf = *out - 1 != 0 ? (double)(ch - 1) / (double)(*out - 1) : 1.0;
}

/* One output sample of the f32 zoom added to acc: the bilinear sum of source rows r0
 * (weight wy0) and r1 (wy1) at columns o0 (weight wx0) and o1 (wx1 = 1 - wx0, as
 * zoom_tap_at computes it), in scipy's order: 0.0 + a0*wy0*wx0 + b0*wy0*wx1 + a1*wy1*wx0 +
 * b1*wy1*wx1, to float. scipy starts from 0.0; the first product is never -0 (samples and
 * weights >= 0), so 0.0 + it is it. */
static inline void zoom_one_add(float *acc, const float *r0, const float *r1, int o0, int o1,
                                double wx0, double wy0, double wy1) {
  double wx1 = 1.0 - wx0;
  double v = (double)r0[o0] * wy0 * wx0;
  v += (double)r0[o1] * wy0 * wx1;
  v += (double)r1[o0] * wy1 * wx0;
  v += (double)r1[o1] * wy1 * wx1;
  *acc += (float)v;
}

/* One output row of n samples (outputs q read columns o0[q], o1[q]), gathered one by one. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void zoom_row_add_gather(float *restrict acc, size_t n, const float *r0, const float *r1,
                                const int *restrict o0, const int *restrict o1,
                                const double *restrict wx0, double wy0, double wy1) {
  for (size_t q = 0; q < n; q++) zoom_one_add(acc + q, r0, r1, o0[q], o1[q], wx0[q], wy0, wy1);
}

/* The columns both taps of each block of 8 outputs read lie within 16 floats of the row
 * (an output reads one of the next few source samples and its neighbour): per block, the
 * window's first float and the 8 + 8 positions of the o0 and o1 columns in it, so that one
 * load and two permutations per source row gather the block; -1: a block whose columns
 * spread wider is gathered one by one (the partial last block always is). */
typedef struct zoom_perm {
  size_t blocks;
  int *base;     /* (blocks) */
  int32_t *idx;  /* (blocks, 2, 16): o0 - base, then o1 - base, in the low 8 lanes */
} zoom_perm;

static int zoom_perm_make(const int *o0, const int *o1, size_t n, zoom_perm *zp) {
  zp->blocks = n / 8;
  zp->base = malloc((zp->blocks + 1) * sizeof(int));
  zp->idx = calloc((zp->blocks + 1) * 32, sizeof(int32_t));
  if (!zp->base || !zp->idx) return -1;
  for (size_t b = 0; b < zp->blocks; b++) {
    int lo = o0[8 * b], hi = o0[8 * b];
    for (size_t q = 8 * b; q < 8 * b + 8; q++) {
      lo = o0[q] < lo ? o0[q] : lo, hi = o0[q] > hi ? o0[q] : hi;
      lo = o1[q] < lo ? o1[q] : lo, hi = o1[q] > hi ? o1[q] : hi;
    }
    zp->base[b] = hi - lo < 16 ? lo : -1;
    if (hi - lo >= 16) continue;
    for (int j = 0; j < 8; j++) {
      zp->idx[32 * b + j] = o0[8 * b + j] - lo;
      zp->idx[32 * b + 16 + j] = o1[8 * b + j] - lo;
    }
  }
  return 0;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* zoom_row_add_gather eight outputs at a time: a block is loaded whole when its window
 * ends within the `room` floats readable from both r0 and r1. The products and sums are
 * zoom_one_add's, in its order, eight wide (no contraction: separate multiplies). */
__attribute__((target("avx512f"))) static void zoom_row_add_avx512(
    float *acc, size_t n, const float *r0, const float *r1, const int *o0, const int *o1,
    const double *wx0, double wy0, double wy1, const zoom_perm *zp, size_t room) {
  const __m512d y0 = _mm512_set1_pd(wy0), y1 = _mm512_set1_pd(wy1), one = _mm512_set1_pd(1.0);
  const size_t blocks = zp->blocks;
  const int *bases = zp->base;
  const int32_t *idx = zp->idx;
  for (size_t b = 0; b < blocks; b++) {
    size_t q = 8 * b;
    int base = bases[b];
    if (base < 0 || (size_t)base + 16 > room) {
      for (size_t k = q; k < q + 8; k++) zoom_one_add(acc + k, r0, r1, o0[k], o1[k], wx0[k], wy0, wy1);
      continue;
    }
    __m512 s0 = _mm512_loadu_ps(r0 + base), s1 = _mm512_loadu_ps(r1 + base);
    __m512i i0 = _mm512_loadu_si512(idx + 32 * b), i1 = _mm512_loadu_si512(idx + 32 * b + 16);
    __m512d a0 = _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_permutexvar_ps(i0, s0)));
    __m512d b0 = _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_permutexvar_ps(i1, s0)));
    __m512d a1 = _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_permutexvar_ps(i0, s1)));
    __m512d b1 = _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_permutexvar_ps(i1, s1)));
    __m512d x0 = _mm512_loadu_pd(wx0 + q), x1 = _mm512_sub_pd(one, x0);
    __m512d v = _mm512_mul_pd(_mm512_mul_pd(a0, y0), x0);
    v = _mm512_add_pd(v, _mm512_mul_pd(_mm512_mul_pd(b0, y0), x1));
    v = _mm512_add_pd(v, _mm512_mul_pd(_mm512_mul_pd(a1, y1), x0));
    v = _mm512_add_pd(v, _mm512_mul_pd(_mm512_mul_pd(b1, y1), x1));
    _mm256_storeu_ps(acc + q, _mm256_add_ps(_mm256_loadu_ps(acc + q), _mm512_cvtpd_ps(v)));
  }
  for (size_t k = 8 * blocks; k < n; k++) zoom_one_add(acc + k, r0, r1, o0[k], o1[k], wx0[k], wy0, wy1);
}
#define ZOOM_HAVE_AVX512 1
#endif

static void zoom_row_add(float *acc, size_t n, const float *r0, const float *r1, const int *o0,
                         const int *o1, const double *wx0, double wy0, double wy1,
                         const zoom_perm *zp, size_t room) {
#ifdef ZOOM_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f")) {
    zoom_row_add_avx512(acc, n, r0, r1, o0, o1, wx0, wy0, wy1, zp, room);
    return;
  }
#endif
  (void)zp, (void)room;
  zoom_row_add_gather(acc, n, r0, r1, o0, o1, wx0, wy0, wy1);
}

int vfr_icf_clipped_zoom_add_f32(const float *src, int h, int w, int c, double z, float *acc,
                                 int oh, int ow, vfr_error *err) {
  int ch0, top0, zh, ch1, top1, zw;
  double zf0, zf1;
  clip_geometry(h, z, &ch0, &top0, &zh, &zf0);
  clip_geometry(w, z, &ch1, &top1, &zw, &zf1);
  if (oh > zh) oh = zh;
  if (ow > zw) ow = zw;
  if (z == 1.0) {
    /* the whole image at zoom factor 1: every output sits on its sample with weights 1 and
     * 0, and the other three products are +0, so the zoom is the image itself */
    for (int y = 0; y < oh; y++) {
      const float *s = src + (size_t)y * w * c;
      float *a = acc + (size_t)y * ow * c;
      for (size_t q = 0; q < (size_t)ow * c; q++) a[q] += s[q];
    }
    return VFR_OK;
  }
  /* the columns inside the grid are a prefix (the coordinate grows with the index); the
   * others are 0 and add nothing */
  int nx = 0;
  while (nx < ow && !zoom_tap_at(nx, zf1, ch1).zero) nx++;
  size_t n = (size_t)nx * c, drow = (size_t)ow * c, srow = (size_t)w * c;
  int *o0 = malloc((n + 1) * sizeof(int)), *o1 = malloc((n + 1) * sizeof(int));
  double *wx0 = malloc((n + 1) * sizeof(double));
  zoom_perm zp = {0, NULL, NULL};
  if (!o0 || !o1 || !wx0) goto nomem;
  for (int x = 0; x < nx; x++) {
    zoom_tap t = zoom_tap_at(x, zf1, ch1);
    for (int k = 0; k < c; k++) {
      size_t q = (size_t)x * c + k;
      o0[q] = (top1 + t.i0) * c + k, o1[q] = (top1 + t.i1) * c + k;
      wx0[q] = t.w0; /* t.w1 = 1 - t.w0: zoom_one_add recomputes it */
    }
  }
  if (zoom_perm_make(o0, o1, n, &zp)) goto nomem;
  for (int y = 0; y < oh; y++) {
    zoom_tap ty = zoom_tap_at(y, zf0, ch0);
    if (ty.zero) continue;
    int y0 = top0 + ty.i0, y1 = top0 + ty.i1, yhi = y0 > y1 ? y0 : y1;
    size_t room = (size_t)(h - yhi) * srow; /* floats readable from both source rows */
    zoom_row_add(acc + (size_t)y * drow, n, src + (size_t)y0 * srow, src + (size_t)y1 * srow, o0,
                 o1, wx0, ty.w0, ty.w1, &zp, room);
  }
  free(o0), free(o1), free(wx0), free(zp.base), free(zp.idx);
  return VFR_OK;
nomem:
  free(o0), free(o1), free(wx0), free(zp.base), free(zp.idx);
  return oom(err, "a zoom");
}

int vfr_icf_clipped_zoom_f64(const double *src, int h, int w, double z, double **dst, int *zh_out,
                             int *zw_out, vfr_error *err) {
  int ch0, top0, zh, ch1, top1, zw;
  double zf0, zf1;
  clip_geometry(h, z, &ch0, &top0, &zh, &zf0);
  clip_geometry(w, z, &ch1, &top1, &zw, &zf1);
  zoom_tap *tx = malloc((size_t)zw * sizeof(zoom_tap));
  double *o = malloc((size_t)zh * zw * sizeof(double));
  if (!tx || !o) {
    free(tx), free(o);
    return oom(err, "a zoom");
  }
  for (int x = 0; x < zw; x++) tx[x] = zoom_tap_at(x, zf1, ch1);
  for (int y = 0; y < zh; y++) {
    zoom_tap ty = zoom_tap_at(y, zf0, ch0);
    double *orow = o + (size_t)y * zw;
    const double *r0 = src + (size_t)(top0 + ty.i0) * w + top1;
    const double *r1 = src + (size_t)(top0 + ty.i1) * w + top1;
    for (int x = 0; x < zw; x++) {
      const zoom_tap t = tx[x];
      if (ty.zero || t.zero) {
        orow[x] = 0.0;
        continue;
      }
      double v = 0.0 + r0[t.i0] * ty.w0 * t.w0;
      v += r0[t.i1] * ty.w0 * t.w1;
      v += r1[t.i0] * ty.w1 * t.w0;
      v += r1[t.i1] * ty.w1 * t.w1;
      orow[x] = v;
    }
  }
  free(tx);
  *dst = o;
  *zh_out = zh;
  *zw_out = zw;
  return VFR_OK;
}

/* ---- scipy.ndimage.map_coordinates, order 1, mode 'reflect' ------------------------- */

/* scipy's map_coordinate() for NI_EXTEND_REFLECT. */
static double reflect_coordinate(double in, int len) {
  if (in < 0) {
    if (len <= 1) return 0;
    long long sz2 = 2LL * len;
    if (in < -sz2) in = sz2 * (long long)(-in / sz2) + in;
    in = in < -len ? in + sz2 : (in > -1e-15 ? 1e-15 : -in) - 1;
  } else if (in > len - 1) {
    if (len <= 1) return 0;
    long long sz2 = 2LL * len;
    in -= sz2 * (long long)(in / sz2);
    if (in >= len) in = sz2 - in - 1;
  }
  return in;
}

typedef struct reflect_tap {
  int i0, i1;
  double w0, w1;
} reflect_tap;

static reflect_tap reflect_tap_at(double cc, int n) {
  reflect_tap t;
  cc = reflect_coordinate(cc, n);
  int start = (int)floor(cc);
  t.i0 = start;
  t.i1 = start + 1;
  if (start < 0 || start + 1 >= n) {
    t.i0 = (int)reflect_coordinate(t.i0, n);
    t.i1 = (int)reflect_coordinate(t.i1, n);
  }
  double x = cc - floor(cc);
  t.w0 = 1.0 - x;
  t.w1 = 1.0 - t.w0;
  return t;
}

/* Output pixels j0..j1-1 of row i, one at a time. */
static void map_coordinates_span(const float *img, int h, int w, const float *dx, const float *dy,
                                 float *dst, int i, int j0, int j1) {
  size_t row = (size_t)w * 3;
  for (int j = j0; j < j1; j++) {
    size_t p = (size_t)i * w + j;
    reflect_tap ty = reflect_tap_at((double)i + (double)dy[p], h);
    reflect_tap tx = reflect_tap_at((double)j + (double)dx[p], w);
    const float *r0 = img + (size_t)ty.i0 * row, *r1 = img + (size_t)ty.i1 * row;
    for (int k = 0; k < 3; k++) {
      double v = 0.0 + (double)r0[3 * (size_t)tx.i0 + k] * ty.w0 * tx.w0;
      v += (double)r0[3 * (size_t)tx.i1 + k] * ty.w0 * tx.w1;
      v += (double)r1[3 * (size_t)tx.i0 + k] * ty.w1 * tx.w0;
      v += (double)r1[3 * (size_t)tx.i1 + k] * ty.w1 * tx.w1;
      dst[p * 3 + k] = (float)v;
    }
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define ICF_HAVE_MAP_AVX512 1
/* Eight output pixels at a time: where a pixel samples inside the image, 0 <= cy < h - 1
 * and 0 <= cx < w - 1, reflect_coordinate is the identity and the taps are floor and
 * floor + 1; the others are recomputed by map_coordinates_span. The six floats a pixel
 * reads from a row (both x taps, three channels each) are gathered as three 64-bit
 * pairs, the taps summed per channel in double in the scalar order (separate multiplies
 * and adds), and the three channels' floats interleaved by two permutations. Needs h * w * 3 < 2^31 (32-bit gather offsets). */
__attribute__((target("avx512f"))) static void map_coordinates_avx512(const float *img, int h, int w,
                                                                     const float *dx,
                                                                     const float *dy, float *dst) {
  const int row = w * 3;
  const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
  const __m512d ylim = _mm512_set1_pd((double)h - 1.0), xlim = _mm512_set1_pd((double)w - 1.0);
  const __m512d lane = _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0);
  const __m256i three = _mm256_set1_epi32(3), rowv = _mm256_set1_epi32(row);
  const __m256i two = _mm256_set1_epi32(2), four = _mm256_set1_epi32(4);
/* the low and the high float of each 64-bit lane, as doubles */
#define MAP_LOW(v) _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(v)))
#define MAP_HIGH(v) _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(_mm512_srli_epi64(v, 32))))
  /* out[m] = c_k[q] for m = 3q + k: c0 in lanes 0..7 and c1 in 8..15 of one source,
   * c2 in lanes 0..7 of the other (16..23) */
  int first[16], second[16];
  for (int m = 0; m < 16; m++) {
    first[m] = (m % 3) * 8 + m / 3;
    second[m] = ((m + 16) % 3) * 8 + (m + 16) / 3;
  }
  const __m512i perm0 = _mm512_loadu_si512((const void *)first);
  const __m512i perm1 = _mm512_loadu_si512((const void *)second);
  for (int i = 0; i < h; i++) {
    int j = 0;
    const __m512d iv = _mm512_set1_pd((double)i);
    for (; j + 8 <= w; j += 8) {
      size_t p = (size_t)i * w + j;
      __m512d cy = _mm512_add_pd(iv, _mm512_cvtps_pd(_mm256_loadu_ps(dy + p)));
      __m512d cx = _mm512_add_pd(_mm512_add_pd(_mm512_set1_pd((double)j), lane),
                                 _mm512_cvtps_pd(_mm256_loadu_ps(dx + p)));
      __mmask8 in = _mm512_cmp_pd_mask(cy, zero, _CMP_GE_OQ) & _mm512_cmp_pd_mask(cy, ylim, _CMP_LT_OQ) &
                    _mm512_cmp_pd_mask(cx, zero, _CMP_GE_OQ) & _mm512_cmp_pd_mask(cx, xlim, _CMP_LT_OQ);
      if (in != 0xff) { /* those lanes sample at (0, 0) here and are redone below */
        cy = _mm512_maskz_mov_pd(in, cy);
        cx = _mm512_maskz_mov_pd(in, cx);
      }
      __m512d fy = _mm512_roundscale_pd(cy, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      __m512d fx = _mm512_roundscale_pd(cx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      __m512d wy0 = _mm512_sub_pd(one, _mm512_sub_pd(cy, fy)), wy1 = _mm512_sub_pd(one, wy0);
      __m512d wx0 = _mm512_sub_pd(one, _mm512_sub_pd(cx, fx)), wx1 = _mm512_sub_pd(one, wx0);
      __m256i o00 = _mm256_add_epi32(_mm256_mullo_epi32(_mm512_cvttpd_epi32(fy), rowv),
                                     _mm256_mullo_epi32(_mm512_cvttpd_epi32(fx), three));
      /* the six floats of each pixel's two x taps on a row, c0 c1 c2 c0' c1' c2', as three
       * gathered pairs; row 1 is one image row below */
      __m512d g[2][2][3]; /* [row][x tap][channel] */
      for (int y = 0; y < 2; y++) {
        __m256i o = y ? _mm256_add_epi32(o00, rowv) : o00;
        __m512i pa = _mm512_i32gather_epi64(o, (const void *)img, 4);
        __m512i pb = _mm512_i32gather_epi64(_mm256_add_epi32(o, two), (const void *)img, 4);
        __m512i pc = _mm512_i32gather_epi64(_mm256_add_epi32(o, four), (const void *)img, 4);
        g[y][0][0] = MAP_LOW(pa);
        g[y][0][1] = MAP_HIGH(pa);
        g[y][0][2] = MAP_LOW(pb);
        g[y][1][0] = MAP_HIGH(pb);
        g[y][1][1] = MAP_LOW(pc);
        g[y][1][2] = MAP_HIGH(pc);
      }
      __m256 c[3];
      for (int k = 0; k < 3; k++) {
        __m512d g00 = g[0][0][k], g01 = g[0][1][k], g10 = g[1][0][k], g11 = g[1][1][k];
        __m512d v = _mm512_add_pd(zero, _mm512_mul_pd(_mm512_mul_pd(g00, wy0), wx0));
        v = _mm512_add_pd(v, _mm512_mul_pd(_mm512_mul_pd(g01, wy0), wx1));
        v = _mm512_add_pd(v, _mm512_mul_pd(_mm512_mul_pd(g10, wy1), wx0));
        v = _mm512_add_pd(v, _mm512_mul_pd(_mm512_mul_pd(g11, wy1), wx1));
        c[k] = _mm512_cvtpd_ps(v);
      }
      __m512 c01 = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(c[0])),
                                                       _mm256_castps_pd(c[1]), 1));
      __m512 c2 = _mm512_castps256_ps512(c[2]);
      _mm512_storeu_ps(dst + 3 * p, _mm512_permutex2var_ps(c01, perm0, c2));
      _mm256_storeu_ps(dst + 3 * p + 16,
                       _mm512_castps512_ps256(_mm512_permutex2var_ps(c01, perm1, c2)));
      for (int l = 0; in != 0xff && l < 8; l++)
        if (!(in >> l & 1)) map_coordinates_span(img, h, w, dx, dy, dst, i, j + l, j + l + 1);
    }
    map_coordinates_span(img, h, w, dx, dy, dst, i, j, w);
  }
#undef MAP_LOW
#undef MAP_HIGH
  _mm256_zeroupper();
}
#endif

void vfr_icf_map_coordinates_reflect(const float *img, int h, int w, const float *dx,
                                     const float *dy, float *dst) {
#ifdef ICF_HAVE_MAP_AVX512
  if ((long long)h * w * 3 < (1LL << 31) && __builtin_cpu_supports("avx512f")) {
    map_coordinates_avx512(img, h, w, dx, dy, dst);
    return;
  }
#endif
  for (int i = 0; i < h; i++) map_coordinates_span(img, h, w, dx, dy, dst, i, 0, w);
}

/* ---- plasma fractal (diamond-square) ---------------------------------------------- */

/* map[y*n + x]; the grid of step s holds the points (i*s + oy, j*s + ox). */
#define AT(y, x) map[(size_t)(y) * n + (x)]

int vfr_icf_plasma_fractal(struct vfr_np_rng *rng, int n, double wibbledecay, float *map,
                           vfr_error *err) {
  int g = n; /* points per side of the coarsest grid: n / step */
  float *acc = malloc((size_t)n * n * sizeof(float));
  double *u = malloc(((size_t)n * n / 4 + 1) * sizeof(double)); /* one stage's draws, in order */
  if (!acc || !u) {
    free(acc), free(u);
    return oom(err, "a plasma fractal");
  }
  AT(0, 0) = 0.0f;
  double wibble = 100.0;
  for (int step = n; step >= 2; step /= 2) {
    int m = n / step, hs = step / 2;
    (void)g;
    /* fillsquares: corners c[i][j] = map[i*s][j*s];
     * sa = c + roll(c, -1, 0); sa += roll(sa, -1, 1) (i + 1 and j + 1 wrap to 0) */
    for (int i = 0; i < m; i++) {
      const float *c0 = &AT(i * step, 0), *c1 = &AT((i + 1 < m ? i + 1 : 0) * step, 0);
      float *o = acc + (size_t)i * m;
      for (int j = 0; j < m; j++) o[j] = c0[(size_t)j * step] + c1[(size_t)j * step];
    }
    for (int i = 0; i < m; i++) {
      float *o = acc + (size_t)i * m, first = o[0];
      for (int j = 0; j + 1 < m; j++) o[j] = o[j] + o[j + 1];
      o[m - 1] = o[m - 1] + first;
    }
    vfr_np_rng_uniform_fill(rng, -wibble, wibble, (int64_t)m * m, u);
    for (int i = 0; i < m; i++) {
      float *d = &AT(hs + i * step, hs);
      const float *o = acc + (size_t)i * m;
      const double *r = u + (size_t)i * m;
      for (int j = 0; j < m; j++) d[(size_t)j * step] = (float)((double)(o[j] / 4.0f) + wibble * r[j]);
    }
    /* filldiamonds: dr = map[hs::s, hs::s], ul = map[::s, ::s]; i - 1 wraps to m - 1 */
    for (int i = 0; i < m; i++) {
      const float *dr = &AT(hs + i * step, hs), *up = &AT(hs + (i > 0 ? i - 1 : m - 1) * step, hs);
      const float *ul = &AT(i * step, 0);
      float *o = acc + (size_t)i * m;
      for (int j = 0; j < m; j++) {
        size_t jn = (size_t)(j + 1 < m ? j + 1 : 0) * step;
        o[j] = (dr[(size_t)j * step] + up[(size_t)j * step]) + (ul[(size_t)j * step] + ul[jn]);
      }
    }
    vfr_np_rng_uniform_fill(rng, -wibble, wibble, (int64_t)m * m, u);
    for (int i = 0; i < m; i++) {
      float *d = &AT(i * step, hs);
      const float *o = acc + (size_t)i * m;
      const double *r = u + (size_t)i * m;
      for (int j = 0; j < m; j++) d[(size_t)j * step] = (float)((double)(o[j] / 4.0f) + wibble * r[j]);
    }
    for (int i = 0; i < m; i++) {
      const float *dr = &AT(hs + i * step, hs);
      const float *ul = &AT(i * step, 0), *dn = &AT((i + 1 < m ? i + 1 : 0) * step, 0);
      float *o = acc + (size_t)i * m;
      for (int j = 0; j < m; j++) {
        size_t jp = (size_t)(j > 0 ? j - 1 : m - 1) * step;
        o[j] = (dr[(size_t)j * step] + dr[jp]) + (ul[(size_t)j * step] + dn[(size_t)j * step]);
      }
    }
    vfr_np_rng_uniform_fill(rng, -wibble, wibble, (int64_t)m * m, u);
    for (int i = 0; i < m; i++) {
      float *d = &AT(hs + i * step, 0);
      const float *o = acc + (size_t)i * m;
      const double *r = u + (size_t)i * m;
      for (int j = 0; j < m; j++) d[(size_t)j * step] = (float)((double)(o[j] / 4.0f) + wibble * r[j]);
    }
    wibble /= wibbledecay;
  }
  free(acc), free(u);
  size_t nn = (size_t)n * n;
  /* map -= map.min(); map / map.max(): the maximum of map - mn is max(map) - mn (a
   * rounding is monotonic), so one pass finds both and one pass applies them */
  float mn = vfr_ict_extreme_f32(map, nn, 0);
  float mx = vfr_ict_extreme_f32(map, nn, 1) - mn;
  vfr_ict_sub_div_f32(map, nn, mn, mx);
  return VFR_OK;
}
#undef AT

/* ---- OpenCV colour ------------------------------------------------------------------ */

/* Built for CPUs with FMA too, where fmaf is one instruction (the same fused result as
 * the C library's fmaf, which the default build calls). Static, with a plain wrapper, so the
 * clones' dispatcher is not exported (see ic_taps.c). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("fma", "default")))
#endif
static void cv_gray_row_f32(const float *rgb, int w, float *gray) {
  const float cr = 0.299f, cg = 0.587f, cb = 0.114f;
  int vec_end = w - w % 8;
  for (int x = 0; x < vec_end; x++) {
    const float *p = rgb + 3 * (size_t)x;
    gray[x] = fmaf(p[2], cb, fmaf(p[1], cg, p[0] * cr));
  }
  for (int x = vec_end; x < w; x++) {
    const float *p = rgb + 3 * (size_t)x;
    gray[x] = fmaf(p[2], cb, fmaf(p[0], cr, p[1] * cg));
  }
}

void vfr_icf_cv_gray_row_f32(const float *rgb, int w, float *gray) {
  cv_gray_row_f32(rgb, w, gray);
}

/* ---- OpenCV resize, INTER_CUBIC, 8-bit ---------------------------------------------- */

/* cv::interpolateCubic (A = -0.75) in float. */
static void cv_cubic_coeffs(float x, float *k) {
  const float a = -0.75f;
  k[0] = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
  k[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
  k[2] = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
  k[3] = 1.f - k[0] - k[1] - k[2];
}

/* saturate_cast<short>(v * INTER_RESIZE_COEF_SCALE): round half to even. */
static short cv_coef(float v) { return (short)lrintf(v * 2048.0f); }

/* The source index (floor) and the four 11-bit weights of destination index d. */
static int cv_cubic_tap(int d, double scale, short *w) {
  float f = (float)((d + 0.5) * scale - 0.5);
  int s = (int)floorf(f);
  float k[4];
  cv_cubic_coeffs(f - (float)s, k);
  for (int j = 0; j < 4; j++) w[j] = cv_coef(k[j]);
  return s;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* The horizontal pass of output value q (pixel q / c, channel q % c) of one source row s:
 * the four taps' integer sum (exact in any order), the border repeated through idx. */
static inline int cv_cubic_hval(const uint8_t *s, size_t q, int c, const short *alpha,
                                const int *idx) {
  size_t x = q / c, ch = q % c;
  const short *a = alpha + 4 * x;
  const int *ix = idx + 4 * x;
  return s[ix[0] + ch] * a[0] + s[ix[1] + ch] * a[1] + s[ix[2] + ch] * a[2] + s[ix[3] + ch] * a[3];
}

static void cv_cubic_hrow(int *restrict buf, const uint8_t *restrict s, int ow, int c,
                          const short *restrict alpha, const int *restrict idx) {
  for (size_t q = 0; q < (size_t)ow * c; q++) buf[q] = cv_cubic_hval(s, q, c, alpha, idx);
}

/* OpenCV's SSE2 float path of the vertical pass for o[x], x < n: the products added from
 * the last, (float)r3*b3, then (float)r2*b2 + t, ..., rounded to nearest even, clipped. */
static inline uint8_t cv_cubic_vf(const int *const *r, size_t x, const float *bf) {
  float t = (float)r[3][x] * bf[3];
  t = (float)r[2][x] * bf[2] + t;
  t = (float)r[1][x] * bf[1] + t;
  t = (float)r[0][x] * bf[0] + t;
  int v = (int)lrintf(t);
  return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

#if defined(__GNUC__) && defined(__x86_64__)
/* The horizontal pass sixteen values at a time: the four taps of a block of 16 consecutive
 * output values read source values within 32 of each other (the resize enlarges, or shrinks
 * a little), so one block loads those 32 values, widened to int16, as one vector, and picks
 * for each output the values of taps 0 and 1 (then 2 and 3) as adjacent int16 pairs with
 * one permutation, which one multiply-add of pairs (vpmaddwd, exact in int32) weighs with
 * the taps' int16 weights. Per block: the window's start (relative to the row values the
 * window of outputs reads at all, from lo on), the two permutations and the two weight
 * pairs; base -1: a block gathered one by one (the partial last block always is). */
typedef struct cv_hplan {
  size_t blocks;
  int lo, span;     /* the row values read: lo .. lo + span - 1 */
  int *base;        /* (blocks) */
  int16_t *perm;    /* (blocks, 2, 32): positions in the window of taps (0, 1), (2, 3) */
  int16_t *wt;      /* (blocks, 2, 32): their weights, pair by pair */
  int16_t *wide;    /* (span + 32): one source row's values lo.., widened */
} cv_hplan;

static void cv_hplan_free(cv_hplan *hp) { free(hp->base), free(hp->perm), free(hp->wt), free(hp->wide); }

static int cv_hplan_make(int ow, int c, const short *alpha, const int *idx, cv_hplan *hp) {
  size_t owc = (size_t)ow * c;
  hp->blocks = owc / 16;
  hp->lo = idx[0], hp->span = idx[4 * (ow - 1) + 3] + c - idx[0];
  hp->base = malloc((hp->blocks + 1) * sizeof(int));
  hp->perm = malloc((hp->blocks + 1) * 64 * sizeof(int16_t));
  hp->wt = malloc((hp->blocks + 1) * 64 * sizeof(int16_t));
  hp->wide = calloc((size_t)hp->span + 32, sizeof(int16_t));
  if (!hp->base || !hp->perm || !hp->wt || !hp->wide) return -1;
  for (size_t b = 0; b < hp->blocks; b++) {
    size_t q0 = 16 * b;
    int first = hp->span, last = 0; /* the block's lowest and highest value read */
    for (int j = 0; j < 4; j++)
      for (size_t q = q0; q < q0 + 16; q++) {
        int at = idx[4 * (q / c) + j] + (int)(q % c) - hp->lo;
        first = at < first ? at : first, last = at > last ? at : last;
      }
    hp->base[b] = last - first < 32 ? first : -1;
    for (int j = 0; j < 4; j++)
      for (size_t l = 0; l < 16; l++) {
        size_t q = q0 + l, x = q / c, lane = 64 * b + 32 * (size_t)(j / 2) + 2 * l + (size_t)(j % 2);
        hp->perm[lane] = (int16_t)(idx[4 * x + j] + (int)(q % c) - hp->lo - first);
        hp->wt[lane] = alpha[4 * x + j];
      }
  }
  return 0;
}

/* cv_cubic_hrow by the plan: the same integer sums (exact in any order). */
__attribute__((target("avx512f,avx512bw"))) static void cv_cubic_hrow_avx512(
    int *buf, const uint8_t *s, int ow, int c, const short *alpha, const int *idx,
    const cv_hplan *hp) {
  int16_t *wd = hp->wide;
  const uint8_t *sl = s + hp->lo;
  int k = 0;
  for (; k + 32 <= hp->span; k += 32)
    _mm512_storeu_si512(wd + k, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(sl + k))));
  for (; k < hp->span; k++) wd[k] = sl[k];
  for (size_t b = 0; b < hp->blocks; b++) {
    int base = hp->base[b];
    size_t q0 = 16 * b;
    if (base < 0) {
      for (size_t q = q0; q < q0 + 16; q++) buf[q] = cv_cubic_hval(s, q, c, alpha, idx);
      continue;
    }
    const __m512i win = _mm512_loadu_si512(wd + base);
    const int16_t *pm = hp->perm + 64 * b, *wt = hp->wt + 64 * b;
    __m512i p01 = _mm512_madd_epi16(_mm512_permutexvar_epi16(_mm512_loadu_si512(pm), win),
                                    _mm512_loadu_si512(wt));
    __m512i p23 = _mm512_madd_epi16(_mm512_permutexvar_epi16(_mm512_loadu_si512(pm + 32), win),
                                    _mm512_loadu_si512(wt + 32));
    _mm512_storeu_si512(buf + q0, _mm512_add_epi32(p01, p23));
  }
  for (size_t q = 16 * hp->blocks; q < (size_t)ow * c; q++) buf[q] = cv_cubic_hval(s, q, c, alpha, idx);
  _mm256_zeroupper();
}

/* cv_cubic_vf sixteen at a time: the same products and sums in float (no contraction),
 * cvtps2dq rounding to nearest even as lrintf does, then the clip and the byte store. */
__attribute__((target("avx512f"))) static void cv_cubic_vrow_avx512(uint8_t *o, size_t n,
                                                                    const int *const *r,
                                                                    const float *bf) {
  const __m512 b0 = _mm512_set1_ps(bf[0]), b1 = _mm512_set1_ps(bf[1]), b2 = _mm512_set1_ps(bf[2]),
               b3 = _mm512_set1_ps(bf[3]);
  const __m512i lo = _mm512_setzero_si512(), hi = _mm512_set1_epi32(255);
  size_t x = 0;
  for (; x + 16 <= n; x += 16) {
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(r[3] + x)), b3);
    t = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(r[2] + x)), b2), t);
    t = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(r[1] + x)), b1), t);
    t = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(r[0] + x)), b0), t);
    __m512i v = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(t), lo), hi);
    _mm_storeu_si128((__m128i *)(o + x), _mm512_cvtepi32_epi8(v));
  }
  for (; x < n; x++) o[x] = cv_cubic_vf(r, x, bf);
  _mm256_zeroupper();
}
#define CV_CUBIC_HAVE_AVX512 1
#endif

int vfr_icf_cv_resize_cubic_u8(const uint8_t *src, int sw, int sh, int c, int dw, int dh,
                               int ox, int oy, int ow, int oh, uint8_t *dst, vfr_error *err) {
  double scale_x = 1.0 / ((double)dw / sw), scale_y = 1.0 / ((double)dh / sh);
  int width = dw * c, owc = ow * c;
  short *alpha = malloc((size_t)ow * 4 * sizeof(short));
  int *idx = malloc((size_t)ow * 4 * sizeof(int));
  int *rows = malloc((size_t)4 * owc * sizeof(int));
  if (!alpha || !idx || !rows) {
    free(alpha), free(idx), free(rows);
    return oom(err, "a resize");
  }
  for (int x = 0; x < ow; x++) {
    int sx = cv_cubic_tap(ox + x, scale_x, alpha + 4 * x);
    for (int j = 0; j < 4; j++) idx[4 * x + j] = clampi(sx - 1 + j, 0, sw - 1) * c;
  }
  /* OpenCV's 128-bit vertical loop covers x <= width - 8 of the full destination row: the
   * window's first nf values take its float path, the rest the integer tail */
  int vec_end = width - width % 8;
  size_t nf = (size_t)clampi(vec_end - ox * c, 0, owc);
  const float fs = 1.f / (2048 * 2048);
  /* four buffers of horizontal rows, each kept while the next output rows read its source
   * row (held[i]: that row, -1: none) */
  int held[4] = {-1, -1, -1, -1};
#ifdef CV_CUBIC_HAVE_AVX512
  int wide = __builtin_cpu_supports("avx512f");
  int wide_h = wide && __builtin_cpu_supports("avx512bw");
  cv_hplan hp = {0, 0, 0, NULL, NULL, NULL, NULL};
  if (wide_h && cv_hplan_make(ow, c, alpha, idx, &hp)) {
    cv_hplan_free(&hp);
    free(alpha), free(idx), free(rows);
    return oom(err, "a resize");
  }
#endif
  for (int y = 0; y < oh; y++) {
    short b[4];
    int sy = cv_cubic_tap(oy + y, scale_y, b), need[4];
    const int *r[4];
    for (int k = 0; k < 4; k++) need[k] = clampi(sy - 1 + k, 0, sh - 1);
    for (int k = 0; k < 4; k++) {
      int slot = -1;
      for (int i = 0; i < 4; i++) slot = held[i] == need[k] ? i : slot;
      if (slot < 0) { /* a buffer this row does not read (there is one: this need is not held) */
        for (int i = 0; i < 4 && slot < 0; i++) {
          int used = 0;
          for (int j = 0; j < 4; j++) used |= held[i] == need[j];
          if (!used) slot = i;
        }
        int *buf = rows + (size_t)slot * owc;
        const uint8_t *srow = src + (size_t)need[k] * sw * c;
#ifdef CV_CUBIC_HAVE_AVX512
        if (wide_h)
          cv_cubic_hrow_avx512(buf, srow, ow, c, alpha, idx, &hp);
        else
#endif
          cv_cubic_hrow(buf, srow, ow, c, alpha, idx);
        held[slot] = need[k];
      }
      r[k] = rows + (size_t)slot * owc;
    }
    uint8_t *o = dst + (size_t)y * owc;
    const float bf[4] = {b[0] * fs, b[1] * fs, b[2] * fs, b[3] * fs};
#ifdef CV_CUBIC_HAVE_AVX512
    if (wide)
      cv_cubic_vrow_avx512(o, nf, r, bf);
    else
#endif
      for (size_t x = 0; x < nf; x++) o[x] = cv_cubic_vf(r, x, bf);
    for (size_t x = nf; x < (size_t)owc; x++) { /* the integer tail */
      int v = (r[0][x] * b[0] + r[1][x] * b[1] + r[2][x] * b[2] + r[3][x] * b[3] + (1 << 21)) >> 22;
      o[x] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
  }
#ifdef CV_CUBIC_HAVE_AVX512
  cv_hplan_free(&hp);
#endif
  free(alpha), free(idx), free(rows);
  return VFR_OK;
}

/* ---- OpenCV 8-bit primitives of spatter ---------------------------------------------- */

int vfr_icf_cv_canny_u8(const uint8_t *src, int w, int h, int low, int high, uint8_t *dst,
                        vfr_error *err) {
  size_t n = (size_t)w * h, mw = (size_t)w + 2;
  short *dx = malloc(n * sizeof(short)), *dy = malloc(n * sizeof(short));
  int *mag = calloc(mw * ((size_t)h + 2), sizeof(int)); /* zero frame of one pixel */
  uint8_t *map = malloc(mw * ((size_t)h + 2));
  size_t *stack = malloc(n * sizeof(size_t));
  if (!dx || !dy || !mag || !map || !stack) {
    free(dx), free(dy), free(mag), free(map), free(stack);
    return oom(err, "Canny");
  }
  /* Sobel 3x3, BORDER_REPLICATE, int16 */
  for (int y = 0; y < h; y++) {
    const uint8_t *r0 = src + (size_t)clampi(y - 1, 0, h - 1) * w, *r1 = src + (size_t)y * w,
                  *r2 = src + (size_t)clampi(y + 1, 0, h - 1) * w;
    for (int x = 0; x < w; x++) {
      int xl = clampi(x - 1, 0, w - 1), xr = clampi(x + 1, 0, w - 1);
      int gx = (r0[xr] - r0[xl]) + 2 * (r1[xr] - r1[xl]) + (r2[xr] - r2[xl]);
      int gy = (r2[xl] + 2 * r2[x] + r2[xr]) - (r0[xl] + 2 * r0[x] + r0[xr]);
      dx[(size_t)y * w + x] = (short)gx;
      dy[(size_t)y * w + x] = (short)gy;
      mag[(size_t)(y + 1) * mw + x + 1] = abs(gx) + abs(gy);
    }
  }
  /* non-maximum suppression: map 0 = candidate, 1 = not an edge, 2 = edge */
  memset(map, 1, mw * ((size_t)h + 2));
  size_t top = 0;
  const int tg22 = 13573; /* (int)(tan(22.5 deg) * 2^15 + 0.5) */
  for (int y = 0; y < h; y++) {
    const int *mp = mag + (size_t)y * mw + 1, *ma = mag + (size_t)(y + 1) * mw + 1,
              *mn = mag + (size_t)(y + 2) * mw + 1;
    uint8_t *pm = map + (size_t)(y + 1) * mw + 1;
    for (int x = 0; x < w; x++) {
      int m = ma[x];
      if (m > low) {
        short xs = dx[(size_t)y * w + x], ys = dy[(size_t)y * w + x];
        int ax = abs(xs), ay = abs(ys) << 15;
        int tg22x = ax * tg22;
        int is_max;
        if (ay < tg22x)
          is_max = m > ma[x - 1] && m >= ma[x + 1];
        else {
          int tg67x = tg22x + (ax << 16);
          if (ay > tg67x)
            is_max = m > mp[x] && m >= mn[x];
          else {
            int s = (xs ^ ys) < 0 ? -1 : 1;
            is_max = m > mp[x - s] && m > mn[x + s];
          }
        }
        if (is_max) {
          if (m > high) {
            pm[x] = 2;
            stack[top++] = (size_t)(y + 1) * mw + x + 1;
          } else {
            pm[x] = 0;
          }
          continue;
        }
      }
      pm[x] = 1;
    }
  }
  /* hysteresis: candidates 8-connected to an edge become edges */
  while (top > 0) {
    size_t p = stack[--top];
    const ptrdiff_t nb[8] = {-1, 1, -(ptrdiff_t)mw - 1, -(ptrdiff_t)mw, -(ptrdiff_t)mw + 1,
                             (ptrdiff_t)mw - 1, (ptrdiff_t)mw, (ptrdiff_t)mw + 1};
    for (int k = 0; k < 8; k++) {
      size_t q = (size_t)((ptrdiff_t)p + nb[k]);
      if (map[q] == 0) {
        map[q] = 2;
        stack[top++] = q;
      }
    }
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) dst[(size_t)y * w + x] = map[(size_t)(y + 1) * mw + x + 1] == 2 ? 255 : 0;
  free(dx), free(dy), free(mag), free(map), free(stack);
  return VFR_OK;
}

int vfr_icf_cv_distance_l2_5(const uint8_t *src, int w, int h, float *dst, vfr_error *err) {
  const unsigned hv = 65536, diag = 91750, lng = 143976; /* cvRound(1, 1.4f, 2.1969f * 2^16) */
  const unsigned init = 0x7fffffffu, far = 0x7fffffffu >> 2;
  size_t step = (size_t)w + 4;
  unsigned *t = malloc(step * ((size_t)h + 4) * sizeof(unsigned));
  if (!t) return oom(err, "distanceTransform");
  for (size_t q = 0; q < step * 2; q++) t[q] = far;
  for (size_t q = step * ((size_t)h + 2); q < step * ((size_t)h + 4); q++) t[q] = far;
  for (int y = 0; y < h; y++) {
    const uint8_t *s = src + (size_t)y * w;
    unsigned *r = t + (size_t)(y + 2) * step + 2;
    r[-1] = r[-2] = r[w] = r[w + 1] = init;
    for (int x = 0; x < w; x++) {
      if (!s[x]) {
        r[x] = 0;
        continue;
      }
      const unsigned *u2 = r - 2 * step, *u1 = r - step;
      unsigned t0 = u2[x - 1] + lng, v;
      if (t0 > (v = u2[x + 1] + lng)) t0 = v;
      if (t0 > (v = u1[x - 2] + lng)) t0 = v;
      if (t0 > (v = u1[x - 1] + diag)) t0 = v;
      if (t0 > (v = u1[x] + hv)) t0 = v;
      if (t0 > (v = u1[x + 1] + diag)) t0 = v;
      if (t0 > (v = u1[x + 2] + lng)) t0 = v;
      if (t0 > (v = r[x - 1] + hv)) t0 = v;
      r[x] = t0;
    }
  }
  const float scale = 1.f / 65536;
  for (int y = h - 1; y >= 0; y--) {
    unsigned *r = t + (size_t)(y + 2) * step + 2;
    const unsigned *d1 = r + step, *d2 = r + 2 * step;
    float *d = dst + (size_t)y * w;
    for (int x = w - 1; x >= 0; x--) {
      unsigned t0 = r[x], v;
      if (t0 > hv) {
        if (t0 > (v = d2[x + 1] + lng)) t0 = v;
        if (t0 > (v = d2[x - 1] + lng)) t0 = v;
        if (t0 > (v = d1[x + 2] + lng)) t0 = v;
        if (t0 > (v = d1[x + 1] + diag)) t0 = v;
        if (t0 > (v = d1[x] + hv)) t0 = v;
        if (t0 > (v = d1[x - 1] + diag)) t0 = v;
        if (t0 > (v = d1[x - 2] + lng)) t0 = v;
        if (t0 > (v = r[x + 1] + hv)) t0 = v;
        r[x] = t0;
      }
      d[x] = (float)t0 * scale;
    }
  }
  free(t);
  return VFR_OK;
}

/* The 3x3 neighbourhoods below take the rows y - 1, y, y + 1 and the columns x - 1, x,
 * x + 1 as BORDER_REFLECT_101 extends them: the rows once per output row, the columns
 * through reflect101 only at the two ends of a row. */
#define CV3_COLUMNS(x, w, xl, xr)                                \
  int xl = (x) > 0 ? (x) - 1 : reflect101((x) - 1, (w));         \
  int xr = (x) + 1 < (w) ? (x) + 1 : reflect101((x) + 1, (w))

/* cv2.blur(src, (3, 3)) of a float32 plane, BORDER_REFLECT_101: exact double sums of the
 * nine values (multiples of a common power of two here) times 1/9, to float. */
void vfr_icf_cv_blur3_f32(const float *src, int w, int h, float *dst) {
  const double scale = 1. / 9;
  for (int y = 0; y < h; y++) {
    const float *r[3];
    for (int i = 0; i < 3; i++) r[i] = src + (size_t)reflect101(y + i - 1, h) * w;
    for (int x = 0; x < w; x++) {
      CV3_COLUMNS(x, w, xl, xr);
      double s = 0.0;
      for (int i = 0; i < 3; i++) s += (double)r[i][xl] + (double)r[i][x] + (double)r[i][xr];
      dst[(size_t)y * w + x] = (float)(s * scale);
    }
  }
}

/* cv2.blur(src, (3, 3)) of an 8-bit plane, BORDER_REFLECT_101: OpenCV's fixed-point
 * division of the integer sum, ((s + 4) * 7282) >> 16. */
void vfr_icf_cv_blur3_u8(const uint8_t *src, int w, int h, uint8_t *dst) {
  for (int y = 0; y < h; y++) {
    const uint8_t *r[3];
    for (int i = 0; i < 3; i++) r[i] = src + (size_t)reflect101(y + i - 1, h) * w;
    for (int x = 0; x < w; x++) {
      CV3_COLUMNS(x, w, xl, xr);
      unsigned s = 0;
      for (int i = 0; i < 3; i++) s += r[i][xl] + r[i][x] + r[i][xr];
      dst[(size_t)y * w + x] = (uint8_t)(((s + 4) * 7282u) >> 16);
    }
  }
}

void vfr_icf_cv_equalize_hist(const uint8_t *src, size_t n, uint8_t *dst) {
  size_t hist[256] = {0};
  uint8_t lut[256];
  for (size_t q = 0; q < n; q++) hist[src[q]]++;
  int i = 0;
  while (!hist[i]) ++i;
  if (hist[i] == n) {
    memset(dst, i, n);
    return;
  }
  float scale = (256 - 1.f) / (float)(n - hist[i]);
  int sum = 0;
  for (lut[i++] = 0; i < 256; ++i) {
    sum += (int)hist[i];
    long v = lrintf((float)sum * scale);
    lut[i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
  }
  for (size_t q = 0; q < n; q++) dst[q] = lut[src[q]];
}

/* cv2.filter2D(src, CV_8U, k) of an 8-bit plane with an integer 3x3 kernel k (row-major),
 * BORDER_REFLECT_101: the sums are exact, saturated to 0..255. */
void vfr_icf_cv_filter3_u8(const uint8_t *src, int w, int h, const int *k, uint8_t *dst) {
  for (int y = 0; y < h; y++) {
    const uint8_t *r[3];
    for (int i = 0; i < 3; i++) r[i] = src + (size_t)reflect101(y + i - 1, h) * w;
    for (int x = 0; x < w; x++) {
      CV3_COLUMNS(x, w, xl, xr);
      int s = 0;
      for (int i = 0; i < 3; i++) s += k[3 * i] * r[i][xl] + k[3 * i + 1] * r[i][x] + k[3 * i + 2] * r[i][xr];
      dst[(size_t)y * w + x] = (uint8_t)(s < 0 ? 0 : (s > 255 ? 255 : s));
    }
  }
}
#undef CV3_COLUMNS
