/* Reading safetensors files: mmap, then validate the whole header before any tensor
 * is handed out.
 *
 * Nothing from the file is trusted: the header length is checked against the file size
 * and a cap, the header must be a JSON object (Jansson rejects invalid UTF-8 and, with
 * JSON_REJECT_DUPLICATES, repeated names), every entry must carry a known dtype, a shape
 * whose element count fits in int64, and data_offsets inside the data buffer that match
 * numel * dtype size, and no two tensors may share bytes. Only then is a handle returned.
 * F32 tensors are handed out as pointers into the read-only mapping (no copy). */
#include "core/json_names.h"
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader hands out the mapping as float"
#endif

/* The reference implementation refuses headers above 100 MB; so do we. */
#define HEADER_MAX_BYTES 100000000ull

/* Every dtype the safetensors format defines, with its width in bits (sub-byte float
 * formats pack elements). Only the first three can be read as float32. */
typedef struct dtype_desc {
  const char *name;
  int bits;
  int readable; /* 1 for F32/F16/BF16 */
  vfr_dtype dtype;
} dtype_desc;

static const dtype_desc DTYPES[] = {
    {"F32", 32, 1, VFR_DTYPE_F32},    {"F16", 16, 1, VFR_DTYPE_F16},
    {"BF16", 16, 1, VFR_DTYPE_BF16},  {"F64", 64, 0, 0},
    {"I64", 64, 0, 0},                {"U64", 64, 0, 0},
    {"I32", 32, 0, 0},                {"U32", 32, 0, 0},
    {"I16", 16, 0, 0},                {"U16", 16, 0, 0},
    {"I8", 8, 0, 0},                  {"U8", 8, 0, 0},
    {"BOOL", 8, 0, 0},                {"F8_E4M3", 8, 0, 0},
    {"F8_E5M2", 8, 0, 0},             {"F8_E8M0", 8, 0, 0},
    {"C64", 64, 0, 0},                {"F6_E2M3", 6, 0, 0},
    {"F6_E3M2", 6, 0, 0},             {"F4", 4, 0, 0},
};

static const dtype_desc *dtype_lookup(const char *name) {
  for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
    if (strcmp(DTYPES[i].name, name) == 0) return &DTYPES[i];
  return NULL;
}

/* One header entry, whatever its dtype. */
typedef struct entry {
  const char *name; /* key string inside the JSON tree */
  const dtype_desc *dtype;
  int ndim;
  int64_t shape[VFR_TENSOR_MAX_DIMS];
  int64_t numel;
  uint64_t begin, end; /* relative to the data buffer */
} entry;

struct vfr_safetensors {
  char *path;                       /* as given, for messages */
  const uint8_t *base;              /* whole file */
  size_t size;
  int mapped;                       /* 1: base is our mmap, unmapped at close */
  json_t *header;                   /* owns every name and metadata string */
  int count;                        /* readable tensors */
  vfr_tensor_info *tensors;         /* (count), in file order */
  const vfr_tensor_info **by_name;  /* (count), sorted by name */
  int n_entries;                    /* all tensors, readable or not */
  entry *entries;                   /* (n_entries), sorted by name */
};

/* ---- small helpers ---------------------------------------------------------- */

static int cmp_entry_name(const void *a, const void *b) {
  return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int cmp_info_name(const void *a, const void *b) {
  return strcmp((*(const vfr_tensor_info *const *)a)->name,
                (*(const vfr_tensor_info *const *)b)->name);
}

/* Sort key for the overlap scan: entries by begin, then end. */
static int cmp_entry_ptr_offset(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int cmp_info_offset(const void *a, const void *b) {
  const vfr_tensor_info *x = a, *y = b;
  if (x->data != y->data) return (const uint8_t *)x->data < (const uint8_t *)y->data ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Writes "[a, b, c]" into buf. */
static const char *format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t n = 0;
  buf[0] = '\0';
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

/* A tensor name as it may appear in a one-line message: control characters become '?',
 * long names are cut with "...". */
static const char *printable(const char *name, char *buf, size_t cap) {
  size_t n = 0;
  for (; name[n] && n + 4 < cap; n++)
    buf[n] = ((unsigned char)name[n] < 0x20 || name[n] == 0x7f) ? '?' : name[n];
  if (name[n]) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

/* ---- header validation ---------------------------------------------------------- */

static int parse_metadata(const char *path, json_t *meta, vfr_error *err) {
  if (!json_is_object(meta))
    return vfr_fail(err, VFR_EFORMAT, "%s: '__metadata__' must be an object of strings, not %s",
                    path, vfr_json_type_name(meta));
  const char *key;
  json_t *value;
  json_object_foreach(meta, key, value) {
    char k[160];
    if (!json_is_string(value))
      return vfr_fail(err, VFR_EFORMAT, "%s: '__metadata__' value '%s' must be a string, not %s",
                      path, printable(key, k, sizeof k), vfr_json_type_name(value));
  }
  return VFR_OK;
}

/* Fills *e from one header entry, checking everything that does not need the others. */
static int parse_entry(const char *path, const char *raw_name, json_t *obj, uint64_t data_size,
                       entry *e, vfr_error *err) {
  memset(e, 0, sizeof *e);
  e->name = raw_name;
  char name[200];
  printable(raw_name, name, sizeof name);
  if (!json_is_object(obj))
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': entry must be an object, not %s", path,
                    name, vfr_json_type_name(obj));

  json_t *dtype = json_object_get(obj, "dtype");
  if (!dtype) return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': no 'dtype'", path, name);
  if (!json_is_string(dtype))
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': 'dtype' must be a string, not %s", path,
                    name, vfr_json_type_name(dtype));
  e->dtype = dtype_lookup(json_string_value(dtype));
  if (!e->dtype)
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': unknown dtype '%.32s'", path, name,
                    json_string_value(dtype));

  json_t *shape = json_object_get(obj, "shape");
  if (!shape) return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': no 'shape'", path, name);
  if (!json_is_array(shape))
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': 'shape' must be an array, not %s", path,
                    name, vfr_json_type_name(shape));
  size_t ndim = json_array_size(shape);
  if (ndim > VFR_TENSOR_MAX_DIMS)
    return vfr_fail(err, VFR_ELIMIT, "%s: tensor '%s': %zu dimensions (at most %d supported)",
                    path, name, ndim, VFR_TENSOR_MAX_DIMS);
  e->ndim = (int)ndim;
  e->numel = 1;
  for (size_t i = 0; i < ndim; i++) {
    json_t *d = json_array_get(shape, i);
    if (!json_is_integer(d))
      return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': shape[%zu] must be an integer, not %s",
                      path, name, i, vfr_json_type_name(d));
    json_int_t v = json_integer_value(d);
    if (v < 0)
      return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': shape[%zu] is negative (%lld)", path,
                      name, i, (long long)v);
    e->shape[i] = (int64_t)v;
  }
  /* Element count and byte size, refusing anything that does not fit in int64. */
  for (int i = 0; i < e->ndim; i++) {
    if (e->shape[i] != 0 && e->numel > INT64_MAX / e->shape[i]) {
      char sb[256];
      return vfr_fail(err, VFR_ELIMIT, "%s: tensor '%s': shape %s has more elements than fit in "
                      "64 bits", path, name, format_shape(sb, sizeof sb, e->ndim, e->shape));
    }
    e->numel *= e->shape[i];
  }
  if (e->numel > INT64_MAX / e->dtype->bits) {
    char sb[256];
    return vfr_fail(err, VFR_ELIMIT, "%s: tensor '%s': shape %s is too large for 64-bit sizes",
                    path, name, format_shape(sb, sizeof sb, e->ndim, e->shape));
  }
  uint64_t bits = (uint64_t)e->numel * (uint64_t)e->dtype->bits;
  if (bits % 8)
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': %lld %s elements do not fill whole bytes",
                    path, name, (long long)e->numel, e->dtype->name);
  uint64_t nbytes = bits / 8;

  json_t *offsets = json_object_get(obj, "data_offsets");
  if (!offsets)
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': no 'data_offsets'", path, name);
  if (!json_is_array(offsets) || json_array_size(offsets) != 2)
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end]",
                    path, name);
  json_int_t ob[2];
  for (size_t i = 0; i < 2; i++) {
    json_t *o = json_array_get(offsets, i);
    if (!json_is_integer(o))
      return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': data_offsets[%zu] must be an integer, "
                      "not %s", path, name, i, vfr_json_type_name(o));
    ob[i] = json_integer_value(o);
    if (ob[i] < 0)
      return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': data_offsets[%zu] is negative (%lld)",
                      path, name, i, (long long)ob[i]);
  }
  e->begin = (uint64_t)ob[0];
  e->end = (uint64_t)ob[1];
  if (e->begin > e->end)
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] begin after end",
                    path, name, (unsigned long long)e->begin, (unsigned long long)e->end);
  if (e->end > data_size)
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] exceed the data "
                    "buffer (%llu bytes)", path, name, (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)data_size);
  if (e->end - e->begin != nbytes) {
    char sb[256];
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes "
                    "but %s %s needs %llu", path, name, (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)(e->end - e->begin),
                    e->dtype->name, format_shape(sb, sizeof sb, e->ndim, e->shape),
                    (unsigned long long)nbytes);
  }
  return VFR_OK;
}

/* Two tensors may not share a byte. Empty tensors occupy nothing. */
static int check_overlap(const char *path, entry *entries, int n, vfr_error *err) {
  if (n < 2) return VFR_OK;
  const entry **order = malloc((size_t)n * sizeof *order);
  if (!order) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for %d tensors", path, n);
  for (int i = 0; i < n; i++) order[i] = &entries[i];
  qsort(order, (size_t)n, sizeof *order, cmp_entry_ptr_offset);
  const entry *reach = NULL; /* the non-empty tensor that ends furthest so far */
  int rc = VFR_OK;
  for (int i = 0; i < n && rc == VFR_OK; i++) {
    const entry *e = order[i];
    if (e->begin == e->end) continue;
    if (reach && e->begin < reach->end) {
      char a[160], b[160];
      rc = vfr_fail(err, VFR_EFORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                    path, printable(reach->name, a, sizeof a), (unsigned long long)reach->begin,
                    (unsigned long long)reach->end, printable(e->name, b, sizeof b),
                    (unsigned long long)e->begin, (unsigned long long)e->end);
    }
    if (!reach || e->end > reach->end) reach = e;
  }
  free(order);
  return rc;
}

/* Validates the mapped bytes st->base[0..size) and builds the tables. */
static int parse_file(vfr_safetensors *st, vfr_error *err) {
  const char *path = st->path;
  if (st->size == 0) return vfr_fail(err, VFR_EFORMAT, "%s: empty file, not a safetensors file", path);
  if (st->size < 8)
    return vfr_fail(err, VFR_EFORMAT, "%s: %zu bytes, too short for a safetensors file (the header "
                    "length alone is 8)", path, st->size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | st->base[i];
  if (n > st->size - 8)
    return vfr_fail(err, VFR_EFORMAT, "%s: header length %llu exceeds the file (%zu bytes); "
                    "truncated or not a safetensors file", path, (unsigned long long)n, st->size);
  if (n > HEADER_MAX_BYTES)
    return vfr_fail(err, VFR_ELIMIT, "%s: header length %llu exceeds the %llu-byte limit", path,
                    (unsigned long long)n, HEADER_MAX_BYTES);
  if (n == 0) return vfr_fail(err, VFR_EFORMAT, "%s: empty header (length 0)", path);
  uint64_t data_size = st->size - 8 - n;

  json_error_t jerr;
  st->header = json_loadb((const char *)st->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
  if (!st->header) {
    char why[sizeof jerr.text];
    return vfr_fail(err, VFR_EFORMAT, "%s: header is not valid JSON (line %d, column %d: %s)", path,
                    jerr.line, jerr.column, printable(jerr.text, why, sizeof why));
  }
  if (!json_is_object(st->header))
    return vfr_fail(err, VFR_EFORMAT, "%s: header must be a JSON object, not %s", path,
                    vfr_json_type_name(st->header));

  size_t n_keys = json_object_size(st->header);
  st->entries = calloc(n_keys ? n_keys : 1, sizeof *st->entries);
  if (!st->entries) return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for the header", path);
  const char *name;
  json_t *value;
  int rc;
  json_object_foreach(st->header, name, value) {
    if (strcmp(name, "__metadata__") == 0) {
      if ((rc = parse_metadata(path, value, err))) return rc;
      continue;
    }
    if (name[0] == '\0') return vfr_fail(err, VFR_EFORMAT, "%s: a tensor has an empty name", path);
    entry *e = &st->entries[st->n_entries];
    if ((rc = parse_entry(path, name, value, data_size, e, err))) return rc;
    st->n_entries++;
  }
  if ((rc = check_overlap(path, st->entries, st->n_entries, err))) return rc;
  qsort(st->entries, (size_t)st->n_entries, sizeof *st->entries, cmp_entry_name);

  int readable = 0;
  for (int i = 0; i < st->n_entries; i++) readable += st->entries[i].dtype->readable;
  st->tensors = calloc(readable ? (size_t)readable : 1, sizeof *st->tensors);
  st->by_name = calloc(readable ? (size_t)readable : 1, sizeof *st->by_name);
  if (!st->tensors || !st->by_name)
    return vfr_fail(err, VFR_ENOMEM, "%s: out of memory for %d tensors", path, readable);
  const uint8_t *data = st->base + 8 + n;
  for (int i = 0; i < st->n_entries; i++) {
    const entry *e = &st->entries[i];
    if (!e->dtype->readable) continue;
    vfr_tensor_info *t = &st->tensors[st->count++];
    t->name = e->name;
    t->dtype = e->dtype->dtype;
    t->ndim = e->ndim;
    memcpy(t->shape, e->shape, sizeof t->shape);
    t->numel = e->numel;
    t->data = data + e->begin;
    t->nbytes = (size_t)(e->end - e->begin);
  }
  qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, cmp_info_offset);
  for (int i = 0; i < st->count; i++) st->by_name[i] = &st->tensors[i];
  qsort(st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_info_name);
  return VFR_OK;
}

/* ---- open / close ------------------------------------------------------------------ */

static vfr_safetensors *handle_new(const char *name, vfr_error *err) {
  vfr_safetensors *st = calloc(1, sizeof *st);
  if (st) st->path = strdup(name);
  if (!st || !st->path) {
    free(st);
    vfr_fail(err, VFR_ENOMEM, "%s: out of memory", name);
    return NULL;
  }
  return st;
}

int vfr_safetensors_open(const char *path, vfr_safetensors **out, vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "vfr_safetensors_open: out is NULL");
  *out = NULL;
  if (!path) return vfr_fail(err, VFR_EINVAL, "vfr_safetensors_open: path is NULL");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return vfr_fail(err, VFR_EIO, "%s: cannot open (%s)", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return vfr_fail(err, VFR_EIO, "%s: cannot stat (%s)", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return vfr_fail(err, VFR_EIO, "%s: not a regular file", path);
  }
  vfr_safetensors *st = handle_new(path, err);
  if (!st) {
    close(fd);
    return VFR_ENOMEM;
  }
  st->size = (size_t)sb.st_size;
  if (st->size > 0) {
    void *m = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      close(fd);
      vfr_safetensors_close(st);
      return vfr_fail(err, VFR_EIO, "%s: cannot map %zu bytes (%s)", path, (size_t)sb.st_size,
                      strerror(e));
    }
    st->base = m;
    st->mapped = 1;
  }
  close(fd); /* the mapping stays valid */
  int rc = parse_file(st, err);
  if (rc) {
    vfr_safetensors_close(st);
    return rc;
  }
  *out = st;
  return VFR_OK;
}

int vfr_safetensors_open_memory(const void *buf, size_t size, const char *name,
                                vfr_safetensors **out, vfr_error *err) {
  if (!out) return vfr_fail(err, VFR_EINVAL, "vfr_safetensors_open_memory: out is NULL");
  *out = NULL;
  if (!name) name = "(memory)";
  if (!buf && size) return vfr_fail(err, VFR_EINVAL, "%s: buffer is NULL", name);
  vfr_safetensors *st = handle_new(name, err);
  if (!st) return VFR_ENOMEM;
  st->base = buf;
  st->size = size;
  int rc = parse_file(st, err);
  if (rc) {
    vfr_safetensors_close(st);
    return rc;
  }
  *out = st;
  return VFR_OK;
}

void vfr_safetensors_close(vfr_safetensors *st) {
  if (!st) return;
  if (st->mapped) munmap((void *)st->base, st->size);
  json_decref(st->header);
  free(st->entries);
  free(st->tensors);
  free(st->by_name);
  free(st->path);
  free(st);
}

/* ---- queries ------------------------------------------------------------------------- */

const char *vfr_safetensors_path(const vfr_safetensors *st) { return st ? st->path : NULL; }

int vfr_safetensors_count(const vfr_safetensors *st) { return st ? st->count : 0; }

const vfr_tensor_info *vfr_safetensors_at(const vfr_safetensors *st, int index) {
  if (!st || index < 0 || index >= st->count) return NULL;
  return &st->tensors[index];
}

const vfr_tensor_info *vfr_safetensors_find(const vfr_safetensors *st, const char *name) {
  if (!st || !name) return NULL;
  vfr_tensor_info key = {.name = name};
  const vfr_tensor_info *pkey = &key;
  const vfr_tensor_info **hit =
      bsearch(&pkey, st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_info_name);
  return hit ? *hit : NULL;
}

static const entry *find_entry(const vfr_safetensors *st, const char *name) {
  if (!st || !name) return NULL;
  entry key = {.name = name};
  return bsearch(&key, st->entries, (size_t)st->n_entries, sizeof *st->entries, cmp_entry_name);
}

const char *vfr_safetensors_dtype_name(const vfr_safetensors *st, const char *name) {
  const entry *e = find_entry(st, name);
  return e ? e->dtype->name : NULL;
}

const char *vfr_safetensors_metadata(const vfr_safetensors *st, const char *key) {
  if (!st || !key) return NULL;
  json_t *meta = json_object_get(st->header, "__metadata__");
  return json_string_value(json_object_get(meta, key)); /* NULL-safe in Jansson */
}

int vfr_safetensors_holds(const vfr_safetensors *st, const void *data, size_t nbytes) {
  if (!st || !data) return 0;
  uintptr_t b = (uintptr_t)st->base, lo = (uintptr_t)data;
  return lo >= b && nbytes <= st->size && lo - b <= st->size - nbytes;
}

void vfr_safetensors_release(const vfr_safetensors *st, const void *data, size_t nbytes) {
  if (!st || !st->mapped || nbytes == 0 || !vfr_safetensors_holds(st, data, nbytes)) return;
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return;
  uintptr_t lo = (uintptr_t)data, hi = lo + nbytes;
  lo = (lo + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
  hi = hi / (uintptr_t)page * (uintptr_t)page;
  if (lo < hi) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* After converting a tensor, its source pages are no longer needed in memory: drop them
 * so that loading a half-precision checkpoint peaks near the float32 size, not 1.5x it. */
static void release_pages(const vfr_safetensors *st, const vfr_tensor_info *t) {
  vfr_safetensors_release(st, t->data, t->nbytes);
}

int vfr_safetensors_get_f32(const vfr_safetensors *st, const char *raw_name, int ndim,
                            const int64_t *shape, const float **data, float **owned,
                            vfr_error *err) {
  if (data) *data = NULL;
  if (owned) *owned = NULL;
  if (!st || !raw_name || !data || !owned || (ndim > 0 && !shape))
    return vfr_fail(err, VFR_EINVAL, "vfr_safetensors_get_f32: NULL argument");
  char name[200];
  printable(raw_name, name, sizeof name);
  const vfr_tensor_info *t = vfr_safetensors_find(st, raw_name);
  if (!t) {
    const entry *e = find_entry(st, raw_name);
    if (e)
      return vfr_fail(err, VFR_EUNSUPPORTED, "%s: tensor '%s' has dtype %s (only F32, F16 and BF16 "
                      "can be loaded)", st->path, name, e->dtype->name);
    return vfr_fail(err, VFR_EFORMAT, "%s: no tensor '%s'", st->path, name);
  }
  int same = ndim == t->ndim;
  for (int i = 0; same && i < ndim; i++) same = shape[i] == t->shape[i];
  if (!same) {
    char want[256], have[256];
    if (ndim < 0 || ndim > VFR_TENSOR_MAX_DIMS)
      return vfr_fail(err, VFR_EINVAL, "%s: tensor '%s': asked for %d dimensions", st->path, name,
                      ndim);
    return vfr_fail(err, VFR_EFORMAT, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
                    format_shape(have, sizeof have, t->ndim, t->shape),
                    format_shape(want, sizeof want, ndim, shape));
  }
  if (t->dtype == VFR_DTYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
    *data = t->data;
    return VFR_OK;
  }
  if ((uint64_t)t->numel > SIZE_MAX / sizeof(float))
    return vfr_fail(err, VFR_ELIMIT, "%s: tensor '%s' is too large to convert", st->path, name);
  size_t n = (size_t)t->numel;
  float *buf = malloc((n ? n : 1) * sizeof *buf);
  if (!buf)
    return vfr_fail(err, VFR_ENOMEM, "%s: tensor '%s': out of memory for %zu floats", st->path,
                    name, n);
  const uint8_t *src = t->data;
  switch (t->dtype) {
    case VFR_DTYPE_F32: memcpy(buf, src, n * sizeof *buf); break; /* unaligned in the file */
    case VFR_DTYPE_F16:
      for (size_t i = 0; i < n; i++)
        buf[i] = vfr_f16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
      break;
    case VFR_DTYPE_BF16:
      for (size_t i = 0; i < n; i++)
        buf[i] = vfr_bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
      break;
  }
  release_pages(st, t);
  *data = buf;
  *owned = buf;
  return VFR_OK;
}
