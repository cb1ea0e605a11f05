/* The library filters the ImageNet-C corruptions are built from, with the exact arithmetic
 * of the libraries the reference code (imagecorruptions) calls (not public API):
 * scipy.ndimage gaussian_filter (as skimage.filters.gaussian calls it), zoom and
 * map_coordinates at spline order 1, OpenCV's GaussianBlur kernel, filter2D and
 * cvtColor(RGB2GRAY), NumPy's pairwise sum and np.roll-based shift, the defocus disk, the
 * motion-blur kernel and the diamond-square plasma fractal.
 *
 * Arrays are row-major (H, W, C) doubles unless a comment says float; every function is a
 * pure function of its arguments (no global state) and returns VFR_OK or VFR_ENOMEM. */
#ifndef VFR_IC_FILTERS_H
#define VFR_IC_FILTERS_H

#include <stddef.h>
#include <stdint.h>

#include "vfrobust/error.h"
#include "vfrobust/image.h"

/* scipy.ndimage boundary modes used by the reference. */
typedef enum ic_mode {
  IC_MODE_NEAREST = 0, /* aaaa|abcd|dddd */
  IC_MODE_REFLECT = 1, /* dcba|abcd|dcba (half-sample symmetric) */
  IC_MODE_CONSTANT = 2 /* zoom's default: outside the grid the value is 0 */
} ic_mode;

/* NumPy's sum of n contiguous doubles (pairwise: 8 partial sums per block of <= 128). */
double vfr_icf_np_sum(const double *a, size_t n);

/* scipy's Gaussian kernel: radius int(truncate*sigma + 0.5); k[d] (0 <= d <= radius) is
 * exp(-0.5/sigma^2 * d^2) divided by the NumPy sum over -radius..radius. k is (radius+1). */
int vfr_icf_gauss_radius(double sigma, double truncate);
int vfr_icf_gauss_kernel(double sigma, int radius, double *k, vfr_error *err);

/* scipy.ndimage.gaussian_filter over axes 0 (sigma_y) and 1 (sigma_x) of img (h, w, c), in
 * place; an axis with sigma <= 1e-15 is skipped, the channel axis never filtered.
 * f32: the array is float32 in the reference (each pass's result is rounded to float). */
int vfr_icf_gaussian_filter(double *img, int h, int w, int c, double sigma_y, double sigma_x,
                       double truncate, ic_mode mode, int f32, vfr_error *err);

/* skimage.filters.gaussian(x, sigma, channel_axis=-1) of x = v / 255. of an RGB image
 * (mode 'nearest', truncate 4), stored as np.uint8(np.clip(., 0, 1) * 255): src and dst
 * hold h rows of 3w bytes, src_stride and dst_stride apart. The bytes of vfr_icf_to_unit,
 * vfr_icf_gaussian_filter and vfr_icf_store_unit, computed a band of rows at a time in
 * cache. */
int vfr_icf_skimage_gaussian_u8(const uint8_t *src, size_t src_stride, int h, int w,
                                double sigma, uint8_t *dst, size_t dst_stride, vfr_error *err);

/* x / 255. of an RGB image: dst is (h, w, 3) doubles. */
void vfr_icf_to_unit(const vfr_image *in, double *dst);

/* The final np.uint8(np.clip(v, 0, 1) * 255) of an (h, w, 3) double array. */
void vfr_icf_store_unit(const double *v, vfr_image *out);

/* ---- defocus ---------------------------------------------------------------------- */

/* The reference's disk(radius, alias_blur): the normalised float32 aliased disk on a
 * (2R+1)^2 grid (R = 8 for radius <= 8, else radius), blurred by cv2.GaussianBlur with a
 * 3x3 (R = 8) or 5x5 kernel, sigma alias_blur, BORDER_REFLECT_101. Returns R; k is
 * ((2R+1), (2R+1)) floats, at least (2*radius_max+1)^2 with radius_max = max(8, radius). */
int vfr_icf_disk_kernel(int radius, double alias_blur, float *k);

/* cv2.filter2D(plane, -1, kernel) of each channel of an (h, w, c) double array,
 * BORDER_REFLECT_101, kernel (ks, ks) floats anchored at its centre (correlation). dst is
 * (h, w, c). */
int vfr_icf_filter2d_reflect101(const double *src, int h, int w, int c, const float *kernel,
                                int ks, double *dst, vfr_error *err);

/* The bytes of vfr_icf_to_unit, vfr_icf_filter2d_reflect101 (c = 3) and vfr_icf_store_unit:
 * np.uint8(np.clip(filter2D(x / 255.), 0, 1) * 255) of an RGB image into out (allocated
 * like in). With AVX-512 the sums run in float on the bytes (vfr_ict_sum_unit_row, the taps
 * of each kernel row summed apart), the exact double sum where the truncation could
 * differ; otherwise the double sums themselves. */
int vfr_icf_filter2d_unit_u8(const vfr_image *in, const float *kernel, int ks, vfr_image *out,
                             vfr_error *err);

/* ---- motion blur ------------------------------------------------------------------ */

/* The reference's _motion_blur of an (h, w, c) array of doubles for the given angle in
 * degrees: a 1-D Gaussian kernel of width 2*radius+1 (sigma) laid along the angle, each
 * tap a copy of the image shifted by whole pixels with edge replication. dst (h, w, c). */
int vfr_icf_motion_blur_plane(const double *src, int h, int w, int c, int radius, double sigma,
                         double angle_deg, double *dst, vfr_error *err);
/* The same blur of an (h, w, 3) uint8 image (rows src_stride bytes apart), stored at once
 * as np.uint8(np.clip(y, 0, 255)) into dst (h rows, dst_stride bytes apart). */
int vfr_icf_motion_blur_u8(const uint8_t *src, size_t src_stride, int h, int w, int radius,
                           double sigma, double angle_deg, uint8_t *dst, size_t dst_stride,
                           vfr_error *err);

/* ---- zoom ------------------------------------------------------------------------- */

/* The reference's clipped_zoom(img, z) of a float32 (h, w, c) array: the centre crop of
 * ceil(h/z) x ceil(w/z) zoomed by scipy.ndimage.zoom(order=1, mode='constant') to
 * round(ch*z) x round(cw*z), as float32; the top-left oh x ow of the result is added
 * to acc (oh, ow, c) in float, as `acc += zoomed[:oh, :ow]`. Rows or columns beyond the
 * source grid are 0 as scipy makes them. */
int vfr_icf_clipped_zoom_add_f32(const float *src, int h, int w, int c, double z, float *acc,
                                 int oh, int ow, vfr_error *err);
/* The same for a double (h, w) plane; dst is the full (zh, zw) result, sizes returned. */
int vfr_icf_clipped_zoom_f64(const double *src, int h, int w, double z, double **dst, int *zh,
                        int *zw, vfr_error *err);

/* ---- elastic ---------------------------------------------------------------------- */

/* scipy.ndimage.map_coordinates(img, [rows, cols, chans], order=1, mode='reflect') of a
 * float32 (h, w, 3) array, with the sample of output (i, j, k) at (i + dy[i,j],
 * j + dx[i,j], k); dx, dy are (h, w) floats. dst is (h, w, 3) floats. */
void vfr_icf_map_coordinates_reflect(const float *img, int h, int w, const float *dx,
                                const float *dy, float *dst);

/* ---- fog -------------------------------------------------------------------------- */

struct vfr_np_rng;
/* The reference's plasma_fractal(mapsize, wibbledecay): float32 (n, n), n a power of
 * two, drawing np.random.uniform in the reference's order. */
int vfr_icf_plasma_fractal(struct vfr_np_rng *rng, int n, double wibbledecay, float *map,
                      vfr_error *err);

/* ---- colour ----------------------------------------------------------------------- */

/* cv2.cvtColor(x, COLOR_RGB2GRAY) of one row of w float32 RGB pixels (rgb is (w, 3)):
 * 0.299 R + 0.587 G + 0.114 B in float32 as OpenCV 4.6's AVX2 code computes it, fused
 * multiply-adds in 8-pixel blocks and a differently fused scalar tail (checked against
 * cv2 on every row width of the tests). gray is (w). */
void vfr_icf_cv_gray_row_f32(const float *rgb, int w, float *gray);

/* The window (ox, oy, ow, oh) of cv2.resize(src, (dw, dh), interpolation=INTER_CUBIC) of
 * an 8-bit (sh, sw, c) image, OpenCV's fixed-point path (every output depends on its own
 * coordinates only, so a window equals the crop of the full resize). dst is (oh, ow, c). */
int vfr_icf_cv_resize_cubic_u8(const uint8_t *src, int sw, int sh, int c, int dw, int dh,
                               int ox, int oy, int ow, int oh, uint8_t *dst, vfr_error *err);
/* ---- OpenCV 8-bit primitives (spatter) --------------------------------------------- */

/* cv2.Canny(src, low, high) (aperture 3, L1 gradient) of an 8-bit (h, w) plane into dst
 * (h, w): 255 on edges, else 0. */
int vfr_icf_cv_canny_u8(const uint8_t *src, int w, int h, int low, int high, uint8_t *dst,
                        vfr_error *err);
/* cv2.distanceTransform(src, DIST_L2, 5): the 5x5 chamfer (1, 1.4, 2.1969 in 16.16 fixed
 * point) distance to the nearest zero of src, float32 (h, w). */
int vfr_icf_cv_distance_l2_5(const uint8_t *src, int w, int h, float *dst, vfr_error *err);
void vfr_icf_cv_blur3_f32(const float *src, int w, int h, float *dst);
void vfr_icf_cv_blur3_u8(const uint8_t *src, int w, int h, uint8_t *dst);
/* cv2.equalizeHist of n 8-bit values. */
void vfr_icf_cv_equalize_hist(const uint8_t *src, size_t n, uint8_t *dst);
void vfr_icf_cv_filter3_u8(const uint8_t *src, int w, int h, const int *k, uint8_t *dst);

#endif
