/* Where file bytes live: the spool file, memory, or host files read at build time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tree_internal.h"

#define SPOOL_BUFSIZE (1 << 20)

/* What a spool write must leave free on TMPDIR's filesystem, for everyone else. */
#define SPOOL_RESERVE ((uint64_t)16 << 20)
#define SPOOL_ALIGN 4096

static int spool_open(struct bg_tree *t, struct bg_error *err)
{
  const char *dir = getenv("TMPDIR");
  char path[4096];
  int n, fd;

  if (dir == NULL || dir[0] == '\0')
    dir = "/tmp";
  if (t->spool_dir == NULL)
    t->spool_dir = strdup(dir);
  if (t->spool_buf == NULL)
    t->spool_buf = malloc(SPOOL_BUFSIZE);
  if (t->spool_dir == NULL || t->spool_buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory for the spool");
  /* O_TMPFILE: the file never has a name, so it cannot outlive the process */
  fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    n = snprintf(path, sizeof(path), "%s/banger-spool-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof(path))
      return bg_error_set(err, BG_EINVAL, "TMPDIR too long");
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
      return bg_error_errno(err, errno, "cannot create a spool file in %s", dir);
    unlink(path);
  }
  t->spool_fd = fd;
  return 0;
}

static int pwrite_all(struct bg_tree *t, const unsigned char *p, size_t n, uint64_t off,
                      struct bg_error *err)
{
  ssize_t w;

  while (n > 0) {
    w = pwrite(t->spool_fd, p, n, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return bg_error_errno(err, errno, "cannot write the spool file in %s", t->spool_dir);
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

/* Before bytes go to disk: they must leave the filesystem its reserve, so a hostile layer fails
 * here, cleanly, instead of filling TMPDIR for everyone. */
static int spool_room(struct bg_tree *t, uint64_t bytes, struct bg_error *err)
{
  struct statvfs vfs;
  uint64_t avail;

  if (fstatvfs(t->spool_fd, &vfs) != 0)
    return bg_error_errno(err, errno, "cannot check the free space of %s", t->spool_dir);
  avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
  if (bytes + SPOOL_RESERVE > avail)
    return bg_error_set(err, BG_ETOOBIG,
                        "file contents do not fit the spool in %s (%llu bytes free, %llu MiB "
                        "kept free); set TMPDIR to a larger filesystem",
                        t->spool_dir, (unsigned long long)avail,
                        (unsigned long long)(SPOOL_RESERVE >> 20));
  return 0;
}

/* Writes the buffered extents where they belong and extends the file over trailing holes, so
 * every byte below spool_size reads back: data, or zeros from a hole. */
static int spool_flush(struct bg_tree *t, struct bg_error *err)
{
  const unsigned char *p = t->spool_buf;
  size_t i;

  if (t->spool_fd < 0)
    return 0;
  if (t->spool_buffered > 0 && spool_room(t, t->spool_buffered, err) != 0)
    return -1;
  for (i = 0; i < t->spool_next; i++) {
    if (pwrite_all(t, p, t->spool_ext[i].len, t->spool_ext[i].off, err) != 0)
      return -1;
    p += t->spool_ext[i].len;
    if (t->spool_ext[i].off + t->spool_ext[i].len > t->spool_filesize)
      t->spool_filesize = t->spool_ext[i].off + t->spool_ext[i].len;
  }
  t->spool_next = 0;
  t->spool_buffered = 0;
  if (t->spool_filesize < t->spool_size) {
    if (ftruncate(t->spool_fd, (off_t)t->spool_size) != 0)
      return bg_error_errno(err, errno, "cannot extend the spool file in %s", t->spool_dir);
    t->spool_filesize = t->spool_size;
  }
  t->spool_flushed = t->spool_size;
  return 0;
}

static int spool_grow(struct bg_tree *t, uint64_t n, struct bg_error *err)
{
  if (t->spool_fd < 0 && spool_open(t, err) != 0)
    return -1;
  if (n > t->limits.max_spool_bytes - t->spool_size)
    return bg_error_set(err, BG_ETOOBIG, "image content exceeds the limit of %llu bytes",
                        (unsigned long long)t->limits.max_spool_bytes);
  return 0;
}

int bg_tree_spool_begin(struct bg_tree *t, uint64_t size, uint64_t *offset, struct bg_error *err)
{
  uint64_t pad = (SPOOL_ALIGN - t->spool_size % SPOOL_ALIGN) % SPOOL_ALIGN;

  if (t->spool_size > t->limits.max_spool_bytes ||
      pad > t->limits.max_spool_bytes - t->spool_size ||
      size > t->limits.max_spool_bytes - t->spool_size - pad)
    return bg_error_set(err, BG_ETOOBIG, "image content exceeds the limit of %llu bytes",
                        (unsigned long long)t->limits.max_spool_bytes);
  if (spool_grow(t, pad, err) != 0)
    return -1;
  t->spool_size += pad;
  *offset = t->spool_size;
  return 0;
}

int bg_tree_spool_append(struct bg_tree *t, const void *p, size_t n, uint64_t *offset,
                         struct bg_error *err)
{
  struct bg_spool_extent *x;
  size_t room;

  if (spool_grow(t, n, err) != 0)
    return -1;
  if (offset != NULL)
    *offset = t->spool_size;
  while (n > 0) {
    room = SPOOL_BUFSIZE - t->spool_buffered;
    x = t->spool_next > 0 ? &t->spool_ext[t->spool_next - 1] : NULL;
    if (room == 0 || (t->spool_next == BG_SPOOL_EXTENTS &&
                      x->off + x->len != t->spool_size)) {
      if (spool_flush(t, err) != 0)
        return -1;
      continue;
    }
    if (x == NULL || x->off + x->len != t->spool_size) {
      x = &t->spool_ext[t->spool_next++];
      x->off = t->spool_size;
      x->len = 0;
    }
    if (room > n)
      room = n;
    memcpy(t->spool_buf + t->spool_buffered, p, room);
    t->spool_buffered += room;
    x->len += room;
    t->spool_size += room;
    p = (const unsigned char *)p + room;
    n -= room;
  }
  return 0;
}

int bg_tree_spool_hole(struct bg_tree *t, uint64_t n, struct bg_error *err)
{
  if (spool_grow(t, n, err) != 0)
    return -1;
  t->spool_size += n;
  return 0;
}

int bg_tree_spool_usage(struct bg_tree *t, uint64_t *logical, uint64_t *allocated,
                        struct bg_error *err)
{
  struct stat st;

  *logical = t->spool_size;
  *allocated = 0;
  if (t->spool_fd < 0)
    return 0;
  if (spool_flush(t, err) != 0)
    return -1;
  if (fstat(t->spool_fd, &st) != 0)
    return bg_error_errno(err, errno, "cannot stat the spool file in %s", t->spool_dir);
  *allocated = (uint64_t)st.st_blocks * 512;
  return 0;
}

void bg_spool_close(struct bg_tree *t)
{
  if (t->spool_fd >= 0)
    close(t->spool_fd);
  t->spool_fd = -1;
  free(t->spool_buf);
  t->spool_buf = NULL;
  free(t->spool_dir);
  t->spool_dir = NULL;
  if (t->host_fd >= 0)
    close(t->host_fd);
  t->host_fd = -1;
  free(t->host_path);
  t->host_path = NULL;
}

static int pread_some(int fd, void *buf, size_t n, uint64_t off, size_t *got, const char *what,
                      struct bg_error *err)
{
  ssize_t r;

  for (;;) {
    r = pread(fd, buf, n, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return bg_error_errno(err, errno, "cannot read %s", what);
    *got = (size_t)r;
    return 0;
  }
}

static int host_open(struct bg_tree *t, const char *path, struct bg_error *err)
{
  int fd;

  if (t->host_fd >= 0 && t->host_path != NULL && strcmp(t->host_path, path) == 0)
    return 0;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", path);
  if (t->host_fd >= 0)
    close(t->host_fd);
  free(t->host_path);
  t->host_fd = fd;
  t->host_path = strdup(path);
  if (t->host_path == NULL) {
    close(fd);
    t->host_fd = -1;
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  }
  return 0;
}

int bg_tree_read(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, void *buf, size_t n,
                 size_t *got, struct bg_error *err)
{
  const struct bg_content *c = &ino->content;

  *got = 0;
  if (!S_ISREG(ino->mode))
    return bg_error_set(err, BG_EINVAL, "not a regular file");
  if (off >= ino->size)
    return 0;
  if (n > ino->size - off)
    n = (size_t)(ino->size - off);
  switch (c->kind) {
  case BG_CONTENT_NONE:
    return bg_error_set(err, BG_EINVAL, "file of %llu bytes has no content",
                        (unsigned long long)ino->size);
  case BG_CONTENT_MEM:
    memcpy(buf, c->mem + off, n);
    *got = n;
    return 0;
  case BG_CONTENT_SPOOL:
    if (c->offset + off + n > t->spool_flushed && spool_flush(t, err) != 0)
      return -1;
    if (pread_some(t->spool_fd, buf, n, c->offset + off, got, "the spool file", err) != 0)
      return -1;
    if (*got == 0)
      return bg_error_set(err, BG_EIO, "the spool file is shorter than expected");
    return 0;
  case BG_CONTENT_HOST:
    if (host_open(t, c->host_path, err) != 0)
      return -1;
    if (pread_some(t->host_fd, buf, n, off, got, c->host_path, err) != 0)
      return -1;
    if (*got == 0)
      return bg_error_set(err, BG_EIO, "%s is shorter than when it was added", c->host_path);
    return 0;
  }
  return bg_error_set(err, BG_EINVAL, "unknown content kind %d", c->kind);
}

/* Where the spool's next run of data (SEEK_DATA) or hole (SEEK_HOLE) starts in a file's content,
 * at or after off, within off..size. A filesystem that cannot tell makes it all data. */
static int spool_seek(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, int whence,
                      uint64_t *at, struct bg_error *err)
{
  const struct bg_content *c = &ino->content;
  off_t r;

  *at = whence == SEEK_DATA ? off : ino->size;
  if (!S_ISREG(ino->mode) || c->kind != BG_CONTENT_SPOOL || off >= ino->size)
    return 0;
  if (c->offset + ino->size > t->spool_flushed && spool_flush(t, err) != 0)
    return -1;
  r = lseek(t->spool_fd, (off_t)(c->offset + off), whence);
  if (r < 0 && errno == ENXIO) /* nothing but a hole to the end of the spool */
    *at = ino->size;
  else if (r >= 0 && (uint64_t)r >= c->offset + ino->size)
    *at = ino->size;
  else if (r >= 0 && (uint64_t)r > c->offset + off)
    *at = (uint64_t)r - c->offset;
  else if (r >= 0)
    *at = off;
  return 0;
}

int bg_tree_next_data(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, uint64_t *data,
                      struct bg_error *err)
{
  return spool_seek(t, ino, off, SEEK_DATA, data, err);
}

int bg_tree_next_hole(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, uint64_t *hole,
                      struct bg_error *err)
{
  return spool_seek(t, ino, off, SEEK_HOLE, hole, err);
}
