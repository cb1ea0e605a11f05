/* Supervised training of a CLIP vision tower with a linear classification head, and the
 * head's accuracy on a labelled image set (the bundled models under models/ are made so).
 *
 *   vfr_classify_params p = vfr_classify_default_params();
 *   p.model_dir = "recipe";   (config.json + preprocessor_config.json; weights optional)
 *   p.data_path = "cifar10/train"; p.test_path = "cifar10/test"; p.out_dir = "model";
 *   if (vfr_classify_train(&p, &err)) ... err.message ...
 *
 * The model: the CLIP vision tower of model_dir (model_type clip or clip_vision_model) and a
 * head logits = z W^T + b on its projected embedding z (image_embeds, before any
 * normalisation). Without model_dir/model.safetensors the tower starts from a seeded random
 * initialisation (Hugging Face CLIP's initialiser, factor 1), written with the configuration
 * to out_dir/init/ first. The head, stored as classifier_head.weight (C,E) and
 * classifier_head.bias (C), starts from N(0, 0.02^2) and zeros unless the file has it.
 * Loss: softmax cross-entropy with label smoothing. Augmentation per image and step: a shift
 * by up to `pad` pixels each way (the uncovered border filled with zeros, as a zero-padded
 * random crop) and a horizontal flip with probability 1/2 when `flip`, applied to the decoded
 * image before the model's preprocessing. Shuffles and augmentations are pure functions of
 * (seed, epoch, step, image), so a resumed run continues exactly. AdamW, linear warmup then a
 * half cosine, as vfrobust finetune.
 *
 * out_dir receives model.safetensors (tower + head, Hugging Face names), config.json (the
 * tower's, with id2label/label2id naming the classes), preprocessor_config.json, train.json
 * (settings, per-epoch loss and training accuracy, test accuracy at the end) and
 * checkpoint.bin (for --resume). */
#ifndef VFROBUST_CLASSIFY_H
#define VFROBUST_CLASSIFY_H

#include <stdint.h>

#include "vfrobust/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfr_classify_progress {
  long step, total;        /* steps done, steps of the run */
  int epoch;               /* 1-based epoch of the step just done */
  double loss, accuracy;   /* of the step just done (accuracy on its augmented batch) */
  double lr;
  double steps_per_s, eta_s;
  double test_accuracy;    /* phase "test": the accuracy just measured */
  const char *phase;       /* "train", "test", "save" */
} vfr_classify_progress;

/* The API's callback shape (vfr_progress_fn in vfrobust/study.h): 0 goes on, non-zero cancels. */
typedef int (*vfr_classify_progress_fn)(void *user, const vfr_classify_progress *p);

typedef struct vfr_classify_params {
  const char *model_dir;  /* CLIP folder; without model.safetensors: random initialisation */
  const char *data_path;  /* labelled training images (ImageFolder or CSV) */
  const char *test_path;  /* labelled test images, or NULL */
  const char *out_dir;    /* created if absent */
  int limit, per_class;   /* training images: at most (0: all) */
  int test_limit;         /* test images: at most (0: all) */
  int epochs;             /* default 10 */
  int batch;              /* default 128 */
  double lr, lr_min;      /* default 1e-3, 1e-5 */
  double weight_decay;    /* default 0.05 */
  double beta1, beta2, adam_eps; /* default 0.9, 0.999, 1e-8 */
  int warmup;             /* steps (default 0) */
  double label_smoothing; /* default 0.1 */
  int pad;                /* random shift in pixels (default 4) */
  int flip;               /* random horizontal flip (default 1) */
  uint64_t seed;          /* default 0 */
  int threads;            /* 0: OpenMP's default */
  int checkpoint_every;   /* steps (0: at the end of every epoch only) */
  int resume;             /* continue from out_dir/checkpoint.bin */
  long stop_after;        /* stop with a checkpoint after this many steps; 0: never */
  vfr_classify_progress_fn progress; /* may be NULL; non-zero cancels (VFR_ECANCELED, after a
                                        checkpoint: resume continues) */
  void *progress_user;
} vfr_classify_params;

VFR_API vfr_classify_params vfr_classify_default_params(void);

/* Trains as described above. VFR_OK or an error code with a one-line message. */
VFR_API int vfr_classify_train(const vfr_classify_params *p, vfr_error *err);

/* Accuracy of the head of the model in model_dir (trained by vfr_classify_train) on the
 * labelled images of data_path (at most `limit`, 0: all); classes are matched by name to the
 * config's id2label. predicted receives n class indices of the model, or -1 for an image that
 * could not be read (it counts as wrong and is counted in skipped). */
typedef struct vfr_classify_eval_params {
  const char *model_dir;  /* trained by vfr_classify_train (a classifier_head) */
  const char *data_path;  /* labelled images (ImageFolder or CSV) */
  int limit;              /* at most this many images (0: all) */
  int batch;              /* images per forward pass (default 64) */
  int threads;            /* 0: OpenMP's default */
} vfr_classify_eval_params;

VFR_API vfr_classify_eval_params vfr_classify_eval_default_params(void);

typedef struct vfr_classify_result {
  int n;            /* images */
  int correct;
  int skipped;      /* unreadable images */
  double accuracy;  /* correct / n */
  int *predicted;   /* (n) the model's class index per image (malloc'ed; -1: unreadable) */
  int *truth;       /* (n) the image's class index in the model's classes (-1: none) */
  int class_count;
  char **class_names; /* (class_count) the model's id2label */
} vfr_classify_result;

VFR_API int vfr_classify_eval(const vfr_classify_eval_params *params, vfr_classify_result *out,
                              vfr_error *err);
VFR_API void vfr_classify_result_free(vfr_classify_result *r);

#ifdef __cplusplus
}
#endif
#endif
