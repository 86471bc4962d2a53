#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

/* mkdir -p, one component at a time; an existing non-directory is an error. */
static int make_dirs(const char *dir, struct bg_error *err)
{
  char buf[PATH_MAX];
  struct stat st;
  size_t i, n = strlen(dir);

  if (n >= sizeof(buf))
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", dir);
  memcpy(buf, dir, n + 1);
  for (i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    buf[i] = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return bg_error_errno(err, errno, "cannot create directory %s", buf);
    if (stat(buf, &st) != 0)
      return bg_error_errno(err, errno, "cannot stat %s", buf);
    if (!S_ISDIR(st.st_mode))
      return bg_error_set(err, BG_EIO, "%s: not a directory", buf);
    if (i < n)
      buf[i] = '/';
  }
  return 0;
}

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
  if (parents && make_dirs(o->dir, err) != 0)
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
  const char *c = p;
  ssize_t w;

  while (n > 0) {
    w = write(o->tmp.fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return bg_error_errno(err, errno, "cannot write %s", o->path);
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int bg_outfile_commit(struct bg_outfile *o, struct bg_error *err)
{
  int dfd;

  if (fsync(o->tmp.fd) != 0) {
    bg_error_errno(err, errno, "cannot sync %s", o->path);
    goto fail;
  }
  if (bg_tmpfile_commit(&o->tmp, o->path, err) != 0)
    goto fail;
  if (bg_tmpfile_close(&o->tmp, err) != 0)
    return -1;
  dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bg_error_errno(err, errno, "cannot open %s", o->dir);
  if (fsync(dfd) != 0) {
    bg_error_errno(err, errno, "cannot sync %s", o->dir);
    close(dfd);
    return -1;
  }
  close(dfd);
  return 0;
fail:
  bg_outfile_abort(o);
  return -1;
}

void bg_outfile_abort(struct bg_outfile *o)
{
  bg_tmpfile_discard(&o->tmp);
}
