/* The registry client: a session per pull (session.c: TLS, time limits, retries, redirects,
 * the transfer engine), its authentication (auth.c: challenges, tokens, credentials) and its
 * downloads (fetch.c: manifests into memory, blobs verified into the cache, in parallel). */
#ifndef BG_OCI_REGISTRY_H
#define BG_OCI_REGISTRY_H

#include <stdint.h>

#include "cache.h"
#include "progress.h"
#include "ref.h"
#include "../util/buf.h"
#include "../util/error.h"

#define BG_TOKEN_REPLY_MAX (1 << 20)
#define BG_HEADERS_MAX (64 << 10)
#define BG_ERROR_BODY_MAX (16 << 10)

struct bg_reg_opts {
  int insecure;          /* https without verification, then plain http (Docker's rule) */
  double backoff_scale;  /* 1.0 normally; tests scale waits down */
  double timeout_scale;  /* 1.0 normally; tests scale every time limit down */
  int max_attempts;      /* per request, for 429, 5xx, stalls and dropped connections */
  int parallel;          /* concurrent blob downloads */
  const char *actions;   /* the token scope's actions: "pull" when NULL ("pull,push" to push) */
  const char *also_pull; /* another repository of the registry the token may read (a mount's
                          * source), or NULL */
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

/* A request for a document: a manifest or index sent (PUT with a body) or asked for (GET,
 * HEAD), the referrers API. path is below /v2/<repo>/. */
struct bg_reg_req {
  const char *what;         /* for messages: "manifest 1.0" */
  const char *method;       /* "GET", "HEAD", "PUT" */
  const char *path;         /* "manifests/<reference>", "referrers/<digest>" */
  const char *accept;       /* or NULL */
  const char *content_type; /* of the body, or NULL */
  const char *body;
  size_t len;
};
struct bg_reg_reply {
  long code;
  int absent;                    /* the registry answered 404 */
  char digest[BG_DIGEST_STRLEN]; /* Docker-Content-Digest when valid, else "" */
  char content_type[256];        /* without parameters */
  uint64_t length;               /* Content-Length, BG_SIZE_UNKNOWN when none */
  int oci_subject;               /* OCI-Subject came back (the registry has a referrers API) */
};
/* 0 with rep filled and the body (capped by resp's max) in resp, 1 when the registry answered
 * 404, -1 with err. */
int bg_reg_request(struct bg_reg *r, const struct bg_reg_req *q, struct bg_buf *resp,
                   struct bg_reg_reply *rep, struct bg_error *err);

/* A blob of the cache to push. */
#define BG_PUSH_CHUNK (16ULL << 20) /* PATCH size for blobs bigger than this */
struct bg_push_blob {
  struct bg_digest digest;
  uint64_t size;
  const char *path;        /* the verified blob in the cache */
  int progress_slot;       /* or -1 */
  int existed, mounted, uploaded; /* what happened to it */
};
/* HEAD, then a mount from mount_from (when not NULL and another repository), else an upload:
 * one PUT up to chunk bytes (0: BG_PUSH_CHUNK), PATCH chunks of that size and a closing PUT
 * beyond. A failed attempt resumes from what the registry says it holds. */
int bg_reg_push_blobs(struct bg_reg *r, struct bg_push_blob *blobs, size_t n,
                      const char *mount_from, uint64_t chunk, struct bg_progress *p,
                      struct bg_error *err);

/* The time limits, for a scale (1.0: the documented defaults). */
struct bg_limits {
  long connect_ms;    /* to connect (and finish a TLS handshake) */
  long stall_bytes;   /* a transfer slower than stall_bytes a second... */
  long stall_s;       /* ...for stall_s seconds is a failed attempt */
  long doc_ms;        /* the deadline of a manifest or token request */
  long blob_ms;       /* the deadline of a blob: blob_ms plus size / blob_rate seconds */
  long blob_rate;
  double helper_s;    /* a credential helper's answer */
};
void bg_reg_limits(double scale, struct bg_limits *l);

#endif
