/* CLIP's ModifiedResNet image tower (inference): the 3-convolution stem with average
 * pool, Bottleneck stages with the anti-aliasing average pool before strided paths, and the
 * attention pool. BatchNorm (eval mode) is folded into the convolutions at load;
 * activations are channels-last (B, H, W, C); every convolution is an im2col and an engine
 * product (1x1 stride-1 convolutions are the product alone). */
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
