/* The blob cache: an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>), which
 * may be shared with other users and tools. A blob only ever appears under its final name after
 * its size and sha256 were checked and the data was fsynced; partial data lives under
 * blobs/sha256/.tmp-<pid>-XXXXXX (see util/tmpfile.h). Nothing in the cache is trusted when it
 * is read back: blobs are opened without following symlinks, must be regular files and are
 * rehashed. index.json is index.h's; verify and gc are upkeep's. */
#ifndef BG_OCI_CACHE_H
#define BG_OCI_CACHE_H

#include <limits.h>
#include <stdint.h>

#include "../digest/digest.h"
#include "../util/buf.h"
#include "../util/error.h"
#include "../util/tmpfile.h"

#define BG_SIZE_UNKNOWN UINT64_MAX
#define BG_BLOB_TMP_PREFIX ".tmp-"

struct bg_cache {
  char dir[PATH_MAX - 128];
};

/* Creates the layout if needed. Refuses a cache whose blobs/ or blobs/sha256/ is not a real
 * directory (a symlink would send writes, verify and gc somewhere else). */
int bg_cache_open(const char *dir, struct bg_cache *c, struct bg_error *err);
void bg_cache_blob_path(const struct bg_cache *c, const char *hex, char *out, size_t cap);
/* Writes a small file of the layout (oci-layout, index.json) atomically: temp name, fsync,
 * rename, fsync of the directory. */
int bg_cache_write_file(const struct bg_cache *c, const char *name, const void *p, size_t n,
                        struct bg_error *err);
/* Removes temporary blobs whose writer is gone (a pull killed with -9). */
void bg_cache_sweep(const struct bg_cache *c);

struct bg_blob_writer {
  struct bg_tmpfile t;
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
/* Rehashes the blob: 0 good, 1 missing, 2 bad (wrong size or digest, a symlink or not a
 * regular file: removed); -1 on error. size BG_SIZE_UNKNOWN skips the size check. */
int bg_cache_check(const struct bg_cache *c, const struct bg_digest *d, uint64_t size,
                   struct bg_error *err);
/* Reads a verified blob of at most cap bytes: 0, 1 missing, 2 bad (removed), -1. */
int bg_cache_read(const struct bg_cache *c, const struct bg_digest *d, size_t cap,
                  struct bg_buf *out, struct bg_error *err);

/* Refuses what cannot fit: blobs of that many bytes against the free space of the cache, so a
 * descriptor claiming a huge blob fails before a byte is fetched. */
int bg_cache_check_space(const struct bg_cache *c, uint64_t bytes, struct bg_error *err);

/* Upkeep (upkeep.c). Both take the cache's lock and first remove temp blobs whose writer is
 * gone. removed gets each digest removed (or the name of a file that was no blob). */
typedef int (*bg_cache_removed_fn)(void *ctx, const char *digest);
/* Rehashes every blob, removing bad ones, then repairs index.json (index.h); repaired gets one
 * line per index entry changed or dropped. */
int bg_cache_verify(const struct bg_cache *c, bg_cache_removed_fn removed,
                    bg_cache_removed_fn repaired, void *ctx, struct bg_error *err);
/* Removes every blob no index entry reaches. */
int bg_cache_gc(const struct bg_cache *c, bg_cache_removed_fn removed, void *ctx,
                struct bg_error *err);

#endif
