#include "sparse.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAP_WINDOW (8 << 20) /* a mapped read's window */

int bg_sparse_next(int fd, const char *name, uint64_t at, uint64_t end, uint64_t *data,
                   uint64_t *hole, struct bg_error *err)
{
  off_t s, e;

  *data = *hole = end;
  if (at >= end)
    return 0;
  s = lseek(fd, (off_t)at, SEEK_DATA);
  if (s < 0 && errno == ENXIO) /* nothing but a hole from at on */
    return 0;
  if (s < 0 && errno == EINVAL) { /* a filesystem that cannot tell: all data */
    *data = at;
    return 0;
  }
  if (s < 0)
    return bg_error_errno(err, errno, "cannot look for data in %s", name);
  if ((uint64_t)s >= end)
    return 0;
  e = lseek(fd, s, SEEK_HOLE);
  if (e < 0)
    return bg_error_errno(err, errno, "cannot look for holes in %s", name);
  *data = (uint64_t)s;
  *hole = (uint64_t)e < end ? (uint64_t)e : end;
  return 0;
}

/* The data from *at to hole to fn through windows of a mapping, *at moved past what was
 * done; a mapping refused leaves the rest to pread. */
static int mapped(int fd, uint64_t *at, uint64_t hole, size_t chunk,
                  int (*fn)(void *ctx, const void *p, size_t n, struct bg_error *err), void *ctx,
                  struct bg_error *err)
{
  uint64_t base, len, i, k;
  unsigned char *m;
  int rc = 0;

  while (*at < hole && rc == 0) {
    base = *at & ~(uint64_t)(MAP_WINDOW - 1);
    len = hole - base < MAP_WINDOW ? hole - base : MAP_WINDOW;
    m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, (off_t)base);
    if (m == MAP_FAILED)
      return 0;
    madvise(m, (size_t)len, MADV_SEQUENTIAL | MADV_WILLNEED);
    for (i = *at - base; i < len && rc == 0; i += k) {
      k = len - i < chunk ? len - i : chunk;
      rc = fn(ctx, m + i, (size_t)k, err);
    }
    if (munmap(m, (size_t)len) != 0 && rc == 0)
      rc = bg_error_errno(err, errno, "cannot unmap a file read");
    if (rc == 0)
      *at = base + len;
  }
  return rc;
}

int bg_sparse_walk(int fd, const char *name, uint64_t end, size_t chunk,
                   const struct bg_sparse_gate *gate,
                   int (*fn)(void *ctx, const void *p, size_t n, struct bg_error *err), void *ctx,
                   struct bg_error *err)
{
  static const unsigned char zeros[64 << 10];
  unsigned char *buf = malloc(chunk);
  uint64_t at = 0, data, hole, final = end, r;
  off_t pos = lseek(fd, 0, SEEK_CUR); /* SEEK_DATA and SEEK_HOLE move it: put back at the end */
  size_t k;
  ssize_t n;
  int rc = -1;

  if (buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory reading %s", name);
  while (at < end) {
    if (gate != NULL) { /* what lies past final is still being written */
      r = gate->ready(gate->ctx, at, err);
      if (r == 0)
        goto out;
      final = r < end ? r : end;
    }
    if (bg_sparse_next(fd, name, at, final, &data, &hole, err) != 0)
      goto out;
    for (; at < data; at += k) {
      k = data - at < sizeof(zeros) ? (size_t)(data - at) : sizeof(zeros);
      if (fn(ctx, zeros, k, err) != 0)
        goto out;
    }
    if (gate != NULL && gate->mapped && mapped(fd, &at, hole, chunk, fn, ctx, err) != 0)
      goto out;
    while (at < hole) { /* what the mapping did not take */
      k = hole - at < chunk ? (size_t)(hole - at) : chunk;
      n = pread(fd, buf, k, (off_t)at);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        bg_error_errno(err, errno, "cannot read %s", name);
        goto out;
      }
      if (n == 0) {
        bg_error_set(err, BG_EIO, "%s shrank while it was read", name);
        goto out;
      }
      if (fn(ctx, buf, (size_t)n, err) != 0)
        goto out;
      at += (uint64_t)n;
    }
  }
  rc = 0;
out:
  if (pos >= 0)
    lseek(fd, pos, SEEK_SET);
  free(buf);
  return rc;
}
