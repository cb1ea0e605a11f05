/* Error values carry the code and the formatted message. */
#include <stdio.h>
#include <string.h>

#include "vfrobust.h"

int main(void) {
  int failed = 0;
  vfr_error e;
  vfr_error_clear(&e);
  if (e.code != VFR_OK || e.message[0]) failed++;
  int rc = vfr_fail(&e, VFR_EIO, "%s: cannot open (%d)", "x.jpg", 2);
  if (rc != VFR_EIO || e.code != VFR_EIO || strcmp(e.message, "x.jpg: cannot open (2)")) failed++;
  if (vfr_fail(NULL, VFR_EINVAL, "ignored") != VFR_EINVAL) failed++;
  if (strcmp(vfr_status_name(VFR_ELIMIT), "limit exceeded")) failed++;
  vfr_fail(&e, VFR_EINVAL, "%s: bad", "two\nlines\r\x1b");
  if (strcmp(e.message, "two?lines??: bad")) failed++; /* one line, whatever is quoted */
  printf("test_error: %s\n", failed ? "FAILED" : "ok");
  return failed != 0;
}
