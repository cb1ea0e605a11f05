/* An output never written over an input (see cli_check_out in cli.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* The absolute path `path` stands for with every symlink resolved: realpath of its deepest
 * existing ancestor, followed by the components that do not exist yet. 0 on success. */
static int resolve(const char *path, char *out, size_t size) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
  size_t len = strlen(buf);
  while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
  char tail[PATH_MAX] = "";
  for (;;) {
    char real[PATH_MAX];
    if (realpath(len ? buf : ".", real)) {
      size_t r = strcmp(real, "/") ? strlen(real) : 0, t = strlen(tail);
      if (r + t + 2 > size) return -1;
      memcpy(out, real, r);
      memcpy(out + r, tail, t + 1);
      if (!out[0]) memcpy(out, "/", 2);
      return 0;
    }
    if (errno != ENOENT && errno != ENOTDIR) return -1;
    char *slash = strrchr(buf, '/');
    const char *last = slash ? slash + 1 : buf;
    if (!strcmp(last, "..") || !strcmp(last, ".")) return -1; /* not resolvable lexically */
    char t[PATH_MAX];
    if (snprintf(t, sizeof t, "/%s%s", last, tail) >= (int)sizeof t) return -1;
    memcpy(tail, t, strlen(t) + 1);
    if (slash == buf) { buf[1] = '\0'; len = 1; }
    else if (slash) { *slash = '\0'; len = strlen(buf); }
    else { buf[0] = '\0'; len = 0; }
  }
}

/* a is b, or a folder above b. */
static int is_within(const char *outer, const char *inner) {
  size_t n = strlen(outer);
  if (!strcmp(outer, "/")) return 1;
  return !strncmp(outer, inner, n) && (inner[n] == '\0' || inner[n] == '/');
}

int cli_check_writable(const char *path) {
  if (!path) return 0;
  char tmp[PATH_MAX + 16];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    cli_errorf(path, "is a folder, not a file to write");
    return CLI_USAGE;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    cli_errorf(path, "cannot write (%s)", strerror(errno));
    return CLI_FAIL;
  }
  close(fd);
  unlink(tmp);
  return 0;
}

int cli_check_out(const char *command, const char *out_flag, const char *out, ...) {
  char o[PATH_MAX], in[PATH_MAX];
  if (!out) return 0;
  if (resolve(out, o, sizeof o)) {
    cli_errorf(command, "%s %s: cannot resolve the path (%s)", out_flag, out, strerror(errno ? errno : EINVAL));
    return CLI_USAGE;
  }
  va_list ap;
  va_start(ap, out);
  int rc = 0;
  for (const char *flag; !rc && (flag = va_arg(ap, const char *));) {
    const char *path = va_arg(ap, const char *);
    if (!path || resolve(path, in, sizeof in)) continue;
    struct stat st;
    int folder = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    const char *how = !strcmp(o, in) ? "is" : is_within(o, in) ? "contains" : folder && is_within(in, o) ? "lies inside" : NULL;
    if (how) {
      cli_errorf(command, "%s %s %s the input %s %s (%s): an output never replaces an input", out_flag, out, how, flag,
                 path, in);
      rc = CLI_USAGE;
    }
  }
  va_end(ap);
  return rc;
}
