/* CLIP's ModifiedResNet image tower (inference): the 3-convolution stem with average
 * pool, Bottleneck stages with the anti-aliasing average pool before strided paths, and the
 * attention pool. BatchNorm (eval mode) is folded into the convolutions at load;
 * activations are channel-blocked (B, C/cb, H, W, cb) in the engine's block cb; every
 * convolution is an engine convolution (engine_conv_*, Winograd for 3x3 stride 1) with its
 * bias, residual sum and ReLU fused. */
#ifndef VFR_MODEL_RESNET_H
#define VFR_MODEL_RESNET_H

/* One convolution and the BatchNorm after it: names (printf patterns with the stage and
 * block index for block rows), kernel size and stride. */
typedef struct resnet_conv_row {
  const char *conv, *bn;
  int k, stride;
} resnet_conv_row;

/* The catalogue (family_open_clip_resnet.c). */
extern const resnet_conv_row RESNET_STEM[3];
extern const resnet_conv_row RESNET_BLOCK[4]; /* conv1, conv2, conv3, downsample */
extern const char *const RESNET_BN_PARTS[4];  /* weight, bias, running_mean, running_var */
extern const char *const RESNET_POOL_POS;
extern const char *const RESNET_POOL_PROJ[4]; /* q, k, v, c projections (.weight, .bias) */

#endif
