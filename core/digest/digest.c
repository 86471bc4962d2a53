#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../util/sparse.h"

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

static int hash_piece(void *h, const void *p, size_t n, struct bg_error *err)
{
  return bg_sha256_update(h, p, n, err);
}

int bg_sha256_sparse(int fd, const char *name, const struct bg_sparse_gate *gate,
                     unsigned char out[BG_SHA256_LEN], uint64_t *size, struct bg_error *err)
{
  struct bg_sha256 *h;
  struct stat st;
  int rc = -1;

  if (fstat(fd, &st) != 0)
    return bg_error_errno(err, errno, "cannot stat %s", name);
  if (!S_ISREG(st.st_mode))
    return bg_error_set(err, BG_EINVAL, "%s is not a regular file", name);
  h = bg_sha256_new(err);
  if (h == NULL)
    return -1;
  /* 64 KiB reads, as bg_sha256_fd: the copy stays in the cache */
  if (bg_sparse_walk(fd, name, (uint64_t)st.st_size, 64 << 10, gate, hash_piece, h, err) == 0 &&
      bg_sha256_final(h, out, err) == 0) {
    if (size != NULL)
      *size = (uint64_t)st.st_size;
    rc = 0;
  }
  bg_sha256_free(h);
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
    rc = bg_sha256_sparse(fd, path, NULL, out, size, err);
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
