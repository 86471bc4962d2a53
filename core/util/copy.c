#include "copy.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* pread and pwrite through a buffer, where copy_file_range cannot go (another filesystem type,
 * an old kernel). */
static int copy_through(int in, uint64_t src, int out, uint64_t dst, uint64_t n, const char *from,
                        struct bg_error *err)
{
  const size_t cap = 256 * 1024;
  unsigned char *buf = malloc(cap);
  size_t want, done;
  ssize_t r;
  int rc = -1;

  if (buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  while (n > 0) {
    want = n < cap ? (size_t)n : cap;
    r = pread(in, buf, want, (off_t)src);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r < 0)
        bg_error_errno(err, errno, "cannot read %s", from);
      else
        bg_error_set(err, BG_EIO, "%s is shorter than expected", from);
      goto out;
    }
    for (done = 0; done < (size_t)r;) {
      ssize_t w = pwrite(out, buf + done, (size_t)r - done, (off_t)(dst + done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        bg_error_errno(err, errno, "cannot write the image");
        goto out;
      }
      done += (size_t)w;
    }
    src += (uint64_t)r;
    dst += (uint64_t)r;
    n -= (uint64_t)r;
  }
  rc = 0;
out:
  free(buf);
  return rc;
}

int bg_copy_range(int in, uint64_t src, int out, uint64_t dst, uint64_t n, atomic_int *no_range,
                  const char *from, struct bg_error *err)
{
  loff_t i = (loff_t)src, o = (loff_t)dst;
  ssize_t r;

  while (n > 0 && !atomic_load(no_range)) {
    r = copy_file_range(in, &i, out, &o, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
                  errno == EBADF)) {
      atomic_store(no_range, 1); /* the same answer every time: ask no more */
      break;
    }
    if (r < 0)
      return bg_error_errno(err, errno, "cannot copy from %s", from);
    if (r == 0)
      return bg_error_set(err, BG_EIO, "%s is shorter than expected", from);
    n -= (uint64_t)r;
  }
  if (n == 0)
    return 0;
  return copy_through(in, (uint64_t)i, out, (uint64_t)o, n, from, err);
}
