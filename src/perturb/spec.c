/* SPEC and LIST parsing:
 *   SPEC  := LEVEL ('+' LEVEL)*  |  NAME  |  NAME ':' [PARAM '='] VALUE '..' VALUE
 *   LEVEL := NAME ':' [PARAM '='] VALUE  |  NAME (an op without a parameter)
 *   LIST  := ITEM (',' ITEM)*,  ITEM := SPEC | PRESET (vfr_preset_name: 'editing9',
 *            'imagenet-c', 'imagenet-c-all', 'all')
 * A bare NAME is the op's default domain. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perturb/perturb_internal.h"

/* Copies s[0..n) into buf (cap) without surrounding blanks; fails if it does not fit. */
static int copy_trimmed(const char *s, size_t n, char *buf, size_t cap) {
  while (n && isspace((unsigned char)*s)) s++, n--;
  while (n && isspace((unsigned char)s[n - 1])) n--;
  if (n + 1 > cap) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return 0;
}

static int parse_number(const char *s, double *v) {
  if (!*s) return -1;
  char *end;
  *v = strtod(s, &end);
  return (*end || !isfinite(*v)) ? -1 : 0;
}

/* The shortest %g text that reads back as v. */
static void format_number(double v, char *buf, size_t cap) {
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

static void list_ops(char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < vfr_op_count() && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", vfr_op_at(i)->name);
}

static int unknown_op(const char *name, vfr_error *err) {
  char names[2048];
  list_ops(names, sizeof names);
  return vfr_fail(err, VFR_EINVAL, "%s: unknown perturbation (valid: %s)", name, names);
}

static int range_error(const vfr_op *op, const char *what, vfr_error *err) {
  return vfr_fail(err, VFR_EINVAL, "%s: %s (valid %s: %s%g..%g%s)", op->name, what,
                  op->param ? op->param : "value", op->min_open ? ">" : "", op->min, op->max,
                  op->integer ? ", integer" : "");
}

/* Parses one `NAME[:[PARAM=]VALUE[..VALUE]]` term. *is_domain tells which form it was. */
static int parse_term(const char *term, const vfr_op **op_out, double *lo, double *hi,
                      int *is_domain, vfr_error *err) {
  char buf[VFR_SPEC_TEXT_MAX];
  if (copy_trimmed(term, strlen(term), buf, sizeof buf))
    return vfr_fail(err, VFR_EINVAL, "perturbation spec is too long (at most %d characters)",
                    VFR_SPEC_TEXT_MAX - 1);
  if (!buf[0]) return vfr_fail(err, VFR_EINVAL, "empty perturbation spec");
  char *colon = strchr(buf, ':');
  if (colon) *colon = '\0';
  const vfr_op *op = vfr_op_find(buf);
  if (!op) {
    if (vfr_preset_ops(buf, NULL, 0) >= 0)
      return vfr_fail(err, VFR_EINVAL, "%s: a preset is a LIST, not a single SPEC", buf);
    return unknown_op(buf, err);
  }
  *op_out = op;
  if (!colon) { /* bare name: the default domain, or the one level of a parameterless op */
    *lo = op->lo;
    *hi = op->hi;
    *is_domain = op->param != NULL;
    return VFR_OK;
  }
  if (!op->param) return vfr_fail(err, VFR_EINVAL, "%s: takes no parameter (write `%s`)", op->name, op->name);
  char *value = colon + 1;
  char *eq = strchr(value, '=');
  if (eq) {
    *eq = '\0';
    if (strcmp(value, op->param))
      return vfr_fail(err, VFR_EINVAL, "%s: unknown parameter `%s` (the parameter is `%s`)", op->name,
                      value, op->param);
    value = eq + 1;
  }
  /* "lo..hi": find ".." not part of a number like "1." followed by ".5". */
  char *dots = strstr(value, "..");
  char what[160];
  if (dots) {
    *dots = '\0';
    if (parse_number(value, lo) || parse_number(dots + 2, hi)) {
      snprintf(what, sizeof what, "`%s..%s` is not a domain lo..hi", value, dots + 2);
      return range_error(op, what, err);
    }
    *is_domain = 1;
  } else {
    if (parse_number(value, lo)) {
      snprintf(what, sizeof what, "`%s` is not a number", value);
      return range_error(op, what, err);
    }
    *hi = *lo;
    *is_domain = 0;
  }
  double ends[2] = {*lo, *hi};
  for (int i = 0; i < (*is_domain ? 2 : 1); i++) {
    int bad = !(ends[i] <= op->max && (op->min_open ? ends[i] > op->min : ends[i] >= op->min));
    if (bad || (op->integer && ends[i] != floor(ends[i]))) {
      char num[32];
      format_number(ends[i], num, sizeof num);
      snprintf(what, sizeof what, "%s=%s is %s", op->param, num,
               bad ? "out of range" : "not an integer");
      return range_error(op, what, err);
    }
  }
  return VFR_OK;
}

/* Appends `name[:param=lo[..hi]]` to text. */
static void append_text(char *text, const vfr_op *op, double lo, double hi, int is_domain) {
  size_t used = strlen(text);
  char a[32], b[32];
  if (!op->param) {
    snprintf(text + used, VFR_SPEC_TEXT_MAX - used, "%s%s", used ? "+" : "", op->name);
    return;
  }
  format_number(lo, a, sizeof a);
  format_number(hi, b, sizeof b);
  if (is_domain)
    snprintf(text + used, VFR_SPEC_TEXT_MAX - used, "%s%s:%s=%s..%s", used ? "+" : "", op->name,
             op->param, a, b);
  else
    snprintf(text + used, VFR_SPEC_TEXT_MAX - used, "%s%s:%s=%s", used ? "+" : "", op->name,
             op->param, a);
}

int vfr_spec_parse(const char *text, vfr_spec *spec, vfr_error *err) {
  memset(spec, 0, sizeof *spec);
  if (!text) return vfr_fail(err, VFR_EINVAL, "empty perturbation spec");
  if (strlen(text) >= VFR_SPEC_TEXT_MAX)
    return vfr_fail(err, VFR_EINVAL, "perturbation spec is too long (at most %d characters)",
                    VFR_SPEC_TEXT_MAX - 1);
  int n_terms = 1;
  for (const char *p = text; *p; p++) n_terms += *p == '+';
  if (n_terms > VFR_CHAIN_MAX)
    return vfr_fail(err, VFR_EINVAL, "%s: a chain has at most %d steps", text, VFR_CHAIN_MAX);
  const char *start = text;
  for (int t = 0; t < n_terms; t++) {
    const char *end = strchr(start, '+');
    if (!end) end = start + strlen(start);
    char term[VFR_SPEC_TEXT_MAX];
    memcpy(term, start, (size_t)(end - start));
    term[end - start] = '\0';
    const vfr_op *op = NULL;
    double lo = 0, hi = 0;
    int is_domain = 0;
    int rc = parse_term(term, &op, &lo, &hi, &is_domain, err);
    if (rc) {
      memset(spec, 0, sizeof *spec);
      return rc;
    }
    if (n_terms > 1 && is_domain) {
      memset(spec, 0, sizeof *spec);
      return vfr_fail(err, VFR_EINVAL,
                      "%s: each step of a chain needs one value (e.g. %s:%s=%g), not a domain",
                      op->name, op->name, op->param, op->identity);
    }
    if (n_terms == 1) {
      spec->kind = is_domain ? VFR_SPEC_DOMAIN : VFR_SPEC_LEVEL;
      spec->op = op;
      spec->lo = lo;
      spec->hi = hi;
    }
    if (!is_domain) {
      spec->chain.steps[spec->chain.n].op = op;
      spec->chain.steps[spec->chain.n].value = lo;
      spec->chain.n++;
    }
    append_text(spec->text, op, lo, hi, is_domain);
    start = end + 1;
  }
  if (n_terms > 1) spec->kind = VFR_SPEC_CHAIN;
  return VFR_OK;
}

int vfr_spec_levels(const vfr_spec *spec, int m, vfr_chain *levels, double *values,
                    int capacity, int *n_out, vfr_error *err) {
  *n_out = 0;
  if (!spec || (spec->kind != VFR_SPEC_DOMAIN && spec->chain.n < 1))
    return vfr_fail(err, VFR_EINVAL, "levels: empty perturbation spec");
  if (spec->kind != VFR_SPEC_DOMAIN) {
    if (capacity < 1) return vfr_fail(err, VFR_EINVAL, "%s: no room for its level", spec->text);
    levels[0] = spec->chain;
    if (values) values[0] = spec->chain.steps[0].value;
    *n_out = 1;
    return VFR_OK;
  }
  if (m < 1) return vfr_fail(err, VFR_EINVAL, "%s: the number of levels %d is not positive", spec->text, m);
  if (m > capacity)
    return vfr_fail(err, VFR_EINVAL, "%s: %d levels do not fit in room for %d", spec->text, m, capacity);
  int count = m;
  if (spec->op->discrete) { /* distinct integers: at most |hi - lo| + 1 of them */
    double span = fabs(spec->hi - spec->lo) + 1.0;
    if (span < (double)m) count = (int)span;
  }
  for (int i = 0; i < count; i++) {
    double v = count == 1 ? spec->lo
               : i == count - 1 ? spec->hi
                                : spec->lo + (spec->hi - spec->lo) * (double)i / (double)(count - 1);
    if (spec->op->integer) v = round(v); /* halves away from zero */
    levels[i].n = 1;
    levels[i].steps[0].op = spec->op;
    levels[i].steps[0].value = v;
    if (values) values[i] = v;
  }
  *n_out = count;
  return VFR_OK;
}

/* Appends the specs of one LIST item (a preset or a SPEC) to the growing array. */
static int add_item(const char *item, vfr_spec **specs, int *n, int *cap, vfr_error *err) {
  int count = vfr_preset_ops(item, NULL, 0); /* -1: not a preset but one SPEC */
  int need = count < 0 ? 1 : count;
  if (*n + need > *cap) {
    int nc = (*cap ? *cap * 2 : 16) + need;
    vfr_spec *grown = realloc(*specs, (size_t)nc * sizeof **specs);
    if (!grown) return vfr_fail(err, VFR_ENOMEM, "perturbation list: out of memory");
    *specs = grown;
    *cap = nc;
  }
  if (count < 0) {
    int rc = vfr_spec_parse(item, &(*specs)[*n], err);
    if (rc) return rc;
    (*n)++;
    return VFR_OK;
  }
  const vfr_op **ops = malloc(sizeof *ops * (size_t)(count ? count : 1));
  if (!ops) return vfr_fail(err, VFR_ENOMEM, "perturbation list: out of memory");
  vfr_preset_ops(item, ops, count);
  int rc = VFR_OK;
  for (int i = 0; i < count && !rc; i++) {
    rc = vfr_spec_parse(ops[i]->name, &(*specs)[*n], err);
    if (!rc) (*n)++;
  }
  free(ops);
  return rc;
}

int vfr_spec_list_parse(const char *list, vfr_spec **specs, int *n, vfr_error *err) {
  *specs = NULL;
  *n = 0;
  if (!list || !*list) return vfr_fail(err, VFR_EINVAL, "empty perturbation list");
  int cap = 0, rc = VFR_OK;
  const char *start = list;
  for (;;) {
    const char *end = strchr(start, ',');
    if (!end) end = start + strlen(start);
    char item[VFR_SPEC_TEXT_MAX];
    if (copy_trimmed(start, (size_t)(end - start), item, sizeof item)) {
      rc = vfr_fail(err, VFR_EINVAL, "perturbation spec is too long (at most %d characters)",
                    VFR_SPEC_TEXT_MAX - 1);
      break;
    }
    if (!item[0]) {
      rc = vfr_fail(err, VFR_EINVAL, "%s: empty item in the perturbation list", list);
      break;
    }
    rc = add_item(item, specs, n, &cap, err);
    if (rc || !*end) break;
    start = end + 1;
  }
  if (rc) {
    free(*specs);
    *specs = NULL;
    *n = 0;
  }
  return rc;
}
