/* Hugging Face CLIP (CLIPModel, CLIPVisionModelWithProjection): "vision_model.*",
 * "visual_projection.weight" and the text tower "text_model.*", "text_projection.weight".
 * Rows in the order random initialisation draws them (its seeds follow the row index). */
#include "model/family_rows.h"

static const fam_tensor VISION[] = {
    TOP1("vision_model.embeddings.class_embedding", VF_CLS, FD_D, FI_CLS),
    TOP4("vision_model.embeddings.patch_embedding.weight", VF_PATCH_W, FD_D, FD_3, FD_P, FD_P,
         FI_RANGE),
    TOP2("vision_model.embeddings.position_embedding.weight", VF_POS, FD_POS, FD_D, FI_RANGE),
    TOP1("vision_model.pre_layrnorm.weight", VF_PRE_LN_W, FD_D, FI_ONE),
    TOP1("vision_model.pre_layrnorm.bias", VF_PRE_LN_B, FD_D, FI_ZERO),
    BLK1("vision_model.encoder.layers.%d.layer_norm1.weight", VF_LN1_W, FD_D, FI_ONE),
    BLK1("vision_model.encoder.layers.%d.layer_norm1.bias", VF_LN1_B, FD_D, FI_ZERO),
    BLK2("vision_model.encoder.layers.%d.self_attn.q_proj.weight", VF_Q_W, FD_D, FD_D, FI_ATTN),
    BLK1("vision_model.encoder.layers.%d.self_attn.q_proj.bias", VF_Q_B, FD_D, FI_ZERO),
    BLK2("vision_model.encoder.layers.%d.self_attn.k_proj.weight", VF_K_W, FD_D, FD_D, FI_ATTN),
    BLK1("vision_model.encoder.layers.%d.self_attn.k_proj.bias", VF_K_B, FD_D, FI_ZERO),
    BLK2("vision_model.encoder.layers.%d.self_attn.v_proj.weight", VF_V_W, FD_D, FD_D, FI_ATTN),
    BLK1("vision_model.encoder.layers.%d.self_attn.v_proj.bias", VF_V_B, FD_D, FI_ZERO),
    BLK2("vision_model.encoder.layers.%d.self_attn.out_proj.weight", VF_O_W, FD_D, FD_D, FI_OUT),
    BLK1("vision_model.encoder.layers.%d.self_attn.out_proj.bias", VF_O_B, FD_D, FI_ZERO),
    BLK1("vision_model.encoder.layers.%d.layer_norm2.weight", VF_LN2_W, FD_D, FI_ONE),
    BLK1("vision_model.encoder.layers.%d.layer_norm2.bias", VF_LN2_B, FD_D, FI_ZERO),
    BLK2("vision_model.encoder.layers.%d.mlp.fc1.weight", VF_FC1_W, FD_M, FD_D, FI_FC1),
    BLK1("vision_model.encoder.layers.%d.mlp.fc1.bias", VF_FC1_B, FD_M, FI_ZERO),
    BLK2("vision_model.encoder.layers.%d.mlp.fc2.weight", VF_FC2_W, FD_D, FD_M, FI_ATTN),
    BLK1("vision_model.encoder.layers.%d.mlp.fc2.bias", VF_FC2_B, FD_D, FI_ZERO),
    TOP1("vision_model.post_layernorm.weight", VF_FINAL_LN_W, FD_D, FI_ONE),
    TOP1("vision_model.post_layernorm.bias", VF_FINAL_LN_B, FD_D, FI_ZERO),
    /* absent in CLIPVisionModel files; model_type "clip" requires it (model.c) */
    {"visual_projection.weight", VF_PROJ, 0, 2, {FD_E, FD_D}, FW_IF_PRESENT, 0, 0, 0, FI_OUT},
};

static const fam_tensor TEXT[] = {
    TOP2("text_model.embeddings.token_embedding.weight", TF_TOKEN, FD_TV, FD_TD, FI_NONE),
    TOP2("text_model.embeddings.position_embedding.weight", TF_POS, FD_TP, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.layer_norm1.weight", TF_LN1_W, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.layer_norm1.bias", TF_LN1_B, FD_TD, FI_NONE),
    BLK2("text_model.encoder.layers.%d.self_attn.q_proj.weight", TF_Q_W, FD_TD, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.self_attn.q_proj.bias", TF_Q_B, FD_TD, FI_NONE),
    BLK2("text_model.encoder.layers.%d.self_attn.k_proj.weight", TF_K_W, FD_TD, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.self_attn.k_proj.bias", TF_K_B, FD_TD, FI_NONE),
    BLK2("text_model.encoder.layers.%d.self_attn.v_proj.weight", TF_V_W, FD_TD, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.self_attn.v_proj.bias", TF_V_B, FD_TD, FI_NONE),
    BLK2("text_model.encoder.layers.%d.self_attn.out_proj.weight", TF_O_W, FD_TD, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.self_attn.out_proj.bias", TF_O_B, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.layer_norm2.weight", TF_LN2_W, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.layer_norm2.bias", TF_LN2_B, FD_TD, FI_NONE),
    BLK2("text_model.encoder.layers.%d.mlp.fc1.weight", TF_FC1_W, FD_TM, FD_TD, FI_NONE),
    BLK1("text_model.encoder.layers.%d.mlp.fc1.bias", TF_FC1_B, FD_TM, FI_NONE),
    BLK2("text_model.encoder.layers.%d.mlp.fc2.weight", TF_FC2_W, FD_TD, FD_TM, FI_NONE),
    BLK1("text_model.encoder.layers.%d.mlp.fc2.bias", TF_FC2_B, FD_TD, FI_NONE),
    TOP1("text_model.final_layer_norm.weight", TF_FINAL_LN_W, FD_TD, FI_NONE),
    TOP1("text_model.final_layer_norm.bias", TF_FINAL_LN_B, FD_TD, FI_NONE),
    TOP2("text_projection.weight", TF_PROJ, FD_TE, FD_TD, FI_NONE),
};

const model_family FAMILY_HF_CLIP = {
    .name = "clip",
    .layout = "hugging_face",
    .arch = FA_VIT,
    .vision = VISION,
    .n_vision = NROWS(VISION),
    .text = TEXT,
    .n_text = NROWS(TEXT),
    .finetune = 1,
    .clip_like = 1,
};
