/* Output files that appear whole or not at all: a bg_tmpfile in their own directory (".NAME.tmp-"
 * names, removed on a signal, swept when their writer is gone), synced, then renamed into
 * place, with the directory made first when asked. */
#ifndef BG_OUTFILE_H
#define BG_OUTFILE_H

#include <limits.h>
#include <stddef.h>

#include "error.h"
#include "tmpfile.h"

struct bg_outfile {
  struct bg_tmpfile tmp;
  char path[PATH_MAX]; /* the final name; may be changed (same directory) before commit */
  char dir[PATH_MAX];
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
