/* Position embeddings at a resolution other than the trained one. */
#ifndef VFR_MODEL_POS_EMBED_H
#define VFR_MODEL_POS_EMBED_H

/* Bicubic resampling of a channel-last grid, as PyTorch's
 * F.interpolate(x, size=(OH,OW), mode='bicubic', align_corners=False, antialias=aa)
 * on the (1,C,IH,IW) permutation of it.
 *   aa == 0: cubic convolution a = -0.75 on 4x4 neighbours, source index
 *            scale*(o+0.5)-0.5 with scale = in/out, neighbours clamped to the border.
 *   aa != 0: separable (width pass, then height pass) Keys a = -0.5 filter whose support
 *            widens by the scale when downsampling, weights normalised to sum 1.
 * out is (OH,OW,C), inp is (IH,IW,C); tmp is scratch of (IH*OW*C) floats (used by aa only).
 * Returns 0, or -1 if a size is not positive. */
int interpolate_bicubic(float *out, const float *inp, float *tmp, int IH, int IW, int OH, int OW,
                        int C, int aa);

/* The taps both directions (forward here, backward in finetune/) share, so that the
 * backward is the exact transpose of the map the forward applied.
 * Plain bicubic: output index o of a resize from in_size to out_size reads the clamped
 * inputs idx[4] with weights w[4]. */
void bicubic_taps(int o, int in_size, int out_size, float w[4], int idx[4]);
/* Antialiased: output index o reads inputs *start .. *start + *size - 1 with normalised
 * weights w[0 .. *size) (w holds BICUBIC_AA_MAX_TAPS). Returns 0, or -1 when more taps
 * would be needed (a downscale by more than 16). */
#define BICUBIC_AA_MAX_TAPS 64
int bicubic_aa_taps(int o, int in_size, int out_size, float *w, int *start, int *size);

/* G for a trained table of n_pos rows (CLS + G*G), or -1 when it is not a square grid. */
int dinov2_grid_side(int n_pos);

/* DINOv2 position embeddings for an H x W input with patch size P, as the Hugging Face
 * Dinov2Embeddings / Dinov2WithRegistersEmbeddings do: the trained table pos is
 * (1 + G*G, C) (CLS first, then a G x G grid); out is (1 + (H/P)*(W/P), C). When the grid
 * already matches (H/P*W/P == G*G and H == W) the table is copied unchanged; otherwise
 * the CLS row is kept and the grid resampled to (H/P, W/P) by interpolate_bicubic (aa for
 * dinov2_with_registers). tmp is scratch of (G*(W/P)*C) floats. Returns 0, or -1 when
 * the table is not a square grid or a size is not positive. */
int dinov2_pos_embed(float *out, const float *pos, float *tmp, int n_pos, int C, int H, int W,
                     int P, int aa);

#endif
