/* OpenCLIP folders (open_clip_config.json + open_clip_model.safetensors), names as
 * open_clip's model.py and transformer.py define them: the ViT tower "visual.*" (fused
 * attn.in_proj_weight/bias of q, k, v; "visual.proj" applied as x @ proj) and the text tower
 * at the top level ("token_embedding", "positional_embedding", "transformer.resblocks.*",
 * "ln_final", "text_projection" as x @ text_projection). */
#include "model/family_rows.h"

#define FUSED(n, f, a, b) {n, f, 1, 2, {a, b}, FW_ALWAYS, 3, 0, 0, FI_NONE}
#define FUSED1(n, f, a) {n, f, 1, 1, {a}, FW_ALWAYS, 3, 0, 0, FI_NONE}

static const fam_tensor VISION[] = {
    TOP1("visual.class_embedding", VF_CLS, FD_D, FI_NONE),
    TOP2("visual.positional_embedding", VF_POS, FD_POS, FD_D, FI_NONE),
    TOP4("visual.conv1.weight", VF_PATCH_W, FD_D, FD_3, FD_P, FD_P, FI_NONE),
    TOP1("visual.ln_pre.weight", VF_PRE_LN_W, FD_D, FI_NONE),
    TOP1("visual.ln_pre.bias", VF_PRE_LN_B, FD_D, FI_NONE),
    BLK1("visual.transformer.resblocks.%d.ln_1.weight", VF_LN1_W, FD_D, FI_NONE),
    BLK1("visual.transformer.resblocks.%d.ln_1.bias", VF_LN1_B, FD_D, FI_NONE),
    FUSED("visual.transformer.resblocks.%d.attn.in_proj_weight", VF_Q_W, FD_3D, FD_D),
    FUSED1("visual.transformer.resblocks.%d.attn.in_proj_bias", VF_Q_B, FD_3D),
    BLK2("visual.transformer.resblocks.%d.attn.out_proj.weight", VF_O_W, FD_D, FD_D, FI_NONE),
    BLK1("visual.transformer.resblocks.%d.attn.out_proj.bias", VF_O_B, FD_D, FI_NONE),
    BLK1("visual.transformer.resblocks.%d.ln_2.weight", VF_LN2_W, FD_D, FI_NONE),
    BLK1("visual.transformer.resblocks.%d.ln_2.bias", VF_LN2_B, FD_D, FI_NONE),
    BLK2("visual.transformer.resblocks.%d.mlp.c_fc.weight", VF_FC1_W, FD_M, FD_D, FI_NONE),
    BLK1("visual.transformer.resblocks.%d.mlp.c_fc.bias", VF_FC1_B, FD_M, FI_NONE),
    BLK2("visual.transformer.resblocks.%d.mlp.c_proj.weight", VF_FC2_W, FD_D, FD_M, FI_NONE),
    BLK1("visual.transformer.resblocks.%d.mlp.c_proj.bias", VF_FC2_B, FD_D, FI_NONE),
    TOP1("visual.ln_post.weight", VF_FINAL_LN_W, FD_D, FI_NONE),
    TOP1("visual.ln_post.bias", VF_FINAL_LN_B, FD_D, FI_NONE),
    {"visual.proj", VF_PROJ, 0, 2, {FD_D, FD_E}, FW_ALWAYS, 0, 1, 0, FI_NONE},
};

const fam_tensor OPEN_CLIP_TEXT[OPEN_CLIP_TEXT_ROWS] = {
    TOP2("token_embedding.weight", TF_TOKEN, FD_TV, FD_TD, FI_NONE),
    TOP2("positional_embedding", TF_POS, FD_TP, FD_TD, FI_NONE),
    BLK1("transformer.resblocks.%d.ln_1.weight", TF_LN1_W, FD_TD, FI_NONE),
    BLK1("transformer.resblocks.%d.ln_1.bias", TF_LN1_B, FD_TD, FI_NONE),
    FUSED("transformer.resblocks.%d.attn.in_proj_weight", TF_Q_W, FD_T3D, FD_TD),
    FUSED1("transformer.resblocks.%d.attn.in_proj_bias", TF_Q_B, FD_T3D),
    BLK2("transformer.resblocks.%d.attn.out_proj.weight", TF_O_W, FD_TD, FD_TD, FI_NONE),
    BLK1("transformer.resblocks.%d.attn.out_proj.bias", TF_O_B, FD_TD, FI_NONE),
    BLK1("transformer.resblocks.%d.ln_2.weight", TF_LN2_W, FD_TD, FI_NONE),
    BLK1("transformer.resblocks.%d.ln_2.bias", TF_LN2_B, FD_TD, FI_NONE),
    BLK2("transformer.resblocks.%d.mlp.c_fc.weight", TF_FC1_W, FD_TM, FD_TD, FI_NONE),
    BLK1("transformer.resblocks.%d.mlp.c_fc.bias", TF_FC1_B, FD_TM, FI_NONE),
    BLK2("transformer.resblocks.%d.mlp.c_proj.weight", TF_FC2_W, FD_TD, FD_TM, FI_NONE),
    BLK1("transformer.resblocks.%d.mlp.c_proj.bias", TF_FC2_B, FD_TD, FI_NONE),
    TOP1("ln_final.weight", TF_FINAL_LN_W, FD_TD, FI_NONE),
    TOP1("ln_final.bias", TF_FINAL_LN_B, FD_TD, FI_NONE),
    {"text_projection", TF_PROJ, 0, 2, {FD_TD, FD_TE}, FW_ALWAYS, 0, 1, 0, FI_NONE},
};

const model_family FAMILY_OPEN_CLIP = {
    .name = "open_clip",
    .layout = "open_clip",
    .arch = FA_VIT,
    .vision = VISION,
    .n_vision = NROWS(VISION),
    .text = OPEN_CLIP_TEXT,
    .n_text = NROWS(OPEN_CLIP_TEXT),
    .clip_like = 1,
    .torchvision_preprocess = 1,
};
