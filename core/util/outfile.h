/* Output files that appear whole or not at all: written under a temporary name in their own
 * directory (registered for removal on a signal), synced, then renamed into place. */
#ifndef BG_OUTFILE_H
#define BG_OUTFILE_H

#include <limits.h>
#include <stddef.h>

#include "error.h"

struct bg_outfile {
  int fd;    /* -1 when not open */
  int slot;  /* the cleanup slot of tmp, or -1 */
  char path[PATH_MAX];
  char dir[PATH_MAX];
  char tmp[PATH_MAX];
};

/* Creates the temporary file for path, mode 0666 less the umask; with parents, missing
 * directories on the way are made (0777 less the umask). */
int bg_outfile_open(struct bg_outfile *o, const char *path, int parents, struct bg_error *err);
int bg_outfile_write(struct bg_outfile *o, const void *p, size_t n, struct bg_error *err);
/* Syncs, closes and renames the file into place, then syncs its directory. On failure the
 * temporary file is removed. */
int bg_outfile_commit(struct bg_outfile *o, struct bg_error *err);
/* Closes and removes the temporary file, if any; safe to call after commit. */
void bg_outfile_abort(struct bg_outfile *o);

#endif
