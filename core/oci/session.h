/* What session.c, auth.c and fetch.c share, inside core/oci: the session and its transfers.
 * A transfer is one logical request (a manifest, a blob, a token) that the engine starts,
 * retries, redirects and authenticates; where its body goes is the sink's business, so an
 * upload is one more kind of sink. */
#ifndef BG_OCI_SESSION_H
#define BG_OCI_SESSION_H

#define CURL_DISABLE_TYPECHECK /* the curl_* names are curl_dl.h's */
#include <curl/curl.h>

#include "auth.h"
#include "curl_dl.h"
#include "registry.h"

#define BG_URL_MAX 8192

/* The certificates for the registry (tls.c). */
struct bg_tls {
  char *ca;            /* PEM: the base bundle plus the certs.d CAs; NULL when certs.d has none */
  size_t ca_len;
  char dir[4096];      /* the certs.d directory used, "" when none */
  char cert[4096 + 512]; /* client certificate and key from certs.d, "" when none */
  char key[4096 + 512];
};
/* Reads certs.d/<host>/ from $HOME/.config/containers, /etc/containers, /etc/docker (the first
 * that exists, as containers/image does): *.crt are CAs added to the base bundle
 * ($SSL_CERT_FILE, else libcurl's), NAME.cert + NAME.key a client certificate. */
int bg_tls_load(struct bg_tls *t, const char *registry, const char *api_host,
                struct bg_error *err);
/* Sets the certificate options of e for a request to the registry itself (its token service
 * too: certs.d's CAs and client certificate, and the insecure rule) or to a host it redirected
 * the request to (certs.d's CAs only: the client certificate is not shown there, and its
 * certificate is verified). */
enum { BG_TLS_REDIRECTED = 0, BG_TLS_REGISTRY = 1 };
void bg_tls_apply(const struct bg_tls *t, CURL *e, int scope, int verify);
void bg_tls_free(struct bg_tls *t);

/* What authentication does for the engine (auth.c's, wired by registry.c): the engine never
 * calls auth.c itself, so authentication sits on top of it like any other kind of transfer. */
struct bg_xfer;
struct bg_reg;
struct bg_auth;
struct bg_auth_hooks {
  /* x got a 401 from the registry: 0 when authz is set to answer it (Basic), 1 when a token
   * was asked for (x waits), -1 with err */
  int (*challenge)(struct bg_reg *r, struct bg_xfer *x, struct bg_error *err);
  /* before a request to the registry: 1 when the token ran out and a new one was asked for, 0
   * when authz is good, -1 with err */
  int (*refresh)(struct bg_reg *r, struct bg_error *err);
  /* the token request (r->tok) ended, done or failed: authz is set, or err says why not; the
   * request is freed and r->tok is NULL after */
  int (*token_done)(struct bg_reg *r, struct bg_error *err);
};

struct bg_reg {
  struct bg_reg_opts o;
  struct bg_limits lim;
  char host[BG_REF_NAME_MAX + 1];     /* where the API lives: "registry-1.docker.io" */
  char registry[BG_REF_NAME_MAX + 1]; /* as the reference names it, for credentials */
  char repo[BG_REF_NAME_MAX + 1];
  int https;             /* the scheme spoken to the registry now */
  int fallback;          /* https may still fall back to plain http (insecure, loopback) */
  int verify;            /* TLS certificates of the registry are checked */
  int loopback;
  struct bg_tls tls;
  char *authz;           /* the Authorization for the registry ("Bearer ..."), NULL: anonymous */
  unsigned authz_gen;    /* bumped each time authz changes */
  struct bg_xfer *tok;   /* the token request in flight, or NULL */
  struct bg_auth *auth;  /* auth.c's state: credentials, the challenge, the token's expiry */
  const struct bg_auth_hooks *hooks;
  CURLM *multi;
};

enum { X_WAIT, X_RUN, X_AUTH, X_DONE, X_FAIL };
enum { XK_DOC, XK_BLOB, XK_TOKEN };

/* What a sink's done and status hooks return beside 0 (done), 1 (try again, counted as a failed
 * attempt, x->err says why) and -1 (failed): the next request of a sequence, at once and not
 * counted (an upload's next chunk, or the status request after a failed one). */
#define BG_XFER_NEXT 2

struct bg_xfer_sink {
  /* before each attempt, may set the method, the request body and the target, and add request
   * headers (Range); 0 or -1 with x->err */
  int (*prepare)(struct bg_xfer *x, struct curl_slist **hdrs);
  /* bytes of a 2xx body; 0, or -1 with x->err (x->fatal says whether to give up) */
  int (*write)(struct bg_xfer *x, const char *p, size_t n);
  /* a 2xx reply ended: 0 done, 1 to try again, BG_XFER_NEXT, -1 failed */
  int (*done)(struct bg_xfer *x);
  /* optional: the request body, up to n bytes into p (0 at its end); -1 with x->err */
  long (*read)(struct bg_xfer *x, char *p, size_t n);
  /* optional: a reply that is not 2xx, 3xx, 401, 429 or 5xx (a 404 to a HEAD, a 416 to a
   * chunk): 0 done, 1 try again, BG_XFER_NEXT, -1 failed, or -2 when the usual rules decide */
  int (*status)(struct bg_xfer *x, long code);
};

struct bg_xfer {
  struct bg_reg *r;
  CURL *easy;
  int kind;
  char what[128];          /* for messages: "manifest", "blob sha256:..." */
  char path[BG_URL_MAX];   /* on the registry: "/v2/<repo>/manifests/<ref>" */
  char url[BG_URL_MAX];    /* the absolute URL of the current attempt */
  int redirected;          /* url came from a Location, not from path */
  int on_origin;           /* url is the registry itself: Authorization may go there */
  const char *accept;
  const char *method;      /* NULL: GET; "HEAD"; "PUT", "POST", "PATCH" send body_len bytes */
  const char *content_type; /* of the request body, or NULL */
  uint64_t body_len;       /* the request body's length (sink->read gives the bytes) */
  const char *auth;        /* for XK_TOKEN: its own Authorization (Basic), or NULL */
  long code;               /* the status of the last reply, 0 when none came */
  int verify;              /* for XK_TOKEN: check the realm's certificate */
  uint64_t size;           /* the body's expected size (blob deadline), 0 when unknown */
  int state, attempts, redirects, auth_tries, fatal, capped, first_write;
  unsigned gen_used;
  double next_try;
  size_t header_bytes;
  struct bg_buf errbody;   /* the start of a non-2xx body, for its message */
  struct bg_buf *mem;      /* the memory sink's buffer */
  const struct bg_xfer_sink *sink;
  void *ctx;               /* the sink's */
  struct bg_error err;
  char errbuf[CURL_ERROR_SIZE];
  struct curl_slist *hdrs;
};

/* Bodies into x->mem (capped by its max): manifests and token replies. */
extern const struct bg_xfer_sink bg_sink_memory;

int bg_xfer_init(struct bg_xfer *x, struct bg_reg *r, int kind, const struct bg_xfer_sink *sink,
                 struct bg_error *err);
void bg_xfer_free(struct bg_xfer *x);
/* n transfers of one kind and sink, each with a zeroed context of ctx_size bytes of its own
 * (xs[i].ctx), and the list bg_reg_run takes (v). */
struct bg_xfer_batch {
  struct bg_xfer *xs, **v;
  void *ctx;
  size_t n, made;
};
int bg_xfer_batch_init(struct bg_xfer_batch *b, struct bg_reg *r, size_t n, int kind,
                       const struct bg_xfer_sink *sink, size_t ctx_size, struct bg_error *err);
void bg_xfer_batch_free(struct bg_xfer_batch *b);

/* Runs the transfers until all are done or one fails (the others are then stopped); the token
 * request auth.c starts on the way runs alongside them. */
int bg_reg_run(struct bg_reg *r, struct bg_xfer **xs, size_t n, struct bg_error *err);

/* Aims x at an absolute URL (an upload's Location), with the rules of a redirect: no https to
 * plain http but on loopback, Authorization only when it is the registry itself. */
int bg_xfer_retarget(struct bg_xfer *x, const char *url, struct bg_error *err);
/* Aims x at a path on the registry ("/v2/<repo>/blobs/..."), as a fresh request is. */
void bg_xfer_set_path(struct bg_xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The Location of x's last reply, resolved against its URL: 0, or -1 when there is none. */
int bg_xfer_location(struct bg_xfer *x, char *out, size_t cap);
/* A header of x's last reply (the first of that name), or NULL. */
const char *bg_xfer_header(struct bg_xfer *x, const char *name);

/* scheme://host[:port] of url into scheme/host/port (port -1 when the default); -1 if url is
 * not http(s), has no host or carries user info. */
int bg_url_origin(const char *url, int *https, char *host, size_t hcap, long *port);

/* session.c: the session's transport (TLS, limits, the multi handle) for ref; and its end. */
int bg_session_init(struct bg_reg *r, const struct bg_oci_ref *ref, const struct bg_reg_opts *o,
                    struct bg_error *err);
void bg_session_fini(struct bg_reg *r);
/* Replaces authz (the old value is wiped): what auth.c calls to set it. */
int bg_reg_set_authz(struct bg_reg *r, const char *scheme, const char *value);

/* auth.c */
extern const struct bg_auth_hooks bg_auth_hooks;
int bg_auth_new(struct bg_reg *r, struct bg_error *err);
void bg_auth_free(struct bg_reg *r);

#endif
