/* One run at a time per output folder: DIR/.vfrobust.lock, held with flock(2) for the
 * whole run. The file records the holder ("pid P host H"); the kernel drops the lock when
 * the holder exits in any way, so a lock left by a killed run is stale and taken over. */
#ifndef VFR_STUDY_LOCK_H
#define VFR_STUDY_LOCK_H

#include "vfrobust/error.h"

#define VFR_LOCK_FILE ".vfrobust.lock"

/* Takes the lock of dir (which must exist): *fd holds it until vfr_folder_unlock. A folder
 * locked by a live run is refused with VFR_EIO naming the holder. */
int vfr_folder_lock(const char *dir, int *fd, vfr_error *err);
void vfr_folder_unlock(int fd);

#endif
