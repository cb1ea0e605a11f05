/* CSV parsing and dataset listing on small trees made here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "study/csv.h"
#include "vfrobust.h"
#include "vfrobust/dataset.h"
#include "vfr_check.h"

static void touch(const char *path) {
  FILE *f = fopen(path, "wb");
  if (f) fclose(f);
}

static void test_csv(void) {
  vfr_csv c;
  vfr_error e;
  const char *t = "path,label\r\na.jpg,cat\n\"b,c.png\",\"d\"\"og\"\nx,\n";
  CHECK(vfr_csv_parse(t, strlen(t), "t.csv", &c, &e) == 0, "parse: %s", e.message);
  CHECK(c.row_count == 4, "rows %d", c.row_count);
  if (c.row_count == 4) {
    CHECK(!strcmp(c.rows[0].fields[1], "label"), "header");
    CHECK(!strcmp(c.rows[2].fields[0], "b,c.png"), "quoted comma: %s", c.rows[2].fields[0]);
    CHECK(!strcmp(c.rows[2].fields[1], "d\"og"), "doubled quote: %s", c.rows[2].fields[1]);
    CHECK(c.rows[3].count == 2 && c.rows[3].fields[1][0] == 0, "trailing empty field");
    CHECK(c.rows[2].line == 3, "line numbers");
  }
  vfr_csv_free(&c);
  const char *bad = "path\n\"unterminated\n";
  CHECK(vfr_csv_parse(bad, strlen(bad), "bad.csv", &c, &e) == VFR_EFORMAT, "unterminated");
  CHECK(strstr(e.message, "bad.csv: line 2") != NULL, "message names file and line: %s", e.message);
  const char *bad2 = "path\n\"a\"b\n";
  CHECK(vfr_csv_parse(bad2, strlen(bad2), "bad2.csv", &c, &e) == VFR_EFORMAT, "text after quote");
  const char *nul = "pa\0th\n";
  CHECK(vfr_csv_parse(nul, 6, "nul.csv", &c, &e) == VFR_EFORMAT, "NUL byte");
  CHECK(vfr_csv_parse("", 0, "empty.csv", &c, &e) == 0 && c.row_count == 0, "empty input");
  vfr_csv_free(&c);
}

static void test_tree(void) {
  char root[] = "/tmp/vfr_dataset_XXXXXX";
  if (!mkdtemp(root)) { CHECK(0, "mkdtemp"); return; }
  char p[512];
  const char *dirs[] = {"dog", "cat", "cat/sub", ".hidden"};
  for (int i = 0; i < 4; i++) { snprintf(p, sizeof p, "%s/%s", root, dirs[i]); mkdir(p, 0755); }
  const char *files[] = {"dog/b.JPG", "dog/a.png", "dog/notes.txt", "cat/z.webp", "cat/sub/m.jpeg",
                         ".hidden/h.jpg", "cat/.x.jpg"};
  for (int i = 0; i < 7; i++) { snprintf(p, sizeof p, "%s/%s", root, files[i]); touch(p); }
  vfr_dataset ds;
  vfr_error e;
  CHECK(vfr_dataset_open(root, &ds, &e) == 0, "open tree: %s", e.message);
  CHECK(ds.class_count == 2 && !strcmp(ds.class_names[0], "cat"), "classes sorted");
  const char *want[] = {"cat/sub/m.jpeg", "cat/z.webp", "dog/a.png", "dog/b.JPG"};
  int wl[] = {0, 0, 1, 1};
  CHECK(ds.count == 4, "count %d", ds.count);
  for (int i = 0; i < ds.count && i < 4; i++) {
    CHECK(!strcmp(ds.items[i].name, want[i]) && ds.items[i].label == wl[i], "item %d: %s (%d)", i,
          ds.items[i].name, ds.items[i].label);
  }
  vfr_dataset_limit(&ds, 1, 0);
  CHECK(ds.count == 2 && !strcmp(ds.items[1].name, "dog/a.png"), "per-class limit");
  vfr_dataset_free(&ds);

  CHECK(vfr_dataset_open(root, &ds, &e) == 0, "reopen");
  CHECK(vfr_dataset_shard(&ds, 1, 3, &e) == 0 && ds.count == 1 && !strcmp(ds.items[0].name, "cat/z.webp"), "shard");
  CHECK(vfr_dataset_shard(&ds, 3, 3, &e) == VFR_EINVAL, "bad shard");
  vfr_dataset_free(&ds);

  /* a CSV list with relative paths and string labels */
  snprintf(p, sizeof p, "%s/list.csv", root);
  FILE *f = fopen(p, "w");
  fputs("image,label\ndog/a.png,dog\ncat/z.webp,cat\n", f);
  fclose(f);
  CHECK(vfr_dataset_open(p, &ds, &e) == 0, "csv list: %s", e.message);
  CHECK(ds.count == 2 && ds.items[0].label == 1 && ds.items[1].label == 0, "csv labels");
  char expect[600];
  snprintf(expect, sizeof expect, "%s/dog/a.png", root);
  CHECK(ds.count == 2 && !strcmp(ds.items[0].path, expect), "csv relative path: %s", ds.count ? ds.items[0].path : "");
  vfr_dataset_free(&ds);

  f = fopen(p, "w");
  fputs("name,label\na.png,x\n", f);
  fclose(f);
  CHECK(vfr_dataset_open(p, &ds, &e) == VFR_EFORMAT && strstr(e.message, "no `path` column"), "csv without path: %s", e.message);

  snprintf(p, sizeof p, "%s/dog", root);
  CHECK(vfr_dataset_open(p, &ds, &e) == 0 && ds.count == 2 && ds.class_count == 0 && ds.items[0].label == -1,
        "flat folder");
  vfr_dataset_free(&ds);
  snprintf(p, sizeof p, "%s/cat/sub/m.jpeg", root);
  CHECK(vfr_dataset_open(p, &ds, &e) == VFR_EINVAL, "a file that is not a csv");
  snprintf(p, sizeof p, "%s/missing", root);
  CHECK(vfr_dataset_open(p, &ds, &e) == VFR_EIO && strstr(e.message, "missing"), "missing path names it: %s", e.message);
  snprintf(p, sizeof p, "rm -rf '%s'", root);
  if (system(p) != 0) printf("note: could not remove %s\n", root);
}

int main(void) {
  test_csv();
  test_tree();
  printf("test_dataset: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
