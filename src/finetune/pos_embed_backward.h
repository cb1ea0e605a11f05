/* Backward of the position-embedding resampling of model/pos_embed.h. The resampling is a
 * linear map of the trained grid, so its backward is the transpose of that map: every output
 * gradient is scattered back onto the input cells with the weights the forward used. */
#ifndef VFR_FINETUNE_POS_EMBED_BACKWARD_H
#define VFR_FINETUNE_POS_EMBED_BACKWARD_H

/* dinp (IH,IW,C) += the transpose of interpolate_bicubic (same sizes and aa) applied to
 * dout (OH,OW,C). tmp is scratch of (IH*OW*C) floats (used by aa only).
 * Returns 0, or -1 if a size is not positive or a filter is wider than the forward allows. */
int interpolate_bicubic_backward(float *dinp, const float *dout, float *tmp, int IH, int IW, int OH,
                                 int OW, int C, int aa);

/* dpos (n_pos,C) += gradient of dinov2_pos_embed given dout (1 + (H/P)*(W/P), C), the gradient
 * of its output. tmp is scratch of (G*(W/P)*C) floats, G*G = n_pos - 1.
 * Returns 0, or -1 under the same conditions as dinov2_pos_embed. */
int dinov2_pos_embed_backward(float *dpos, const float *dout, float *tmp, int n_pos, int C, int H,
                              int W, int P, int aa);

#endif
