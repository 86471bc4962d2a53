#include "sparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DROP (8 << 20) /* a mapped walk lets its pages go behind it in runs of this much */

int bg_all_zero(const void *p, size_t n)
{
  const unsigned char *b = p;

  return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

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

/* A walk's mapping of its file, and how much of it has been let go behind the walk. */
struct mapping {
  unsigned char *p; /* NULL: not made yet; MAP_FAILED: refused */
  uint64_t dropped;
};

/* The data from *at to hole to fn through a mapping of the file up to end (made at the first
 * call; the caller unmaps it), *at moved past what was done; a mapping refused leaves the rest
 * to pread. One mapping for the walk (unmapping windows one by one is dear beside the threads
 * writing the file), whose pages are let go every DROP bytes behind the walk, so the walk's
 * resident size stays small. */
static int mapped(int fd, struct mapping *m, uint64_t end, uint64_t *at, uint64_t hole,
                  size_t chunk, int (*fn)(void *ctx, const void *p, size_t n, struct bg_error *err),
                  void *ctx, struct bg_error *err)
{
  size_t k;

  if (m->p == NULL && (uint64_t)(size_t)end != end) /* larger than the address space */
    m->p = MAP_FAILED;
  if (m->p == NULL) {
    m->p = mmap(NULL, (size_t)end, PROT_READ, MAP_SHARED, fd, 0);
    if (m->p != MAP_FAILED)
      madvise(m->p, (size_t)end, MADV_SEQUENTIAL);
  }
  if (m->p == MAP_FAILED) /* asked once */
    return 0;
  for (; *at < hole; *at += k) {
    k = hole - *at < chunk ? (size_t)(hole - *at) : chunk;
    if (fn(ctx, m->p + *at, k, err) != 0)
      return -1;
    if (*at + k - m->dropped >= DROP) { /* the file keeps them: only the mapping lets go */
      uint64_t to = (*at + k) & ~(uint64_t)4095;
      madvise(m->p + m->dropped, (size_t)(to - m->dropped), MADV_DONTNEED);
      m->dropped = to;
    }
  }
  return 0;
}

int bg_sparse_walk(int fd, const char *name, uint64_t end, size_t chunk,
                   const struct bg_sparse_gate *gate,
                   int (*fn)(void *ctx, const void *p, size_t n, struct bg_error *err), void *ctx,
                   struct bg_error *err)
{
  static const unsigned char zeros[64 << 10];
  unsigned char *buf = malloc(chunk);
  struct mapping map = {NULL, 0};
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
    if (gate != NULL && gate->mapped && at < hole &&
        mapped(fd, &map, end, &at, hole, chunk, fn, ctx, err) != 0)
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
  if (map.p != NULL && map.p != MAP_FAILED && munmap(map.p, (size_t)end) != 0 && rc == 0)
    rc = bg_error_errno(err, errno, "cannot unmap %s", name);
  if (pos >= 0)
    lseek(fd, pos, SEEK_SET);
  free(buf);
  return rc;
}
