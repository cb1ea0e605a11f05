/* Byte kernels over interleaved RGB runs (not public API): each channel's byte sum and a
 * lookup through one 256-entry table per channel. A run starts on a pixel; byte j of it
 * belongs to channel j % 3. The results are those of the plain loops for every input; with
 * AVX-512 BW (sums) and VBMI (lookups) 64 bytes go at a time. */
#ifndef VFR_IC_LUT_H
#define VFR_IC_LUT_H

#include <stddef.h>
#include <stdint.h>

/* sums[c] += s[3i + c] summed over i < n (s: n RGB pixels, sums (3)). */
void vfr_icl_rgb_sums(uint64_t *sums, const uint8_t *s, size_t n);

/* d[3i + c] = lut[c][s[3i + c]] for i < n (d, s: n RGB pixels; lut: 3 tables of 256). */
void vfr_icl_rgb_lookup(uint8_t *d, const uint8_t *s, size_t n, const uint8_t lut[3][256]);

/* The largest of top and the n bytes s (a byte run of any layout). */
int vfr_icl_max_u8(const uint8_t *s, size_t n, int top);

#endif
