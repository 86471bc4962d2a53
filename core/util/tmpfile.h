/* Files written under a temporary name and renamed into place when whole (cache blobs,
 * index.json, images). The name says whose a file is: PREFIX + PID + "-" + 6 random characters,
 * created O_EXCL|O_NOFOLLOW (a name planted in a shared directory is never followed or reused).
 * The writer holds an flock on it while it is open, the signal handler removes it on SIGINT,
 * SIGTERM and SIGHUP, and a later run sweeps the ones whose writer is gone (killed with -9). */
#ifndef BG_TMPFILE_H
#define BG_TMPFILE_H

#include <limits.h>
#include <sys/types.h>

#include "error.h"

struct bg_tmpfile {
  int fd;              /* read-write, holding the lock; -1 when closed */
  int slot;            /* signal-cleanup slot, -1 when none */
  int committed;       /* renamed into place: close no longer removes it */
  char path[PATH_MAX];
};

/* Creates DIR/PREFIX<pid>-XXXXXX with mode (less the umask), e.g. prefix ".out.ext4.tmp-". */
int bg_tmpfile_open(struct bg_tmpfile *t, const char *dir, const char *prefix, mode_t mode,
                    struct bg_error *err);
/* Renames the file to final (a path in the same directory); the descriptor stays open. */
int bg_tmpfile_commit(struct bg_tmpfile *t, const char *final, struct bg_error *err);
/* Closes; a file not committed is removed. A failed close is an error (close(2) reports write
 * errors of some filesystems there). Safe on a closed one. */
int bg_tmpfile_close(struct bg_tmpfile *t, struct bg_error *err);
/* Closes ignoring errors, removing the file unless committed (cleanup after another error).
 * Safe on a closed one. */
void bg_tmpfile_discard(struct bg_tmpfile *t);

/* Removes DIR's temporary files whose writer is gone: the PID in the name is not a live
 * process and nobody holds the lock. prefix NULL matches any ".NAME.tmp-" (outputs of earlier
 * builds). Returns how many were removed; errors are ignored (a sweep is best effort). */
int bg_tmpfile_sweep(const char *dir, const char *prefix);

/* mkdir -p: makes dir and the directories missing on the way (mode less the umask), one
 * component at a time; a component that is not a directory is an error. */
int bg_mkdir_p(const char *dir, mode_t mode, struct bg_error *err);
/* Writes all n bytes (again after EINTR); -1 with errno set on failure. */
int bg_write_all(int fd, const void *p, size_t n);
/* Syncs a directory, so that a rename in it is on disk (EINVAL, a filesystem that cannot, is
 * no error); a failed close is an error. */
int bg_sync_dir(const char *dir, struct bg_error *err);

#endif
