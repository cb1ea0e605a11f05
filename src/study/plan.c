/* The plan of a study (see plan.h) and the settings shared by both phases. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/splitmix.h"
#include "study/plan.h"
#include "study/result_file.h"
#include "study/study_internal.h"
#include "vfrobust/perturb.h"

void study_plan_free(study_plan *plan) {
  if (!plan) return;
  for (int j = 0; j < plan->op_count; j++) {
    study_op *op = &plan->ops[j];
    free(op->levels);
    if (op->level_text)
      for (int k = 0; k < op->m; k++) free(op->level_text[k]);
    free(op->level_text);
    free(op->identity);
    free(op->spec);
  }
  free(plan->ops);
  memset(plan, 0, sizeof *plan);
}

static int is_identity(const vfr_chain *c) {
  for (int i = 0; i < c->n; i++)
    if (!c->steps[i].op->has_identity || c->steps[i].op->identity_lossy ||
        c->steps[i].value != c->steps[i].op->identity)
      return 0;
  return c->n > 0;
}

static void format_value(char *buf, size_t size, const vfr_op *op, double v) {
  if (op && op->integer) snprintf(buf, size, "%.0f", v);
  else snprintf(buf, size, "%.6g", v);
}

int study_plan_make(const char *ops_list, int levels, study_plan *out, vfr_error *err) {
  memset(out, 0, sizeof *out);
  if (levels < 1 || levels > STUDY_MAX_LEVELS)
    return vfr_fail(err, VFR_EINVAL, "--levels %d: must be 1..%d", levels, STUDY_MAX_LEVELS);
  vfr_spec *specs = NULL;
  int n = 0;
  int rc = vfr_spec_list_parse(ops_list, &specs, &n, err);
  if (rc) return rc;
  /* The same op over the same domain twice would be computed twice and written to one file. */
  for (int j = 0; j < n && !rc; j++)
    for (int k = 0; k < j && !rc; k++)
      if (!strcmp(specs[j].text, specs[k].text))
        rc = vfr_fail(err, VFR_EINVAL, "--ops %s: %s appears twice (after expanding presets); give each op once "
                      "per domain", ops_list, specs[j].text);
  if (!rc && n > STUDY_MAX_OPS)
    rc = vfr_fail(err, VFR_EINVAL, "--ops %s: %d ops, at most %d (the contact sheet samples.png shows each)", ops_list,
                  n, STUDY_MAX_OPS);
  if (!rc && levels > STUDY_SHEET_MAX_LEVELS)
    rc = vfr_fail(err, VFR_EINVAL, "--levels %d: at most %d (the contact sheet samples.png shows each)", levels,
                  STUDY_SHEET_MAX_LEVELS);
  if (rc) {
    free(specs);
    return rc;
  }
  out->ops = calloc((size_t)n, sizeof *out->ops);
  vfr_chain *chains = malloc(sizeof *chains * (size_t)levels);
  if (!out->ops || !chains) {
    free(specs);
    free(chains);
    return vfr_fail(err, VFR_ENOMEM, "out of memory planning the study");
  }
  out->op_count = n;
  out->rows = 1;
  out->fingerprint = vfr_fingerprint(VFR_FINGERPRINT_INIT, &levels, sizeof levels);
  for (int j = 0; j < n && !rc; j++) {
    study_op *op = &out->ops[j];
    const vfr_spec *s = &specs[j];
    int m = 0;
    op->levels = malloc(sizeof(double) * (size_t)levels);
    if (!op->levels) { rc = vfr_fail(err, VFR_ENOMEM, "out of memory planning the study"); break; }
    rc = vfr_spec_levels(s, levels, chains, op->levels, levels, &m, err);
    if (rc) break;
    op->m = m;
    op->first_row = out->rows;
    out->rows += m;
    op->spec = malloc(sizeof(vfr_chain) * (size_t)m);
    op->level_text = calloc((size_t)m, sizeof *op->level_text);
    op->identity = calloc((size_t)m, sizeof *op->identity);
    if (!op->spec || !op->level_text || !op->identity) { rc = vfr_fail(err, VFR_ENOMEM, "out of memory planning the study"); break; }
    memcpy(op->spec, chains, sizeof(vfr_chain) * (size_t)m);
    const vfr_op *single = s->kind == VFR_SPEC_CHAIN ? NULL : s->op;
    snprintf(op->name, sizeof op->name, "%s", single ? single->name : s->text);
    char a[48], b[48];
    if (s->kind == VFR_SPEC_DOMAIN) {
      format_value(a, sizeof a, single, s->lo);
      format_value(b, sizeof b, single, s->hi);
      snprintf(op->domain, sizeof op->domain, "%s..%s", a, b);
    } else if (s->kind == VFR_SPEC_LEVEL) {
      format_value(op->domain, sizeof op->domain, single, s->lo);
    } else {
      op->domain[0] = '\0';
    }
    for (int k = 0; k < m; k++) {
      format_value(a, sizeof a, single, op->levels[k]);
      op->level_text[k] = strdup(s->kind == VFR_SPEC_CHAIN ? s->text : a);
      if (!op->level_text[k]) { rc = vfr_fail(err, VFR_ENOMEM, "out of memory planning the study"); break; }
      op->identity[k] = is_identity(&chains[k]);
    }
    out->fingerprint = vfr_fingerprint(out->fingerprint, s->text, strlen(s->text) + 1);
    out->fingerprint = vfr_fingerprint(out->fingerprint, op->levels, sizeof(double) * (size_t)m);
  }
  free(specs);
  free(chains);
  if (rc) study_plan_free(out);
  return rc;
}

/* Finds the op and level of plan row `row` (>= 1). */
static const vfr_chain *row_chain(const study_plan *plan, int row) {
  for (int j = 0; j < plan->op_count; j++) {
    const study_op *op = &plan->ops[j];
    if (row >= op->first_row && row < op->first_row + op->m)
      return &((const vfr_chain *)op->spec)[row - op->first_row];
  }
  return NULL;
}

uint64_t study_variant_seed(uint64_t seed, const char *image_name, int row) {
  uint64_t h = vfr_fingerprint(VFR_FINGERPRINT_INIT ^ seed, image_name, strlen(image_name));
  h = vfr_fingerprint(h, &row, sizeof row);
  /* a SplitMix64 finaliser spreads the bits */
  return vfr_splitmix_mix(h);
}

int study_plan_apply(const study_plan *plan, int row, const vfr_image *in, const char *image_name,
                     uint64_t seed, vfr_image *out, vfr_error *err) {
  const vfr_chain *c = row_chain(plan, row);
  if (!c) return vfr_fail(err, VFR_EINTERNAL, "study row %d is outside the plan", row);
  return vfr_perturb_apply(in, c, study_variant_seed(seed, image_name, row), out, err);
}

/* ---- the context shared by both phases ------------------------------------------ */

static int make_dir(const char *path, vfr_error *err) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return VFR_OK;
    return vfr_fail(err, VFR_EIO, "%s: exists and is not a folder", path);
  }
  return vfr_fail(err, VFR_EIO, "%s: cannot create folder (%s)", path, strerror(errno));
}

uint64_t study_model_fingerprint(uint64_t h, const char *dir) {
  /* a Hugging Face folder's files, or an OpenCLIP folder's (absent files add nothing) */
  static const char *const configs[] = {"config.json", "open_clip_config.json"};
  static const char *const weights[] = {"model.safetensors", "open_clip_model.safetensors"};
  char path[4096];
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, configs[i]);
    FILE *f = fopen(path, "rb");
    if (f) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = vfr_fingerprint(h, buf, n);
      fclose(f);
    }
  }
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, weights[i]);
    struct stat st;
    if (stat(path, &st) == 0) {
      int64_t v[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
      h = vfr_fingerprint(h, v, sizeof v);
    }
  }
  return h;
}

static void file_stem(char *out, size_t size, const char *text) {
  size_t k = 0;
  for (const char *s = text; *s && k + 1 < size; s++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '-' || c == '=' || c == '+' || c == '_';
    out[k++] = ok ? c : '_';
  }
  out[k] = '\0';
}

void study_op_file_stem(const study_plan *plan, int j, char *out, size_t size) {
  int unique = 1;
  for (int k = 0; k < plan->op_count; k++)
    if (k != j && !strcmp(plan->ops[k].name, plan->ops[j].name)) unique = 0;
  char full[sizeof plan->ops[j].name + sizeof plan->ops[j].domain + 2];
  const char *text = plan->ops[j].name;
  if (!unique) {
    snprintf(full, sizeof full, "%s_%s", plan->ops[j].name, plan->ops[j].domain);
    text = full;
  }
  file_stem(out, size - 4, text);
  if (!strcmp(out, "clean") || !strcmp(out, "images")) strcat(out, "_op");
}

int study_context_open(const vfr_eval_params *p, study_context *ctx, vfr_error *err) {
  return study_context_open_named(p, NULL, ctx, err);
}

int study_context_open_named(const vfr_eval_params *p, const char *model_name, study_context *ctx,
                             vfr_error *err) {
  memset(ctx, 0, sizeof *ctx);
  if ((!model_name && !p->model_dir) || !p->data || !p->out_dir)
    return vfr_fail(err, VFR_EINVAL, "eval needs --model, --data and --out");
  int rc = study_plan_make(p->ops ? p->ops : "editing9", p->levels, &ctx->plan, err);
  if (rc) return rc;
  rc = vfr_dataset_open(p->data, &ctx->dataset, err);
  if (rc) {
    study_context_close(ctx);
    return rc;
  }
  vfr_dataset_limit_seeded(&ctx->dataset, p->per_class, p->limit, p->seed);

  /* the name: as given, or the model folder's last component; too long is an error, not
   * a silently cut name in the results */
  char tmp[4096];
  const char *given = model_name ? model_name : p->model_dir;
  size_t len = strlen(given);
  if (len >= sizeof tmp) {
    study_context_close(ctx);
    return vfr_fail(err, VFR_EINVAL, "%.60s...: the model's path is longer than %zu bytes", given,
                    sizeof tmp - 1);
  }
  memcpy(tmp, given, len + 1);
  while (len > 1 && tmp[len - 1] == '/') tmp[--len] = '\0';
  const char *name = model_name ? tmp : basename(tmp);
  size_t nlen = strlen(name);
  if (nlen >= sizeof ctx->model_name) { /* name points into tmp, not ctx */
    study_context_close(ctx);
    return vfr_fail(err, VFR_EINVAL, "%.60s...: the model's name is longer than %zu bytes", name,
                    sizeof ctx->model_name - 1);
  }
  memcpy(ctx->model_name, name, nlen + 1);

  ctx->op_file_names = calloc((size_t)ctx->plan.op_count + 1, sizeof *ctx->op_file_names);
  for (int j = 0; ctx->op_file_names && j < ctx->plan.op_count && !rc; j++) {
    char stem[STUDY_STEM_MAX];
    study_op_file_stem(&ctx->plan, j, stem, sizeof stem);
    ctx->op_file_names[j] = strdup(stem);
    if (!ctx->op_file_names[j]) rc = VFR_ENOMEM;
  }
  if (!ctx->op_file_names || rc) {
    study_context_close(ctx);
    return vfr_fail(err, VFR_ENOMEM, "out of memory");
  }

  uint64_t h = ctx->plan.fingerprint;
  h = vfr_fingerprint(h, &p->seed, sizeof p->seed);
  h = vfr_fingerprint(h, &p->perturb_after_preprocess, sizeof p->perturb_after_preprocess);
  if (p->precision) /* fp32 studies keep the fingerprint they had before the option */
    h = vfr_fingerprint(h, &p->precision, sizeof p->precision);
  if (model_name)
    ctx->fingerprint = vfr_fingerprint(vfr_fingerprint(h, "named", 5), model_name, strlen(model_name));
  else
    ctx->fingerprint = study_model_fingerprint(h, p->model_dir);

  if ((rc = make_dir(p->out_dir, err))) {
    study_context_close(ctx);
    return rc;
  }
  snprintf(ctx->work_dir, sizeof ctx->work_dir, "%s/work", p->out_dir);
  if ((rc = make_dir(ctx->work_dir, err))) {
    study_context_close(ctx);
    return rc;
  }
  return VFR_OK;
}

void study_context_close(study_context *ctx) {
  if (!ctx) return;
  if (ctx->op_file_names) /* NULL-terminated */
    for (int j = 0; ctx->op_file_names[j]; j++) free(ctx->op_file_names[j]);
  free(ctx->op_file_names);
  study_plan_free(&ctx->plan);
  vfr_dataset_free(&ctx->dataset);
  memset(ctx, 0, sizeof *ctx);
}
