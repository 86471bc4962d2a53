/* The blob cache: an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>).
 * A blob only ever appears under its final name after its size and sha256 were checked
 * and the data was fsynced; partial data lives under blobs/sha256/.tmp-*. */
#ifndef BG_OCI_CACHE_H
#define BG_OCI_CACHE_H

#include <limits.h>
#include <stdint.h>

#include "../digest/digest.h"
#include "../util/buf.h"
#include "../util/error.h"

#define BG_INDEX_MAX (16 << 20)
#define BG_SIZE_UNKNOWN UINT64_MAX
#define BG_ANNOT_REF_NAME "org.opencontainers.image.ref.name"

struct bg_cache {
  char dir[PATH_MAX - 128];
};

/* Creates the layout if needed. */
int bg_cache_open(const char *dir, struct bg_cache *c, struct bg_error *err);
void bg_cache_blob_path(const struct bg_cache *c, const char *hex, char *out, size_t cap);

struct bg_blob_writer {
  int fd;
  char tmp[PATH_MAX];
  struct bg_sha256 *h;
  uint64_t have;
  uint64_t want_size;       /* BG_SIZE_UNKNOWN when not known in advance */
  int have_digest;          /* 0 when the digest is learnt at commit (docker-archive) */
  struct bg_digest want;
  char final_digest[BG_DIGEST_STRLEN];
};

/* want may be NULL: the blob is then stored under whatever digest its bytes have. */
int bg_blob_writer_open(const struct bg_cache *c, const struct bg_digest *want, uint64_t size,
                        struct bg_blob_writer *w, struct bg_error *err);
/* Fails with BG_EMISMATCH if the blob grows past its size. */
int bg_blob_writer_write(struct bg_blob_writer *w, const void *p, size_t n, struct bg_error *err);
/* Starts again from byte 0 (a server that ignored Range). */
int bg_blob_writer_restart(struct bg_blob_writer *w, struct bg_error *err);
/* Checks size and digest, fsyncs and renames into place; the writer is closed either way. */
int bg_blob_writer_commit(const struct bg_cache *c, struct bg_blob_writer *w,
                          struct bg_error *err);
/* Removes the temp file. Safe on a closed writer. */
void bg_blob_writer_abort(struct bg_blob_writer *w);

/* Stores bytes already in memory whose digest is d. */
int bg_cache_put(const struct bg_cache *c, const struct bg_digest *d, const void *p, size_t n,
                 struct bg_error *err);
/* Rehashes the blob: 0 good, 1 missing, 2 corrupt (and removed); -1 on error.
 * size BG_SIZE_UNKNOWN skips the size check. */
int bg_cache_check(const struct bg_cache *c, const struct bg_digest *d, uint64_t size,
                   struct bg_error *err);
/* Reads a verified blob of at most cap bytes: 0, 1 missing, 2 corrupt (removed), -1. */
int bg_cache_read(const struct bg_cache *c, const struct bg_digest *d, size_t cap,
                  struct bg_buf *out, struct bg_error *err);

struct bg_index_entry {
  const char *name;       /* ref.name annotation */
  const char *media_type;
  const char *digest;
  uint64_t size;
  const char *os, *arch, *variant; /* variant may be "" */
  /* A Docker schema 2 image is recorded as an OCI conversion (skopeo's oci: transport lists
   * only OCI entries); the manifest as pulled is kept and named here. NULL otherwise. */
  const char *source_digest, *source_media_type;
};
#define BG_ANNOT_SOURCE_DIGEST "dev.banger.source.digest"
#define BG_ANNOT_SOURCE_TYPE "dev.banger.source.mediaType"

/* Adds or replaces the entry with the same name and platform, atomically under a lock. */
int bg_cache_index_set(const struct bg_cache *c, const struct bg_index_entry *e,
                       struct bg_error *err);
/* Finds name for the platform: 0 found (digest and media type of the manifest as pulled, so
 * the source ones when recorded), 1 not found, -1 error. */
int bg_cache_index_find(const struct bg_cache *c, const char *name, const char *os,
                        const char *arch, const char *variant, char digest[BG_DIGEST_STRLEN],
                        char *media_type, size_t mtcap, struct bg_error *err);

/* Called with each digest removed by verify or gc. */
typedef int (*bg_cache_removed_fn)(void *ctx, const char *digest);
int bg_cache_verify(const struct bg_cache *c, bg_cache_removed_fn fn, void *ctx,
                    struct bg_error *err);
int bg_cache_gc(const struct bg_cache *c, bg_cache_removed_fn fn, void *ctx,
                struct bg_error *err);

#endif
