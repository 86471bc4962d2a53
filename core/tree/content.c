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

static int spool_open(struct bg_spool *s, struct bg_error *err)
{
  const char *dir = getenv("TMPDIR");
  char path[4096];
  int n, fd;

  if (dir == NULL || dir[0] == '\0')
    dir = "/tmp";
  if (s->dir == NULL)
    s->dir = strdup(dir);
  if (s->buf == NULL)
    s->buf = malloc(SPOOL_BUFSIZE);
  if (s->dir == NULL || s->buf == NULL)
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
  s->fd = fd;
  return 0;
}

static int pwrite_all(struct bg_spool *s, const unsigned char *p, size_t n, uint64_t off,
                      struct bg_error *err)
{
  ssize_t w;

  while (n > 0) {
    w = pwrite(s->fd, p, n, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return bg_error_errno(err, errno, "cannot write the spool file in %s", s->dir);
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

/* Before bytes go to disk: they must leave the filesystem its reserve, so a hostile layer fails
 * here, cleanly, instead of filling TMPDIR for everyone. */
static int spool_room(struct bg_spool *s, uint64_t bytes, struct bg_error *err)
{
  struct statvfs vfs;
  uint64_t avail;

  if (fstatvfs(s->fd, &vfs) != 0)
    return bg_error_errno(err, errno, "cannot check the free space of %s", s->dir);
  avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
  if (bytes + SPOOL_RESERVE > avail)
    return bg_error_set(err, BG_ETOOBIG,
                        "file contents do not fit the spool in %s (%llu bytes free, %llu MiB "
                        "kept free); set TMPDIR to a larger filesystem",
                        s->dir, (unsigned long long)avail,
                        (unsigned long long)(SPOOL_RESERVE >> 20));
  return 0;
}

/* Writes the buffered extents where they belong and extends the file over trailing holes, so
 * every byte below size reads back: data, or zeros from a hole. */
int bg_spool_flush(struct bg_spool *s, struct bg_error *err)
{
  const unsigned char *p = s->buf;
  size_t i;

  if (s->fd < 0)
    return 0;
  if (s->buffered > 0 && spool_room(s, s->buffered, err) != 0)
    return -1;
  for (i = 0; i < s->next; i++) {
    if (pwrite_all(s, p, s->ext[i].len, s->ext[i].off, err) != 0)
      return -1;
    p += s->ext[i].len;
    if (s->ext[i].off + s->ext[i].len > s->filesize)
      s->filesize = s->ext[i].off + s->ext[i].len;
  }
  s->next = 0;
  s->buffered = 0;
  if (s->filesize < s->size) {
    if (ftruncate(s->fd, (off_t)s->size) != 0)
      return bg_error_errno(err, errno, "cannot extend the spool file in %s", s->dir);
    s->filesize = s->size;
  }
  s->flushed = s->size;
  return 0;
}

static int spool_grow(struct bg_spool *s, uint64_t n, struct bg_error *err)
{
  if (s->fd < 0 && spool_open(s, err) != 0)
    return -1;
  if (n > s->limit - s->size)
    return bg_error_set(err, BG_ETOOBIG, "image content exceeds the limit of %llu bytes",
                        (unsigned long long)s->limit);
  return 0;
}

struct bg_spool *bg_tree_spool(struct bg_tree *t, unsigned i, struct bg_error *err)
{
  struct bg_spool *s;

  if (i >= BG_TREE_SPOOLS) {
    bg_error_set(err, BG_EINVAL, "no spool %u", i);
    return NULL;
  }
  if (t->spools[i] != NULL)
    return t->spools[i];
  s = calloc(1, sizeof(*s));
  if (s == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory for the spool");
    return NULL;
  }
  s->index = i;
  s->fd = -1;
  s->limit = t->limits.max_spool_bytes;
  t->spools[i] = s;
  return s;
}

unsigned bg_spool_index(const struct bg_spool *s)
{
  return s->index;
}

int bg_spool_begin(struct bg_spool *s, uint64_t size, uint64_t *offset, struct bg_error *err)
{
  struct bg_spool_extent *x;
  uint64_t pad = (SPOOL_ALIGN - s->size % SPOOL_ALIGN) % SPOOL_ALIGN;

  if (s->size > s->limit || pad > s->limit - s->size || size > s->limit - s->size - pad)
    return bg_error_set(err, BG_ETOOBIG, "image content exceeds the limit of %llu bytes",
                        (unsigned long long)s->limit);
  if (spool_grow(s, pad, err) != 0)
    return -1;
  /* the rest of the block the last file's bytes end in goes out as zeros with them, so that
   * file and this one reach the file in one write (the block holds data either way) */
  x = s->next > 0 ? &s->ext[s->next - 1] : NULL;
  if (pad > 0 && x != NULL && x->off + x->len == s->size && pad <= SPOOL_BUFSIZE - s->buffered) {
    memset(s->buf + s->buffered, 0, (size_t)pad);
    s->buffered += (size_t)pad;
    x->len += (size_t)pad;
  }
  s->size += pad;
  *offset = s->size;
  return 0;
}

int bg_spool_append(struct bg_spool *s, const void *p, size_t n, uint64_t *offset,
                    struct bg_error *err)
{
  struct bg_spool_extent *x;
  size_t room;

  if (spool_grow(s, n, err) != 0)
    return -1;
  if (offset != NULL)
    *offset = s->size;
  while (n > 0) {
    room = SPOOL_BUFSIZE - s->buffered;
    x = s->next > 0 ? &s->ext[s->next - 1] : NULL;
    if (room == 0 || (s->next == BG_SPOOL_EXTENTS && x->off + x->len != s->size)) {
      if (bg_spool_flush(s, err) != 0)
        return -1;
      continue;
    }
    if (x == NULL || x->off + x->len != s->size) {
      x = &s->ext[s->next++];
      x->off = s->size;
      x->len = 0;
    }
    if (room > n)
      room = n;
    memcpy(s->buf + s->buffered, p, room);
    s->buffered += room;
    x->len += room;
    s->size += room;
    p = (const unsigned char *)p + room;
    n -= room;
  }
  return 0;
}

int bg_spool_hole(struct bg_spool *s, uint64_t n, struct bg_error *err)
{
  if (spool_grow(s, n, err) != 0)
    return -1;
  s->size += n;
  return 0;
}

static struct bg_spool *spool0(struct bg_tree *t, struct bg_error *err)
{
  return bg_tree_spool(t, 0, err);
}

int bg_tree_spool_begin(struct bg_tree *t, uint64_t size, uint64_t *offset, struct bg_error *err)
{
  struct bg_spool *s = spool0(t, err);

  return s != NULL ? bg_spool_begin(s, size, offset, err) : -1;
}

int bg_tree_spool_append(struct bg_tree *t, const void *p, size_t n, uint64_t *offset,
                         struct bg_error *err)
{
  struct bg_spool *s = spool0(t, err);

  return s != NULL ? bg_spool_append(s, p, n, offset, err) : -1;
}

int bg_tree_spool_hole(struct bg_tree *t, uint64_t n, struct bg_error *err)
{
  struct bg_spool *s = spool0(t, err);

  return s != NULL ? bg_spool_hole(s, n, err) : -1;
}

int bg_tree_spool_usage(struct bg_tree *t, uint64_t *logical, uint64_t *allocated,
                        struct bg_error *err)
{
  struct bg_spool *s;
  struct stat st;
  unsigned i;

  *logical = 0;
  *allocated = 0;
  for (i = 0; i < BG_TREE_SPOOLS; i++) {
    s = t->spools[i];
    if (s == NULL)
      continue;
    *logical += s->size;
    if (s->fd < 0)
      continue;
    if (bg_spool_flush(s, err) != 0)
      return -1;
    if (fstat(s->fd, &st) != 0)
      return bg_error_errno(err, errno, "cannot stat the spool file in %s", s->dir);
    *allocated += (uint64_t)st.st_blocks * 512;
  }
  return 0;
}

void bg_tree_spools_close(struct bg_tree *t)
{
  struct bg_spool *s;
  unsigned i;

  for (i = 0; i < BG_TREE_SPOOLS; i++) {
    s = t->spools[i];
    if (s == NULL)
      continue;
    if (s->fd >= 0)
      close(s->fd);
    free(s->buf);
    free(s->dir);
    free(s);
    t->spools[i] = NULL;
  }
  if (t->host_fd >= 0)
    close(t->host_fd);
  t->host_fd = -1;
  free(t->host_path);
  t->host_path = NULL;
}

/* The spool a content record names, its bytes up to end written out. */
static struct bg_spool *spool_of(struct bg_tree *t, const struct bg_content *c, uint64_t end,
                                 struct bg_error *err)
{
  struct bg_spool *s = c->spool < BG_TREE_SPOOLS ? t->spools[c->spool] : NULL;

  if (s == NULL || s->fd < 0) {
    bg_error_set(err, BG_EIO, "the spool file is shorter than expected");
    return NULL;
  }
  if (end > s->flushed && bg_spool_flush(s, err) != 0)
    return NULL;
  return s;
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
  struct bg_spool *s;

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
    s = spool_of(t, c, c->offset + off + n, err);
    if (s == NULL)
      return -1;
    if (pread_some(s->fd, buf, n, c->offset + off, got, "the spool file", err) != 0)
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

int bg_tree_spool_range(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, uint64_t n,
                        struct bg_tree_range *r, struct bg_error *err)
{
  const struct bg_content *c = &ino->content;
  struct bg_spool *s;

  if (!S_ISREG(ino->mode) || c->kind != BG_CONTENT_SPOOL)
    return bg_error_set(err, BG_EINVAL, "not content of the spool");
  if (off > ino->size || n > ino->size - off)
    return bg_error_set(err, BG_EINVAL, "past the end of the file");
  s = spool_of(t, c, c->offset + off + n, err);
  if (s == NULL)
    return -1;
  r->fd = s->fd;
  r->at = c->offset + off;
  r->dir = s->dir;
  r->no_range = &s->no_copy_range;
  return 0;
}

/* Where the spool's next run of data (SEEK_DATA) or hole (SEEK_HOLE) starts in a file's content,
 * at or after off, within off..size. A filesystem that cannot tell makes it all data. */
static int spool_seek(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, int whence,
                      uint64_t *at, struct bg_error *err)
{
  const struct bg_content *c = &ino->content;
  struct bg_spool *s;
  off_t r;

  *at = whence == SEEK_DATA ? off : ino->size;
  /* dense content has no holes to look for: asking the spool's filesystem would cost a scan to
   * the next hole anywhere in the spool (tmpfs walks its pages) */
  if (!S_ISREG(ino->mode) || c->kind != BG_CONTENT_SPOOL || (c->flags & BG_CONTENT_DENSE) ||
      off >= ino->size)
    return 0;
  s = spool_of(t, c, c->offset + ino->size, err);
  if (s == NULL)
    return -1;
  r = lseek(s->fd, (off_t)(c->offset + off), whence);
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
