/* A registry session: libcurl, the Bearer/Basic auth flow, retries, redirects, and
 * parallel verified blob downloads into the cache. */
#ifndef BG_OCI_REGISTRY_H
#define BG_OCI_REGISTRY_H

#include <stdint.h>

#include "cache.h"
#include "progress.h"
#include "ref.h"
#include "../util/buf.h"
#include "../util/error.h"

#define BG_MANIFEST_MAX (4 << 20)
#define BG_TOKEN_REPLY_MAX (1 << 20)
#define BG_HEADERS_MAX (64 << 10)
#define BG_ERROR_BODY_MAX (16 << 10)

struct bg_reg_opts {
  int insecure;          /* plain http / unverified TLS to a non-loopback host */
  double backoff_scale;  /* 1.0 normally; tests scale waits down */
  int max_attempts;      /* per request, for 429, 5xx and dropped connections */
  int parallel;          /* concurrent blob downloads */
};

struct bg_reg;

int bg_reg_open(const struct bg_oci_ref *ref, const struct bg_reg_opts *o, struct bg_reg **out,
                struct bg_error *err);
void bg_reg_close(struct bg_reg *r);

/* GETs /v2/<repo>/manifests/<reference> into body (capped at BG_MANIFEST_MAX).
 * content_type gets the Content-Type without parameters. */
int bg_reg_get_manifest(struct bg_reg *r, const char *reference, struct bg_buf *body,
                        char *content_type, size_t ctcap, struct bg_error *err);

struct bg_blob_req {
  struct bg_digest digest;
  uint64_t size;
  int progress_slot;      /* index into the progress display, or -1 */
};

/* Downloads every blob into the cache, verified, n at a time in parallel. On failure no
 * partial file is left under a blob name; the first error is returned. */
int bg_reg_fetch_blobs(struct bg_reg *r, const struct bg_cache *c, struct bg_blob_req *reqs,
                       size_t n, struct bg_progress *p, struct bg_error *err);

#endif
