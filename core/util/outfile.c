#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

int bg_outfile_open(struct bg_outfile *o, const char *path, int parents, struct bg_error *err)
{
  const char *base;
  char prefix[NAME_MAX + 8];
  mode_t mask;

  o->tmp.fd = -1;
  if (bg_path_split(path, o->dir, sizeof(o->dir), &base, err) != 0)
    return -1;
  if (strlen(path) >= sizeof(o->path) || strlen(base) > NAME_MAX)
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
  memcpy(o->path, path, strlen(path) + 1);
  if (parents && bg_mkdir_p(o->dir, 0777, err) != 0)
    return -1;
  snprintf(prefix, sizeof(prefix), ".%s.tmp-", base);
  /* what a writer killed with -9 left of this file */
  bg_tmpfile_sweep(o->dir, prefix);
  mask = umask(0);
  umask(mask);
  /* an ordinary output file: what the umask allows */
  return bg_tmpfile_open(&o->tmp, o->dir, prefix, 0666 & ~mask, err);
}

int bg_outfile_write(struct bg_outfile *o, const void *p, size_t n, struct bg_error *err)
{
  if (bg_write_all(o->tmp.fd, p, n) != 0)
    return bg_error_errno(err, errno, "cannot write %s", o->path);
  return 0;
}

int bg_outfile_commit(struct bg_outfile *o, struct bg_error *err)
{
  if (fsync(o->tmp.fd) != 0) {
    bg_error_errno(err, errno, "cannot sync %s", o->path);
    goto fail;
  }
  if (bg_tmpfile_commit(&o->tmp, o->path, err) != 0)
    goto fail;
  if (bg_tmpfile_close(&o->tmp, err) != 0)
    return -1;
  return bg_sync_dir(o->dir, err);
fail:
  bg_outfile_abort(o);
  return -1;
}

void bg_outfile_abort(struct bg_outfile *o)
{
  bg_tmpfile_discard(&o->tmp);
}
