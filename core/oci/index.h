/* The cache's index.json: one entry per pulled name and platform (annotation
 * org.opencontainers.image.ref.name = the normalised name, plus a platform), rewritten
 * atomically under flock(.lock) so concurrent pulls keep each other's entries. The file may
 * have been damaged or written by another tool: nothing in it is trusted. A damaged entry is
 * resolved again by the next pull and repaired (or dropped) by verify. */
#ifndef BG_OCI_INDEX_H
#define BG_OCI_INDEX_H

#include <stdint.h>

#include "cache.h"
#include "manifest.h"

#define BG_INDEX_MAX (16 << 20)
#define BG_ANNOT_REF_NAME "org.opencontainers.image.ref.name"
/* A Docker schema 2 image is recorded as an OCI conversion (skopeo's oci: transport lists only
 * OCI entries); the manifest as pulled is kept and named by these annotations. */
#define BG_ANNOT_SOURCE_DIGEST "dev.banger.source.digest"
#define BG_ANNOT_SOURCE_TYPE "dev.banger.source.mediaType"
/* An artifact's entry carries its build key (rootfs.h), so it can be found by it. */
#define BG_ANNOT_ENTRY_KEY "dev.banger.key"

/* Writes an empty index.json (a new cache). */
int bg_cache_index_init(const struct bg_cache *c, struct bg_error *err);

/* Takes the cache's lock (flock on .lock): the descriptor to close, or -1. */
int bg_cache_lock(const struct bg_cache *c, struct bg_error *err);

/* Records name for the platform: m (with digest and size) is the image manifest as pulled; a
 * Docker one is also stored as its OCI conversion. Replaces the entry with the same name and
 * platform. */
int bg_cache_index_record(const struct bg_cache *c, const char *name,
                          const struct bg_platform *want, const struct bg_manifest *m,
                          const char *digest, uint64_t size, struct bg_error *err);

struct bg_index_hit {
  char digest[BG_DIGEST_STRLEN]; /* of the manifest as pulled (the source one when recorded) */
  char media_type[128];
  uint64_t size;                 /* BG_SIZE_UNKNOWN when the entry does not say */
};
/* Finds name for the platform: 0 found, 1 not found, 2 found but the entry (or the whole
 * index) is damaged, the reason in err; -1 on error. */
int bg_cache_index_find(const struct bg_cache *c, const char *name,
                        const struct bg_platform *p, struct bg_index_hit *hit,
                        struct bg_error *err);

/* Records an artifact (an OCI manifest of that artifactType) as name, carrying key; replaces
 * the entry of the same name and moves it last (the most recently used). p may be NULL. */
int bg_cache_index_record_artifact(const struct bg_cache *c, const char *name,
                                   const char *artifact_type, const char *key,
                                   const char *digest, uint64_t size,
                                   const struct bg_platform *p, struct bg_error *err);
/* The last entry of that artifactType carrying key: 0, 1 none, 2 damaged (why in err), -1. */
int bg_cache_index_find_artifact(const struct bg_cache *c, const char *artifact_type,
                                 const char *key, struct bg_index_hit *hit,
                                 struct bg_error *err);

typedef int (*bg_cache_note_fn)(void *ctx, const char *what);

/* Drops the artifact entries but the keep last (most recently used) ones; fn gets a line per
 * entry dropped. gc then removes their blobs. Takes the lock. */
int bg_cache_index_trim_artifacts(const struct bg_cache *c, size_t keep, bg_cache_note_fn fn,
                                  void *ctx, struct bg_error *err);

/* verify: checks every entry against the blobs it names; an entry whose manifest is missing,
 * corrupt or no manifest (or an artifact missing a blob: it cannot be pulled again) is dropped,
 * a wrong mediaType or size is corrected, a damaged index.json is replaced by an empty one.
 * fn gets one line per change. Takes the lock. */
int bg_cache_index_repair(const struct bg_cache *c, bg_cache_note_fn fn, void *ctx,
                          struct bg_error *err);

/* gc: calls fn with the digest and media type of every manifest the index names (the source
 * manifests too). A damaged index.json is an error: what it names cannot be known. The caller
 * holds the lock. */
int bg_cache_index_roots(const struct bg_cache *c,
                         int (*fn)(void *ctx, const char *digest, const char *media_type),
                         void *ctx, struct bg_error *err);

#endif
