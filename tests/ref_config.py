"""config.json / preprocessor_config.json reading against Hugging Face's semantics.

The reference here is written in Python from the transformers configuration classes
(CLIPConfig, CLIPVisionConfig, CLIPTextConfig, Dinov2Config, Dinov2WithRegistersConfig) and
image processors (CLIPImageProcessor, BitImageProcessor): their documented defaults, merged
with the keys a file holds (for CLIP, the legacy *_config_dict entries override the
sub-configs). Folders modelled on the hub's openai/clip-vit-base-patch16, facebook/dinov2-small,
facebook/dinov2-with-registers-small and facebook/dinov2-giant, plus minimal and malformed
files; every malformed file must give the right code and a message naming the file and key.
"""
import ctypes as C
import json
import os
import tempfile

import numpy as np

import vfr_testlib as T

EINVAL, EIO, EFORMAT, ENOMEM, ELIMIT, EUNSUPPORTED = 1, 2, 3, 4, 5, 6
CLIP, DINOV2 = 1, 2
ACT = {"quick_gelu": 1, "gelu": 2, "gelu_new": 3, "gelu_pytorch_tanh": 3}


Error = T.abi.vfr_error


class VitConfig(C.Structure):
    _fields_ = [("family", C.c_int), ("model_type", C.c_char * 48), ("hidden_size", C.c_int),
                ("num_layers", C.c_int), ("num_heads", C.c_int), ("intermediate_size", C.c_int),
                ("patch_size", C.c_int), ("image_size", C.c_int), ("num_channels", C.c_int),
                ("layer_norm_eps", C.c_float), ("act", C.c_int), ("projection_dim", C.c_int),
                ("use_swiglu", C.c_int), ("num_register_tokens", C.c_int),
                ("layerscale_value", C.c_float), ("qkv_bias", C.c_int),
                ("resnet_layers", C.c_int * 4)]


class TextConfig(C.Structure):
    _fields_ = [("present", C.c_int), ("vocab_size", C.c_int), ("hidden_size", C.c_int),
                ("num_layers", C.c_int), ("num_heads", C.c_int), ("intermediate_size", C.c_int),
                ("max_position_embeddings", C.c_int), ("layer_norm_eps", C.c_float),
                ("act", C.c_int), ("projection_dim", C.c_int), ("eos_token_id", C.c_int),
                ("argmax_pool", C.c_int)]


class ModelConfig(C.Structure):
    _fields_ = [("weights_file", C.c_char * 48), ("config_file", C.c_char * 48),
                ("vision", VitConfig), ("text", TextConfig), ("logit_scale_init", C.c_float)]


class PreprocessConfig(C.Structure):
    _fields_ = [("do_resize", C.c_int), ("shortest_edge", C.c_int), ("resample", C.c_int),
                ("do_center_crop", C.c_int), ("crop_height", C.c_int), ("crop_width", C.c_int),
                ("do_rescale", C.c_int), ("rescale_factor", C.c_float), ("do_normalize", C.c_int),
                ("mean", C.c_float * 3), ("std", C.c_float * 3), ("do_convert_rgb", C.c_int),
                ("squash", C.c_int), ("crop_round", C.c_int), ("rescale_divide", C.c_int)]


lib = T.load_internal_lib()
lib.vfr_model_config_read.argtypes = [C.c_char_p, C.POINTER(ModelConfig), C.POINTER(Error)]
lib.vfr_preprocess_config_read.argtypes = [C.c_char_p, C.c_int, C.POINTER(PreprocessConfig),
                                           C.POINTER(Error)]

chk = T.Checker("ref_config")
tmp = tempfile.mkdtemp(prefix="vfr_ref_config_")

# ---- the reference: Hugging Face's defaults and merging rules --------------------------------
CLIP_VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, projection_dim=512,
                            num_hidden_layers=12, num_attention_heads=12, num_channels=3,
                            image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5)
CLIP_TEXT_DEFAULTS = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, projection_dim=512,
                          num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77,
                          hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=49407)
DINOV2_DEFAULTS = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, mlp_ratio=4,
                       hidden_act="gelu", layer_norm_eps=1e-6, image_size=224, patch_size=14,
                       num_channels=3, qkv_bias=True, layerscale_value=1.0, use_swiglu_ffn=False)
DINOV2_REG_DEFAULTS = dict(DINOV2_DEFAULTS, patch_size=16, num_register_tokens=4)


def hf_expect(cfg):
    """What transformers would build from config dict `cfg`, in the C struct's terms."""
    mt = cfg["model_type"]
    if mt == "clip":
        v = {**CLIP_VISION_DEFAULTS, **(cfg.get("vision_config") or {}), **(cfg.get("vision_config_dict") or {})}
        t = {**CLIP_TEXT_DEFAULTS, **(cfg.get("text_config") or {}), **(cfg.get("text_config_dict") or {})}
        proj = cfg.get("projection_dim", 512)
        vision = dict(family=CLIP, hidden_size=v["hidden_size"], num_layers=v["num_hidden_layers"],
                      num_heads=v["num_attention_heads"], intermediate_size=v["intermediate_size"],
                      patch_size=v["patch_size"], image_size=v["image_size"], num_channels=v["num_channels"],
                      layer_norm_eps=v["layer_norm_eps"], act=ACT[v["hidden_act"]], projection_dim=proj,
                      use_swiglu=0, num_register_tokens=0, qkv_bias=1)
        text = dict(present=1, vocab_size=t["vocab_size"], hidden_size=t["hidden_size"],
                    num_layers=t["num_hidden_layers"], num_heads=t["num_attention_heads"],
                    intermediate_size=t["intermediate_size"], max_position_embeddings=t["max_position_embeddings"],
                    layer_norm_eps=t["layer_norm_eps"], act=ACT[t["hidden_act"]], projection_dim=proj,
                    eos_token_id=t["eos_token_id"])
        return vision, text, cfg.get("logit_scale_init_value", 2.6592)
    if mt == "clip_vision_model":
        v = {**CLIP_VISION_DEFAULTS, **cfg}
        vision = dict(family=CLIP, hidden_size=v["hidden_size"], num_layers=v["num_hidden_layers"],
                      num_heads=v["num_attention_heads"], intermediate_size=v["intermediate_size"],
                      patch_size=v["patch_size"], image_size=v["image_size"], num_channels=v["num_channels"],
                      layer_norm_eps=v["layer_norm_eps"], act=ACT[v["hidden_act"]],
                      projection_dim=v["projection_dim"], use_swiglu=0, num_register_tokens=0, qkv_bias=1)
        return vision, dict(present=0), 0.0
    d = {**(DINOV2_REG_DEFAULTS if mt == "dinov2_with_registers" else DINOV2_DEFAULTS), **cfg}
    vision = dict(family=DINOV2, hidden_size=d["hidden_size"], num_layers=d["num_hidden_layers"],
                  num_heads=d["num_attention_heads"],
                  intermediate_size=int(d["hidden_size"] * d["mlp_ratio"]),   # Dinov2MLP's width
                  patch_size=d["patch_size"], image_size=d["image_size"], num_channels=d["num_channels"],
                  layer_norm_eps=d["layer_norm_eps"], act=ACT[d["hidden_act"]], projection_dim=0,
                  use_swiglu=int(d["use_swiglu_ffn"]),
                  num_register_tokens=d.get("num_register_tokens", 0) if mt == "dinov2_with_registers" else 0,
                  layerscale_value=d["layerscale_value"], qkv_bias=int(d["qkv_bias"]))
    return vision, dict(present=0), 0.0


def same(got, want):
    if isinstance(want, float):
        return np.float32(got) == np.float32(want)
    return got == want


def write_folder(name, config=None, preprocessor=None, raw_config=None):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    if config is not None or raw_config is not None:
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(raw_config if raw_config is not None else json.dumps(config, indent=2))
    if preprocessor is not None:
        with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
            f.write(preprocessor if isinstance(preprocessor, str) else json.dumps(preprocessor, indent=2))
    return d


def read_config(d):
    cfg, err = ModelConfig(), Error()
    rc = lib.vfr_model_config_read(d.encode(), C.byref(cfg), C.byref(err))
    return rc, cfg, err.message.decode()


def check_good(name, cfg):
    d = write_folder(name, cfg)
    rc, got, msg = read_config(d)
    if not chk.check(rc == 0, f"{name}: read failed: {msg}"):
        return
    vision, text, logit = hf_expect(cfg)
    bad = [f"vision.{k}={getattr(got.vision, k)} (want {w})" for k, w in vision.items()
           if not same(getattr(got.vision, k), w)]
    bad += [f"text.{k}={getattr(got.text, k)} (want {w})" for k, w in text.items()
            if not same(getattr(got.text, k), w)]
    if not same(got.logit_scale_init, float(logit)):
        bad.append(f"logit_scale_init={got.logit_scale_init}")
    if got.vision.model_type.decode() != cfg["model_type"]:
        bad.append(f"model_type={got.vision.model_type}")
    chk.check(not bad, f"{name}: {bad}")
    print(f"  {name}: {len(vision) + len(text) + 2} fields compared, {len(bad)} differ")


def expect_refused(name, code, fragments, config=None, raw_config=None):
    d = write_folder(name, config, raw_config=raw_config)
    rc, got, msg = read_config(d)
    file = os.path.join(d, "config.json")
    missing = [f for f in fragments if f not in msg]
    chk.check(rc == code and msg.startswith(file + ": ") and "\n" not in msg and not missing,
              f"{name}: rc {rc} (want {code}) {msg!r}, missing {missing}")
    print(f"  {name}: {msg}")


# ---- real-looking folders -----------------------------------------------------------------------
generation_noise = {"add_cross_attention": False, "bad_words_ids": None, "chunk_size_feed_forward": 0,
                    "diversity_penalty": 0.0, "do_sample": False, "early_stopping": False,
                    "finetuning_task": None, "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
                    "is_decoder": False, "length_penalty": 1.0, "max_length": 20, "min_length": 0,
                    "num_beams": 1, "output_attentions": False, "problem_type": None,
                    "return_dict": True, "torch_dtype": None, "torchscript": False,
                    "transformers_version": "4.21.0.dev0", "use_bfloat16": False}
clip_b16 = {
    "_commit_hash": None, "_name_or_path": "openai/clip-vit-base-patch16",
    "architectures": ["CLIPModel"], "initializer_factor": 1.0, "logit_scale_init_value": 2.6592,
    "model_type": "clip", "projection_dim": 512,
    "text_config": dict(generation_noise, _name_or_path="", attention_dropout=0.0, bos_token_id=0,
                        dropout=0.0, eos_token_id=2, hidden_act="quick_gelu", hidden_size=512,
                        initializer_factor=1.0, initializer_range=0.02, intermediate_size=2048,
                        layer_norm_eps=1e-05, max_position_embeddings=77, model_type="clip_text_model",
                        num_attention_heads=8, num_hidden_layers=12, pad_token_id=1,
                        projection_dim=512, vocab_size=49408),
    "text_config_dict": {"hidden_act": "quick_gelu"},
    "torch_dtype": "float32", "transformers_version": None,
    "vision_config": dict(generation_noise, _name_or_path="", attention_dropout=0.0, dropout=0.0,
                          hidden_act="quick_gelu", hidden_size=768, image_size=224,
                          initializer_factor=1.0, initializer_range=0.02, intermediate_size=3072,
                          layer_norm_eps=1e-05, model_type="clip_vision_model", num_attention_heads=12,
                          num_channels=3, num_hidden_layers=12, patch_size=32, projection_dim=512),
    # The hub file carries the patch size in the legacy dict; it must win over vision_config.
    "vision_config_dict": {"hidden_act": "quick_gelu", "patch_size": 16},
}
check_good("clip-vit-base-patch16", clip_b16)
check_good("clip-vit-large-patch14-336", {
    "model_type": "clip", "projection_dim": 768, "logit_scale_init_value": 2.6592,
    "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                    "num_hidden_layers": 12, "projection_dim": 768, "eos_token_id": 49407},
    "vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
                      "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14,
                      "projection_dim": 768}, "text_config_dict": None, "vision_config_dict": None})
check_good("clip-minimal", {"model_type": "clip"})
check_good("clip-vision-with-projection", {"architectures": ["CLIPVisionModelWithProjection"],
                                           "model_type": "clip_vision_model", "hidden_size": 1024,
                                           "num_attention_heads": 16, "num_hidden_layers": 24,
                                           "intermediate_size": 4096, "patch_size": 14,
                                           "projection_dim": 768, "hidden_act": "gelu"})
dinov2_small = {"architectures": ["Dinov2Model"], "attention_probs_dropout_prob": 0.0,
                "drop_path_rate": 0.0, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
                "hidden_size": 384, "image_size": 518, "initializer_range": 0.02,
                "layer_norm_eps": 1e-06, "layerscale_value": 1.0, "mlp_ratio": 4, "model_type": "dinov2",
                "num_attention_heads": 6, "num_channels": 3, "num_hidden_layers": 12, "patch_size": 14,
                "qkv_bias": True, "torch_dtype": "float32", "transformers_version": "4.31.0.dev0",
                "use_swiglu_ffn": False}
check_good("dinov2-small", dinov2_small)
check_good("dinov2-with-registers-small", dict(
    dinov2_small, architectures=["Dinov2WithRegistersModel"], model_type="dinov2_with_registers",
    num_register_tokens=4, apply_layernorm=True, out_features=["stage12"], out_indices=[12],
    reshape_hidden_states=True, stage_names=["stem"] + [f"stage{i}" for i in range(1, 13)],
    interpolate_antialias=True, interpolate_offset=0.0))
check_good("dinov2-giant", dict(dinov2_small, hidden_size=1536, num_attention_heads=24,
                                num_hidden_layers=40, use_swiglu_ffn=True))
check_good("dinov2-minimal", {"model_type": "dinov2"})
check_good("dinov2-registers-minimal", {"model_type": "dinov2_with_registers"})
check_good("dinov2-odd-ratio", {"model_type": "dinov2", "hidden_size": 100, "num_attention_heads": 4,
                                "mlp_ratio": 2.66, "layerscale_value": 1e-5, "qkv_bias": False,
                                "hidden_act": "gelu_pytorch_tanh"})

# ---- malformed configs ------------------------------------------------------------------------------
d = os.path.join(tmp, "no-config")
os.makedirs(d)
rc, _, msg = read_config(d)
chk.check(rc == EIO and msg.startswith(os.path.join(d, "config.json") + ": cannot open"), f"absent config: {msg}")
print(f"  no-config: {msg}")
expect_refused("not-json", EFORMAT, ["not valid JSON (line 3, column"],
               raw_config='{\n  "model_type": "clip",\n  "projection_dim": ,\n}')
expect_refused("array", EFORMAT, ["must hold a JSON object, not an array"], raw_config="[1]")
expect_refused("dup-key", EFORMAT, ["duplicate object key"],
               raw_config='{"model_type": "dinov2", "hidden_size": 384, "hidden_size": 768}')
expect_refused("no-model-type", EFORMAT, ["no 'model_type'"], {"hidden_size": 768})
expect_refused("model-type-int", EFORMAT, ["key 'model_type' must be a string, not an integer"], {"model_type": 3})
expect_refused("bert", EUNSUPPORTED, ["model_type 'bert' is not supported"], {"model_type": "bert"})
expect_refused("model-type-newline", EUNSUPPORTED, ["model_type 'bert?base' is not supported"],
               {"model_type": "bert\nbase"})
expect_refused("clip-text-only", EUNSUPPORTED, ["model_type 'clip_text_model'"], {"model_type": "clip_text_model"})
expect_refused("string-int", EFORMAT, ["key 'vision_config.hidden_size' must be an integer, not a string"],
               {"model_type": "clip", "vision_config": {"hidden_size": "768"}})
expect_refused("real-int", EFORMAT, ["key 'num_hidden_layers' must be an integer, not a real number"],
               {"model_type": "dinov2", "num_hidden_layers": 12.0})
expect_refused("hidden-zero", EFORMAT, ["key 'hidden_size' = 0 is out of range"],
               {"model_type": "dinov2", "hidden_size": 0})
expect_refused("hidden-huge", EFORMAT, ["key 'vision_config.hidden_size' = 70000 is out of range"],
               {"model_type": "clip", "vision_config": {"hidden_size": 70000}})
expect_refused("heads-not-dividing", EFORMAT, ["vision_config.hidden_size 768 is not divisible by num_attention_heads 10"],
               {"model_type": "clip", "vision_config": {"num_attention_heads": 10}})
expect_refused("text-heads", EFORMAT, ["text_config.hidden_size 512 is not divisible by num_attention_heads 7"],
               {"model_type": "clip", "text_config": {"num_attention_heads": 7}})
expect_refused("patch-zero", EFORMAT, ["key 'patch_size' = 0 is out of range"], {"model_type": "dinov2", "patch_size": 0})
expect_refused("patch-over-image", EFORMAT, ["patch_size 300 is larger than image_size 224"],
               {"model_type": "dinov2", "patch_size": 300})
expect_refused("relu", EUNSUPPORTED, ["key 'vision_config.hidden_act' = 'relu' is not supported"],
               {"model_type": "clip", "vision_config": {"hidden_act": "relu"}})
expect_refused("vision-list", EFORMAT, ["key 'vision_config' must be an object, not an array"],
               {"model_type": "clip", "vision_config": [768]})
expect_refused("eps-negative", EFORMAT, ["key 'layer_norm_eps' = -1e-06 must be in (0, 1)"],
               {"model_type": "dinov2", "layer_norm_eps": -1e-6})
expect_refused("eps-underflow", EFORMAT, ["key 'layer_norm_eps' = 1e-205 must be in (0, 1)"],
               {"model_type": "clip_vision_model", "layer_norm_eps": 1e-205})   # 0 as a float
expect_refused("layerscale-huge", EFORMAT, ["key 'layerscale_value' = 1e+300 does not fit a float"],
               {"model_type": "dinov2", "layerscale_value": 1e300})
expect_refused("mlp-ratio-string", EFORMAT, ["key 'mlp_ratio' must be a number, not a string"],
               {"model_type": "dinov2", "mlp_ratio": "4"})
expect_refused("mlp-ratio-zero", EFORMAT, ["key 'mlp_ratio' = 0 gives an MLP width of 0"],
               {"model_type": "dinov2", "mlp_ratio": 0})
expect_refused("qkv-bias-string", EFORMAT, ["key 'qkv_bias' must be true or false, not a string"],
               {"model_type": "dinov2", "qkv_bias": "yes"})
expect_refused("eos-string", EFORMAT, ["key 'text_config.eos_token_id' must be an integer"],
               {"model_type": "clip", "text_config": {"eos_token_id": "2"}})
expect_refused("dict-override-bad", EFORMAT, ["key 'vision_config_dict.patch_size' = -16 is out of range"],
               {"model_type": "clip", "vision_config_dict": {"patch_size": -16}})
expect_refused("registers-negative", EFORMAT, ["key 'num_register_tokens' = -4 is out of range"],
               {"model_type": "dinov2_with_registers", "num_register_tokens": -4})
expect_refused("projection-zero", EFORMAT, ["key 'projection_dim' = 0 is out of range"],
               {"model_type": "clip", "projection_dim": 0})

# ---- preprocessor_config.json ------------------------------------------------------------------------
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def hf_processor(pp, family):
    """CLIPImageProcessor / BitImageProcessor attributes after reading `pp` (None: absent file)."""
    dino = family == DINOV2
    e = dict(do_resize=1, shortest_edge=256 if dino else 224, resample=3, do_center_crop=1,
             crop_height=224, crop_width=224, do_rescale=1, rescale_factor=1 / 255, do_normalize=1,
             mean=IMAGENET_MEAN if dino else CLIP_MEAN, std=IMAGENET_STD if dino else CLIP_STD,
             do_convert_rgb=1)
    pp = pp or {}
    for k in ("do_resize", "resample", "do_center_crop", "do_rescale", "rescale_factor", "do_normalize",
              "do_convert_rgb"):
        if k in pp:
            e[k] = pp[k]
    if "size" in pp:
        e["shortest_edge"] = pp["size"] if isinstance(pp["size"], int) else pp["size"]["shortest_edge"]
    if "crop_size" in pp:
        cs = pp["crop_size"]
        e["crop_height"], e["crop_width"] = (cs, cs) if isinstance(cs, int) else (cs["height"], cs["width"])
    for k, dst in (("image_mean", "mean"), ("image_std", "std")):
        if k in pp:
            e[dst] = pp[k] if isinstance(pp[k], list) else [pp[k]] * 3
    return e


def check_processor(name, pp, family):
    d = write_folder(name, preprocessor=pp)
    got, err = PreprocessConfig(), Error()
    rc = lib.vfr_preprocess_config_read(d.encode(), family, C.byref(got), C.byref(err))
    if not chk.check(rc == 0, f"{name}: {err.message.decode()}"):
        return
    want = hf_processor(pp, family)
    bad = []
    for k, w in want.items():
        g = getattr(got, k)
        if k in ("mean", "std"):
            if list(np.float32(g[:])) != list(np.float32(w)):
                bad.append(f"{k}={list(g)}")
        elif not same(g, float(w) if k == "rescale_factor" else int(w)):
            bad.append(f"{k}={g} (want {w})")
    chk.check(not bad, f"{name}: {bad}")
    print(f"  {name}: {len(want)} fields compared, {len(bad)} differ")


check_processor("pp-clip-legacy", {"crop_size": 224, "do_center_crop": True, "do_normalize": True,
                                   "do_resize": True, "feature_extractor_type": "CLIPFeatureExtractor",
                                   "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "resample": 3,
                                   "size": 224}, CLIP)
check_processor("pp-clip-336", {"crop_size": {"height": 336, "width": 336}, "do_center_crop": True,
                                "do_convert_rgb": True, "do_normalize": True, "do_rescale": True,
                                "do_resize": True, "image_mean": CLIP_MEAN,
                                "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD,
                                "resample": 3, "rescale_factor": 0.00392156862745098,
                                "size": {"shortest_edge": 336}}, CLIP)
check_processor("pp-dinov2", {"crop_size": {"height": 224, "width": 224}, "do_center_crop": True,
                              "do_convert_rgb": True, "do_normalize": True, "do_rescale": True,
                              "do_resize": True, "image_mean": IMAGENET_MEAN,
                              "image_processor_type": "BitImageProcessor", "image_std": IMAGENET_STD,
                              "resample": 3, "rescale_factor": 0.00392156862745098,
                              "size": {"shortest_edge": 256}}, DINOV2)
check_processor("pp-absent-clip", None, CLIP)
check_processor("pp-absent-dinov2", None, DINOV2)
check_processor("pp-odd", {"do_center_crop": False, "resample": 2, "image_mean": 0.5, "image_std": 0.25,
                           "crop_size": {"height": 200, "width": 180}, "do_normalize": False}, CLIP)


def processor_refused(name, text, code, fragment):
    d = write_folder(name, preprocessor=text)
    got, err = PreprocessConfig(), Error()
    rc = lib.vfr_preprocess_config_read(d.encode(), CLIP, C.byref(got), C.byref(err))
    msg = err.message.decode()
    file = os.path.join(d, "preprocessor_config.json")
    chk.check(rc == code and msg.startswith(file + ": ") and fragment in msg, f"{name}: rc {rc} {msg!r}")
    print(f"  {name}: {msg}")


processor_refused("pp-not-json", "{size: 3}", EFORMAT, "not valid JSON (line 1, column")
processor_refused("pp-fixed-size", json.dumps({"size": {"height": 224, "width": 224}}), EUNSUPPORTED,
                  "key 'size' as {height, width}")
processor_refused("pp-resample", json.dumps({"resample": 7}), EFORMAT, "key 'resample' = 7 is out of range [0, 5]")
processor_refused("pp-mean-2", json.dumps({"image_mean": [0.5, 0.5]}), EFORMAT, "key 'image_mean' must be a list of 3 numbers")
processor_refused("pp-std-zero", json.dumps({"image_std": [0.2, 0.0, 0.2]}), EFORMAT, "key 'image_std'[1] = 0 is not a positive number")
processor_refused("pp-mean-huge", json.dumps({"image_mean": [0.5, 1e39, 0.5]}), EFORMAT, "key 'image_mean'[1] = 1e+39 is not finite")
processor_refused("pp-resize-string", json.dumps({"do_resize": "yes"}), EFORMAT, "key 'do_resize' must be true or false")
processor_refused("pp-crop-half", json.dumps({"crop_size": {"height": 224}}), EFORMAT, "needs both 'height' and 'width'")
processor_refused("pp-edge-zero", json.dumps({"size": {"shortest_edge": 0}}), EFORMAT, "key 'size.shortest_edge' = 0 is out of range")

for root, dirs, files in os.walk(tmp, topdown=False):
    for f in files:
        os.unlink(os.path.join(root, f))
    for dd in dirs:
        os.rmdir(os.path.join(root, dd))
os.rmdir(tmp)
chk.finish()
