/* Hugging Face DINOv2 (Dinov2Model, Dinov2WithRegistersModel): "embeddings.*",
 * "encoder.layer.{i}.*", "layernorm.*", optionally under a "dinov2." or
 * "dinov2_with_registers." prefix; MLP or SwiGLU feed-forward, layer scale. */
#include "model/family_rows.h"

static const fam_tensor VISION[] = {
    TOP3("embeddings.cls_token", VF_CLS, FD_1, FD_1, FD_D, FI_NONE),
    {"embeddings.position_embeddings", VF_POS, 0, 3, {FD_1, FD_POS, FD_D}, FW_ALWAYS, 0, 0, 1,
     FI_NONE},
    TOP4("embeddings.patch_embeddings.projection.weight", VF_PATCH_W, FD_D, FD_3, FD_P, FD_P,
         FI_NONE),
    TOP1("embeddings.patch_embeddings.projection.bias", VF_PATCH_B, FD_D, FI_NONE),
    {"embeddings.register_tokens", VF_REGISTERS, 0, 3, {FD_1, FD_R, FD_D}, FW_REGISTERS, 0, 0, 0,
     FI_NONE},
    BLK1("encoder.layer.%d.norm1.weight", VF_LN1_W, FD_D, FI_NONE),
    BLK1("encoder.layer.%d.norm1.bias", VF_LN1_B, FD_D, FI_NONE),
    BLK2("encoder.layer.%d.attention.attention.query.weight", VF_Q_W, FD_D, FD_D, FI_NONE),
    BLK2("encoder.layer.%d.attention.attention.key.weight", VF_K_W, FD_D, FD_D, FI_NONE),
    BLK2("encoder.layer.%d.attention.attention.value.weight", VF_V_W, FD_D, FD_D, FI_NONE),
    {"encoder.layer.%d.attention.attention.query.bias", VF_Q_B, 1, 1, {FD_D}, FW_QKV_BIAS, 0, 0, 0,
     FI_NONE},
    {"encoder.layer.%d.attention.attention.key.bias", VF_K_B, 1, 1, {FD_D}, FW_QKV_BIAS, 0, 0, 0,
     FI_NONE},
    {"encoder.layer.%d.attention.attention.value.bias", VF_V_B, 1, 1, {FD_D}, FW_QKV_BIAS, 0, 0, 0,
     FI_NONE},
    BLK2("encoder.layer.%d.attention.output.dense.weight", VF_O_W, FD_D, FD_D, FI_NONE),
    BLK1("encoder.layer.%d.attention.output.dense.bias", VF_O_B, FD_D, FI_NONE),
    BLK1("encoder.layer.%d.layer_scale1.lambda1", VF_LS1, FD_D, FI_NONE),
    BLK1("encoder.layer.%d.norm2.weight", VF_LN2_W, FD_D, FI_NONE),
    BLK1("encoder.layer.%d.norm2.bias", VF_LN2_B, FD_D, FI_NONE),
    {"encoder.layer.%d.mlp.fc1.weight", VF_FC1_W, 1, 2, {FD_M, FD_D}, FW_MLP, 0, 0, 0, FI_NONE},
    {"encoder.layer.%d.mlp.fc1.bias", VF_FC1_B, 1, 1, {FD_M}, FW_MLP, 0, 0, 0, FI_NONE},
    {"encoder.layer.%d.mlp.fc2.weight", VF_FC2_W, 1, 2, {FD_D, FD_M}, FW_MLP, 0, 0, 0, FI_NONE},
    {"encoder.layer.%d.mlp.fc2.bias", VF_FC2_B, 1, 1, {FD_D}, FW_MLP, 0, 0, 0, FI_NONE},
    {"encoder.layer.%d.mlp.weights_in.weight", VF_FC1_W, 1, 2, {FD_M1, FD_D}, FW_SWIGLU, 0, 0, 0,
     FI_NONE},
    {"encoder.layer.%d.mlp.weights_in.bias", VF_FC1_B, 1, 1, {FD_M1}, FW_SWIGLU, 0, 0, 0, FI_NONE},
    {"encoder.layer.%d.mlp.weights_out.weight", VF_FC2_W, 1, 2, {FD_D, FD_M}, FW_SWIGLU, 0, 0, 0,
     FI_NONE},
    {"encoder.layer.%d.mlp.weights_out.bias", VF_FC2_B, 1, 1, {FD_D}, FW_SWIGLU, 0, 0, 0, FI_NONE},
    BLK1("encoder.layer.%d.layer_scale2.lambda1", VF_LS2, FD_D, FI_NONE),
    TOP1("layernorm.weight", VF_FINAL_LN_W, FD_D, FI_NONE),
    TOP1("layernorm.bias", VF_FINAL_LN_B, FD_D, FI_NONE),
};

static const char *const PREFIXES[] = {"", "dinov2.", "dinov2_with_registers.", NULL};

const model_family FAMILY_DINOV2 = {
    .name = "dinov2",
    .layout = "hugging_face",
    .arch = FA_VIT,
    .vision = VISION,
    .n_vision = NROWS(VISION),
    .prefixes = PREFIXES,
    .probe = "embeddings.cls_token",
    .finetune = 1,
};
