/* Artifacts in registries (remote.c): pushes from the cache, lookups, rootfs fetches. */
#ifndef BG_OCI_REMOTE_H
#define BG_OCI_REMOTE_H

#include <stdint.h>

#include "cache.h"
#include "ref.h"
#include "rootfs.h"

struct bg_remote_opts {
  int insecure;
  double backoff_scale;   /* < 0: 1.0 */
  double timeout_scale;   /* <= 0: 1.0 */
  int max_attempts;       /* 0: 5 */
  int progress;           /* enum bg_progress_mode */
  const char *mount_from; /* a repository of the same registry that may hold the blobs */
  uint64_t chunk;         /* upload chunk size, 0: BG_PUSH_CHUNK */
};

struct bg_remote_push_result {
  char pushed[2 * BG_REF_NAME_MAX + BG_REF_TAG_MAX + BG_DIGEST_STRLEN + 8]; /* REF@sha256:.. */
  char referrers[8];      /* "api", "tag", or "" without a subject */
  int existed, mounted, uploaded; /* blobs the registry had, mounted, was sent */
};

/* Pushes the manifest digest of the cache and its blobs to dest (REGISTRY/REPO:TAG): blobs
 * first, the manifest last; then lists it under its subject. */
int bg_remote_push(const struct bg_cache *c, const char *digest, const char *dest,
                   const struct bg_remote_opts *o, struct bg_remote_push_result *res,
                   struct bg_error *err);

/* The digest of the manifest ref names (one HEAD): 0, 1 when there is none, -1. */
int bg_remote_lookup(const char *ref, const struct bg_remote_opts *o, char *digest,
                     struct bg_error *err);

/* Fetches the rootfs artifact ref names into the cache (manifest checked as specified and
 * against want_key when not NULL, layer verified) and records it under its key for platform
 * (may be NULL): 0, 1 when ref names nothing, -1. */
int bg_remote_fetch_rootfs(const struct bg_cache *c, const char *ref, const char *want_key,
                           const char *platform, const struct bg_remote_opts *o,
                           struct bg_rootfs *a, struct bg_error *err);

#endif
