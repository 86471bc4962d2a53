#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bg_buf_init(struct bg_buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
  b->max = max;
}

void bg_buf_free(struct bg_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
}

void bg_buf_reset(struct bg_buf *b)
{
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = '\0';
}

static int grow(struct bg_buf *b, size_t need, struct bg_error *err)
{
  size_t n;
  char *p;

  if (need > b->max)
    return bg_error_set(err, BG_ETOOBIG, "buffer would exceed its limit of %zu bytes", b->max);
  if (need + 1 <= b->alloc)
    return 0;
  n = b->alloc ? b->alloc : 64;
  while (n < need + 1)
    n = n > ((size_t)-1) / 2 ? need + 1 : n * 2;
  if (n > b->max + 1)
    n = b->max + 1;
  p = realloc(b->data, n);
  if (p == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory growing a buffer to %zu bytes", n);
  b->data = p;
  b->alloc = n;
  return 0;
}

int bg_buf_add(struct bg_buf *b, const void *p, size_t n, struct bg_error *err)
{
  if (n > b->max - b->len || grow(b, b->len + n, err) != 0)
    return bg_error_set(err, BG_ETOOBIG, "buffer would exceed its limit of %zu bytes", b->max);
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int bg_buf_addstr(struct bg_buf *b, const char *s, struct bg_error *err)
{
  return bg_buf_add(b, s, strlen(s), err);
}

int bg_buf_printf(struct bg_buf *b, struct bg_error *err, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return bg_error_set(err, BG_EINVAL, "bad format string");
  if ((size_t)n > b->max - b->len)
    return bg_error_set(err, BG_ETOOBIG, "buffer would exceed its limit of %zu bytes", b->max);
  if (grow(b, b->len + (size_t)n, err) != 0)
    return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

char *bg_buf_take(struct bg_buf *b, size_t *len)
{
  char *p = b->data;

  if (len != NULL)
    *len = b->len;
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
  return p;
}

int bg_buf_read_fd(struct bg_buf *b, int fd, const char *name, struct bg_error *err)
{
  char block[65536];
  ssize_t n;

  for (;;) {
    n = read(fd, block, sizeof(block));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return bg_error_errno(err, errno, "cannot read %s", name);
    if (n == 0)
      return 0;
    if (bg_buf_add(b, block, (size_t)n, err) != 0)
      return bg_error_prefix(err, "reading %s", name);
  }
}

int bg_buf_read_file(struct bg_buf *b, const char *path, struct bg_error *err)
{
  int fd, rc;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 1;
    return bg_error_errno(err, errno, "cannot open %s", path);
  }
  rc = bg_buf_read_fd(b, fd, path, err);
  close(fd);
  return rc;
}
