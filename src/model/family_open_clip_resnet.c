/* OpenCLIP / OpenAI CLIP ModifiedResNet towers (RN50, RN101, RN50x4, RN50x16, RN50x64), names
 * as open_clip's modified_resnet.py defines them under "visual.": the stem
 * conv1/bn1, conv2/bn2, conv3/bn3; layer{1..4}.{i}.conv{1,2,3}/bn{1,2,3} and
 * downsample.0 (1x1 conv) / downsample.1 (its BatchNorm) on the first block of a stage;
 * attnpool.{positional_embedding, q_proj, k_proj, v_proj, c_proj}. The text tower is the
 * open_clip one (family_open_clip.c). Shapes depend on the stage, so the rows here are the
 * names of one convolution and its BatchNorm; resnet.c sizes them from the config. */
#include "model/family_rows.h"
#include "model/resnet.h"

const resnet_conv_row RESNET_STEM[3] = {
    {"visual.conv1", "visual.bn1", 3, 2},
    {"visual.conv2", "visual.bn2", 3, 1},
    {"visual.conv3", "visual.bn3", 3, 1},
};

const resnet_conv_row RESNET_BLOCK[4] = {
    {"visual.layer%d.%d.conv1", "visual.layer%d.%d.bn1", 1, 1},
    {"visual.layer%d.%d.conv2", "visual.layer%d.%d.bn2", 3, 1},
    {"visual.layer%d.%d.conv3", "visual.layer%d.%d.bn3", 1, 1},
    {"visual.layer%d.%d.downsample.0", "visual.layer%d.%d.downsample.1", 1, 1},
};

const char *const RESNET_BN_PARTS[4] = {"weight", "bias", "running_mean", "running_var"};

const char *const RESNET_POOL_POS = "visual.attnpool.positional_embedding";
const char *const RESNET_POOL_PROJ[4] = {"visual.attnpool.q_proj", "visual.attnpool.k_proj",
                                         "visual.attnpool.v_proj", "visual.attnpool.c_proj"};

const model_family FAMILY_OPEN_CLIP_RESNET = {
    .name = "open_clip_resnet",
    .layout = "open_clip",
    .arch = FA_RESNET,
    .text = OPEN_CLIP_TEXT,
    .n_text = OPEN_CLIP_TEXT_ROWS,
    .clip_like = 1,
    .torchvision_preprocess = 1,
};
