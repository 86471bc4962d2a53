/* sha256 on libcrypto, and "sha256:<hex>" digest strings. */
#ifndef BG_DIGEST_H
#define BG_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "../util/error.h"
#include "../util/sparse.h"

#define BG_SHA256_LEN 32
#define BG_SHA256_HEXLEN 64
/* "sha256:" + 64 hex + NUL */
#define BG_DIGEST_STRLEN (7 + BG_SHA256_HEXLEN + 1)

struct bg_sha256; /* opaque incremental hasher */

struct bg_sha256 *bg_sha256_new(struct bg_error *err);
int bg_sha256_update(struct bg_sha256 *h, const void *p, size_t n, struct bg_error *err);
/* Finishes into out (32 bytes) and resets the hasher so it can be used again. */
int bg_sha256_final(struct bg_sha256 *h, unsigned char out[BG_SHA256_LEN], struct bg_error *err);
void bg_sha256_free(struct bg_sha256 *h);

/* One-shot helpers. hex must hold BG_SHA256_HEXLEN + 1 bytes. */
int bg_sha256_buf(const void *p, size_t n, unsigned char out[BG_SHA256_LEN],
                  struct bg_error *err);
int bg_sha256_file(const char *path, unsigned char out[BG_SHA256_LEN], uint64_t *size,
                   struct bg_error *err);
/* Hashes what is left to read of fd; name is for messages. */
int bg_sha256_fd(int fd, const char *name, unsigned char out[BG_SHA256_LEN], uint64_t *size,
                 struct bg_error *err);
/* Hashes the whole regular file open as fd from offset 0 (its position is put back);
 * its holes are hashed from memory instead of read, so a sparse image costs reads of its data
 * only. With a gate (NULL: none), a file still being written is hashed as it becomes final. A
 * file that shrinks meanwhile is an error. */
int bg_sha256_sparse(int fd, const char *name, const struct bg_sparse_gate *gate,
                     unsigned char out[BG_SHA256_LEN], uint64_t *size, struct bg_error *err);
void bg_hex(const unsigned char *in, size_t n, char *out);

/* A parsed digest: only sha256 is accepted (the algorithm every registry uses). */
struct bg_digest {
  char hex[BG_SHA256_HEXLEN + 1];   /* lower-case hex */
  unsigned char raw[BG_SHA256_LEN];
};

/* Accepts exactly "sha256:" followed by 64 lower-case hex digits; anything else is BG_EINVAL.
 * Validating before a digest touches a URL or a path is the caller's first step. */
int bg_digest_parse(const char *s, struct bg_digest *d, struct bg_error *err);
/* Writes "sha256:<hex>" into out (BG_DIGEST_STRLEN bytes). */
void bg_digest_format(const unsigned char raw[BG_SHA256_LEN], char *out);

#endif
