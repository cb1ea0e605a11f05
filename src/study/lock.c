/* The output folder's lock (see lock.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "study/lock.h"

/* Whether the holder recorded as "pid P on host H" may still run: a pid on this host that
 * no longer exists is stale; a holder on another host is taken to be alive. */
static int holder_alive(const char *holder, const char *host) {
  long pid = 0;
  char h[256] = "";
  if (sscanf(holder, "pid %ld on host %255s", &pid, h) != 2 || pid <= 0) return 0;
  if (strcmp(h, host)) return 1;
  if (pid == (long)getpid()) return 0;
  return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int vfr_folder_lock(const char *dir, int *fd, vfr_error *err) {
  *fd = -1;
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, VFR_LOCK_FILE);
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (f < 0) return vfr_fail(err, VFR_EIO, "%s: cannot create the lock file (%s)", path, strerror(errno));
  char host[256] = "?";
  if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "?");
  host[sizeof host - 1] = '\0';
  int e = flock(f, LOCK_EX | LOCK_NB) ? errno : 0;
  char holder[256] = "";
  ssize_t got = pread(f, holder, sizeof holder - 1, 0);
  holder[got > 0 ? got : 0] = '\0';
  holder[strcspn(holder, "\n")] = '\0';
  if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) /* no flock here: trust the recorded pid */
    e = holder_alive(holder, host) ? EWOULDBLOCK : 0;
  if (e) {
    close(f);
    if (e == EWOULDBLOCK)
      return vfr_fail(err, VFR_EIO, "%s: another run is writing this folder (%s); wait for it or use another --out",
                      dir, holder[0] ? holder : "holder unknown");
    return vfr_fail(err, VFR_EIO, "%s: cannot lock (%s)", path, strerror(e));
  }
  /* Ours now: any earlier holder has exited (its pid, if recorded, is stale). */
  char line[400];
  int len = snprintf(line, sizeof line, "pid %ld on host %s\n", (long)getpid(), host);
  if (ftruncate(f, 0) || pwrite(f, line, (size_t)len, 0) != len) {
    int e = errno;
    close(f);
    return vfr_fail(err, VFR_EIO, "%s: cannot write the lock file (%s)", path, strerror(e));
  }
  *fd = f;
  return VFR_OK;
}

void vfr_folder_unlock(int fd) {
  if (fd >= 0) close(fd);
}
