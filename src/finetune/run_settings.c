/* A training run's settings beside its checkpoint (see run_settings.h). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "finetune/run_settings.h"

void ft_settings_path(const char *path, char *out, size_t size) {
  char real[PATH_MAX];
  snprintf(out, size, "%s", path && realpath(path, real) ? real : path ? path : "");
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

void ft_settings_data(const vfr_dataset *ds, char out[17]) {
  uint64_t h = 14695981039346656037ULL;
  for (int i = 0; i < ds->count; i++) {
    const vfr_dataset_item *it = &ds->items[i];
    struct stat st;
    int64_t v[3] = {it->label, -1, 0};
    if (stat(it->path, &st) == 0) {
      v[1] = (int64_t)st.st_size;
      v[2] = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    }
    h = fnv(h, it->name, strlen(it->name) + 1);
    h = fnv(h, v, sizeof v);
  }
  for (int i = 0; i < ds->class_count; i++) h = fnv(h, ds->class_names[i], strlen(ds->class_names[i]) + 1);
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int ft_settings_check(const char *out_dir, const ft_setting *s, int n, int resuming, vfr_error *err) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/run_settings.json", out_dir);
  if (resuming) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
      struct stat st;
      if (stat(path, &st) != 0) return VFR_OK; /* a checkpoint from before the settings were kept */
      return vfr_fail(err, VFR_EFORMAT, "%s: %s", path, je.text);
    }
    int rc = VFR_OK;
    for (int i = 0; i < n && !rc; i++) {
      json_t *v = json_object_get(root, s[i].flag);
      if (!v) continue;
      if (s[i].text) {
        const char *was = json_string_value(v);
        if (!was || strcmp(was, s[i].text))
          rc = vfr_fail(err, VFR_EINVAL, "%s: %s %s differs from the run's %s (resume with the run's settings, or "
                        "start afresh without --resume)", out_dir, s[i].flag, s[i].text[0] ? s[i].text : "(none)",
                        was ? (was[0] ? was : "(none)") : "?");
      } else if (!json_is_number(v) || json_number_value(v) != s[i].num) {
        rc = vfr_fail(err, VFR_EINVAL, "%s: %s %.10g differs from the run's %.10g (resume with the run's settings, or "
                      "start afresh without --resume)", out_dir, s[i].flag, s[i].num, json_number_value(v));
      }
    }
    json_decref(root);
    return rc;
  }
  json_t *root = json_object();
  for (int i = 0; i < n; i++)
    json_object_set_new(root, s[i].flag, s[i].text ? json_string(s[i].text) : json_real(s[i].num));
  int rc = vfr_atomic_write_json(path, root, JSON_INDENT(2) | JSON_REAL_PRECISION(17), err);
  json_decref(root);
  return rc;
}
