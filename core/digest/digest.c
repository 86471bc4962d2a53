#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

struct bg_sha256 {
  EVP_MD_CTX *ctx;
};

static int ctx_init(EVP_MD_CTX *ctx, struct bg_error *err)
{
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
    return bg_error_set(err, BG_ENOMEM, "cannot initialise sha256");
  return 0;
}

struct bg_sha256 *bg_sha256_new(struct bg_error *err)
{
  struct bg_sha256 *h = calloc(1, sizeof(*h));

  if (h == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    return NULL;
  }
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || ctx_init(h->ctx, err) != 0) {
    bg_error_set(err, BG_ENOMEM, "cannot create a sha256 context");
    bg_sha256_free(h);
    return NULL;
  }
  return h;
}

int bg_sha256_update(struct bg_sha256 *h, const void *p, size_t n, struct bg_error *err)
{
  if (n > 0 && EVP_DigestUpdate(h->ctx, p, n) != 1)
    return bg_error_set(err, BG_EINVAL, "sha256 update failed");
  return 0;
}

int bg_sha256_final(struct bg_sha256 *h, unsigned char out[BG_SHA256_LEN], struct bg_error *err)
{
  unsigned int len = 0;

  if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != BG_SHA256_LEN)
    return bg_error_set(err, BG_EINVAL, "sha256 final failed");
  return ctx_init(h->ctx, err);
}

void bg_sha256_free(struct bg_sha256 *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

int bg_sha256_buf(const void *p, size_t n, unsigned char out[BG_SHA256_LEN],
                  struct bg_error *err)
{
  unsigned int len = 0;

  if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != BG_SHA256_LEN)
    return bg_error_set(err, BG_EINVAL, "sha256 failed");
  return 0;
}

int bg_sha256_fd(int fd, const char *name, unsigned char out[BG_SHA256_LEN], uint64_t *size,
                 struct bg_error *err)
{
  struct bg_sha256 *h = NULL;
  unsigned char *block = NULL;
  /* small enough to stay in the cache between the copy out of the page cache and the hash:
   * 1 MiB made the copy cost as much as the hash */
  const size_t blocksize = 64 << 10;
  uint64_t total = 0;
  int rc = -1;
  ssize_t n;

  block = malloc(blocksize);
  if (block == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory hashing %s", name);
    goto out;
  }
  h = bg_sha256_new(err);
  if (h == NULL)
    goto out;
  for (;;) {
    n = read(fd, block, blocksize);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      bg_error_errno(err, errno, "cannot read %s", name);
      goto out;
    }
    if (n == 0)
      break;
    if (bg_sha256_update(h, block, (size_t)n, err) != 0)
      goto out;
    total += (uint64_t)n;
  }
  if (bg_sha256_final(h, out, err) != 0)
    goto out;
  if (size != NULL)
    *size = total;
  rc = 0;
out:
  bg_sha256_free(h);
  free(block);
  return rc;
}

/* Hashes n zero bytes. */
static int hash_zeros(struct bg_sha256 *h, uint64_t n, struct bg_error *err)
{
  static const unsigned char zeros[64 << 10];

  while (n > 0) {
    size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
    if (bg_sha256_update(h, zeros, k, err) != 0)
      return -1;
    n -= k;
  }
  return 0;
}

int bg_sha256_sparse(int fd, const char *name, unsigned char out[BG_SHA256_LEN], uint64_t *size,
                     struct bg_error *err)
{
  const size_t blocksize = 64 << 10; /* as bg_sha256_fd: the copy stays in the cache */
  struct bg_sha256 *h = NULL;
  unsigned char *block = NULL;
  struct stat st;
  uint64_t at = 0, end, data, hole;
  int rc = -1;
  off_t o, pos = lseek(fd, 0, SEEK_CUR); /* SEEK_DATA and SEEK_HOLE move it: put back at the end */

  if (fstat(fd, &st) != 0) {
    bg_error_errno(err, errno, "cannot stat %s", name);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    bg_error_set(err, BG_EINVAL, "%s is not a regular file", name);
    goto out;
  }
  end = (uint64_t)st.st_size;
  block = malloc(blocksize);
  h = bg_sha256_new(err);
  if (block == NULL || h == NULL) {
    if (block == NULL)
      bg_error_set(err, BG_ENOMEM, "out of memory hashing %s", name);
    goto out;
  }
  while (at < end) {
    /* the next run of data and the hole after it; a filesystem that cannot tell has no holes */
    o = lseek(fd, (off_t)at, SEEK_DATA);
    if (o < 0 && errno == ENXIO)
      data = end;
    else
      data = o < 0 ? at : (uint64_t)o;
    if (data > end)
      data = end;
    o = data < end ? lseek(fd, (off_t)data, SEEK_HOLE) : -1;
    hole = o < 0 || (uint64_t)o > end ? end : (uint64_t)o;
    if (hash_zeros(h, data - at, err) != 0)
      goto out;
    at = data;
    while (at < hole) {
      size_t want = hole - at < blocksize ? (size_t)(hole - at) : blocksize;
      ssize_t n = pread(fd, block, want, (off_t)at);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        bg_error_errno(err, errno, "cannot read %s", name);
        goto out;
      }
      if (n == 0) {
        bg_error_set(err, BG_EIO, "%s shrank while it was hashed", name);
        goto out;
      }
      if (bg_sha256_update(h, block, (size_t)n, err) != 0)
        goto out;
      at += (uint64_t)n;
    }
  }
  if (bg_sha256_final(h, out, err) != 0)
    goto out;
  if (size != NULL)
    *size = end;
  rc = 0;
out:
  if (pos >= 0)
    lseek(fd, pos, SEEK_SET);
  bg_sha256_free(h);
  free(block);
  return rc;
}

int bg_sha256_file(const char *path, unsigned char out[BG_SHA256_LEN], uint64_t *size,
                   struct bg_error *err)
{
  struct stat st;
  int fd, rc;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    bg_error_errno(err, errno, "cannot open %s", path);
    if (errno == ENOENT)
      err->code = BG_ENOTFOUND;
    return -1;
  }
  /* a regular file's holes are not read; anything else is read to its end */
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    rc = bg_sha256_sparse(fd, path, out, size, err);
  else
    rc = bg_sha256_fd(fd, path, out, size, err);
  close(fd);
  return rc;
}

void bg_hex(const unsigned char *in, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int bg_digest_parse(const char *s, struct bg_digest *d, struct bg_error *err)
{
  size_t i;
  int hi, lo;

  if (s == NULL || strncmp(s, "sha256:", 7) != 0) {
    const char *colon = s ? strchr(s, ':') : NULL;
    if (colon != NULL && colon != s)
      return bg_error_set(err, BG_EINVAL, "unsupported digest algorithm in '%.80s'", s);
    return bg_error_set(err, BG_EINVAL, "invalid digest '%.80s': expected sha256:<64 hex digits>",
                        s ? s : "(null)");
  }
  s += 7;
  if (strlen(s) != BG_SHA256_HEXLEN)
    return bg_error_set(err, BG_EINVAL, "invalid digest 'sha256:%.80s': expected 64 hex digits", s);
  for (i = 0; i < BG_SHA256_LEN; i++) {
    hi = hexval(s[2 * i]);
    lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return bg_error_set(err, BG_EINVAL,
                          "invalid digest 'sha256:%.80s': not lower-case hex", s);
    d->raw[i] = (unsigned char)(hi << 4 | lo);
  }
  memcpy(d->hex, s, BG_SHA256_HEXLEN);
  d->hex[BG_SHA256_HEXLEN] = '\0';
  return 0;
}

void bg_digest_format(const unsigned char raw[BG_SHA256_LEN], char *out)
{
  memcpy(out, "sha256:", 7);
  bg_hex(raw, BG_SHA256_LEN, out + 7);
}
