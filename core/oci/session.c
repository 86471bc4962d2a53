/* The registry session and its transfer engine: every request of a pull goes through here, so
 * the rules hold for all of them. TLS as Docker does it (https first; without verification and
 * then plain http only for an insecure or loopback registry); a deadline on every request and a
 * stall limit on every transfer; error bodies and headers read up to their caps only; 429, 5xx,
 * stalls and dropped connections retried with backoff; redirects followed by hand, carrying
 * Authorization only back to the registry. Transfers run in parallel on one curl multi handle,
 * and a token request is one more transfer among them, so a refresh holds up nothing else. */
#include "session.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/clock.h"
#include "../util/escape.h"
#include "../util/json.h"
#include "../util/log.h"

#define MAX_REDIRECTS 5
#define RETRY_AFTER_MAX 60.0
#define BACKOFF_MAX 30.0

void bg_reg_limits(double scale, struct bg_limits *l)
{
  if (!(scale > 0))
    scale = 1.0;
  l->connect_ms = lround(15000 * scale);
  l->stall_bytes = 1024;
  /* curl counts the stall window in whole seconds */
  l->stall_s = lround(20 * scale) > 0 ? lround(20 * scale) : 1;
  l->doc_ms = lround(30000 * scale);
  l->blob_ms = lround(30000 * scale);
  l->blob_rate = lround(16384 / scale);
  l->helper_s = 30 * scale;
}

int bg_url_origin(const char *url, int *https, char *host, size_t hcap, long *port)
{
  CURLU *u = curl_url();
  char *scheme = NULL, *h = NULL, *user = NULL, *p = NULL;
  int rc = -1;

  if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
    goto out;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0')
    goto out;
  if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
    goto out;
  if (strcasecmp(scheme, "https") == 0)
    *https = 1;
  else if (strcasecmp(scheme, "http") == 0)
    *https = 0;
  else
    goto out;
  *port = -1;
  if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK)
    *port = strtol(p, NULL, 10);
  if (strlen(h) >= hcap)
    goto out;
  memcpy(host, h, strlen(h) + 1);
  rc = 0;
out:
  curl_free(scheme);
  curl_free(h);
  curl_free(user);
  curl_free(p);
  curl_url_cleanup(u);
  return rc;
}

int bg_session_init(struct bg_reg *r, const struct bg_oci_ref *ref, const struct bg_reg_opts *o,
                    struct bg_error *err)
{
  r->o = *o;
  if (r->o.max_attempts < 1)
    r->o.max_attempts = 5;
  if (r->o.parallel < 1)
    r->o.parallel = 3;
  if (!(r->o.backoff_scale >= 0))
    r->o.backoff_scale = 1.0;
  bg_reg_limits(r->o.timeout_scale, &r->lim);
  snprintf(r->host, sizeof(r->host), "%s", bg_oci_ref_api_host(ref));
  snprintf(r->repo, sizeof(r->repo), "%s", ref->repository);
  snprintf(r->registry, sizeof(r->registry), "%s", ref->registry);
  /* Docker's rule: https, verified; an insecure registry (and a loopback one, which Docker
   * counts as insecure) is tried over https without verification first, then plain http */
  r->loopback = bg_oci_host_is_loopback(r->host);
  r->https = 1;
  r->fallback = o->insecure || r->loopback;
  r->verify = !r->fallback;
  if (bg_curl_load(err) != 0)
    return -1;
  if (bg_tls_load(&r->tls, r->registry, r->host, err) != 0)
    return -1;
  r->multi = curl_multi_init();
  if (r->multi == NULL)
    return bg_error_set(err, BG_ENOMEM, "cannot create a curl multi handle");
  curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)r->o.parallel + 1);
  return 0;
}

void bg_session_fini(struct bg_reg *r)
{
  if (r->authz != NULL) {
    memset(r->authz, 0, strlen(r->authz));
    free(r->authz);
    r->authz = NULL;
  }
  bg_tls_free(&r->tls);
  if (r->multi != NULL)
    curl_multi_cleanup(r->multi);
  r->multi = NULL;
}

int bg_reg_set_authz(struct bg_reg *r, const char *scheme, const char *value)
{
  size_t n = strlen(scheme) + strlen(value) + 2;
  char *h = malloc(n);

  if (h == NULL)
    return -1;
  snprintf(h, n, "%s %s", scheme, value);
  if (r->authz != NULL) {
    memset(r->authz, 0, strlen(r->authz));
    free(r->authz);
  }
  r->authz = h;
  r->authz_gen++;
  return 0;
}

/* ---- curl callbacks ---- */

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
  struct bg_xfer *x = ud;
  size_t n = size * nmemb;

  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
    x->header_bytes = 0; /* a new response (after a 100 Continue) */
  x->header_bytes += n;
  if (x->header_bytes > BG_HEADERS_MAX) {
    x->fatal = 1;
    bg_error_set(&x->err, BG_ETOOBIG, "response headers exceed %d bytes", BG_HEADERS_MAX);
    return 0;
  }
  return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
  struct bg_xfer *x = ud;
  size_t n = size * nmemb, room;
  long code = 0;

  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299) {
    /* an error body is read up to its cap only, then the transfer stops: its status says
     * what happened, and a body without end must not keep the pull waiting */
    room = x->errbody.max - x->errbody.len;
    if (n > room) {
      bg_buf_add(&x->errbody, p, room, &x->err);
      x->capped = 1;
      return 0;
    }
    bg_buf_add(&x->errbody, p, n, &x->err);
    return n;
  }
  return x->sink->write(x, p, n) == 0 ? n : 0;
}

static int mem_prepare(struct bg_xfer *x, struct curl_slist **hdrs)
{
  bg_buf_reset(x->mem);
  return 0;
}

static int mem_write(struct bg_xfer *x, const char *p, size_t n)
{
  if (x->mem->len + n > x->mem->max) {
    x->fatal = 1;
    return bg_error_set(&x->err, BG_ETOOBIG, "response larger than %zu bytes", x->mem->max);
  }
  return bg_buf_add(x->mem, p, n, &x->err);
}

static int mem_done(struct bg_xfer *x)
{
  return 0;
}

const struct bg_xfer_sink bg_sink_memory = {mem_prepare, mem_write, mem_done, NULL, NULL};

/* ---- requests ---- */

int bg_xfer_init(struct bg_xfer *x, struct bg_reg *r, int kind, const struct bg_xfer_sink *sink,
                 struct bg_error *err)
{
  memset(x, 0, sizeof(*x));
  x->r = r;
  x->kind = kind;
  x->sink = sink;
  x->on_origin = kind != XK_TOKEN;
  x->state = X_WAIT;
  bg_buf_init(&x->errbody, BG_ERROR_BODY_MAX);
  x->easy = curl_easy_init();
  if (x->easy == NULL)
    return bg_error_set(err, BG_ENOMEM, "cannot create a curl handle");
  return 0;
}

void bg_xfer_free(struct bg_xfer *x)
{
  if (x->easy != NULL)
    curl_easy_cleanup(x->easy);
  x->easy = NULL;
  curl_slist_free_all(x->hdrs);
  x->hdrs = NULL;
  bg_buf_free(&x->errbody);
}

int bg_xfer_batch_init(struct bg_xfer_batch *b, struct bg_reg *r, size_t n, int kind,
                       const struct bg_xfer_sink *sink, size_t ctx_size, struct bg_error *err)
{
  size_t i;

  memset(b, 0, sizeof(*b));
  b->n = n;
  b->xs = calloc(n ? n : 1, sizeof(*b->xs));
  b->v = calloc(n ? n : 1, sizeof(*b->v));
  b->ctx = calloc(n ? n : 1, ctx_size);
  if (b->xs == NULL || b->v == NULL || b->ctx == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  for (i = 0; i < n; i++) {
    if (bg_xfer_init(&b->xs[i], r, kind, sink, err) != 0)
      return -1;
    b->made++;
    b->xs[i].ctx = (char *)b->ctx + i * ctx_size;
    b->v[i] = &b->xs[i];
  }
  return 0;
}

void bg_xfer_batch_free(struct bg_xfer_batch *b)
{
  size_t i;

  for (i = 0; i < b->made; i++)
    bg_xfer_free(&b->xs[i]);
  free(b->xs);
  free(b->v);
  free(b->ctx);
  memset(b, 0, sizeof(*b));
}

static const char *origin(const struct bg_reg *r, char *out, size_t cap)
{
  snprintf(out, cap, "%s://%s", r->https ? "https" : "http", r->host);
  return out;
}

/* Adds "Name: value" to the request, wiping the copy made on the way. */
static int add_header(struct curl_slist **hdrs, const char *name, const char *value)
{
  size_t n = strlen(name) + strlen(value) + 3;
  struct curl_slist *l;
  char *line = malloc(n);

  if (line == NULL)
    return -1;
  snprintf(line, n, "%s: %s", name, value);
  l = curl_slist_append(*hdrs, line);
  memset(line, 0, n);
  free(line);
  if (l == NULL)
    return -1;
  *hdrs = l;
  return 0;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud)
{
  struct bg_xfer *x = ud;
  long n;

  if (x->sink->read == NULL)
    return 0;
  n = x->sink->read(x, p, size * nmemb);
  if (n < 0) {
    x->fatal = 1;
    return CURL_READFUNC_ABORT;
  }
  return (size_t)n;
}

/* Authorization for a request that goes to the registry: none when anonymous. */
static const char *credentials_for(struct bg_xfer *x)
{
  struct bg_reg *r = x->r;

  if (x->kind == XK_TOKEN)
    return x->auth;
  return x->on_origin ? r->authz : NULL;
}

/* The request of one attempt: the sink says what it is (method, body, target), then the URL,
 * the credentials it may carry and the limits are set. */
static int setup(struct bg_xfer *x)
{
  struct bg_reg *r = x->r;
  CURL *e = x->easy;
  const char *auth;
  char host[1024];
  long deadline, port;
  int https = 0;

  curl_easy_reset(e);
  curl_slist_free_all(x->hdrs);
  x->hdrs = NULL;
  x->errbuf[0] = '\0';
  if (x->sink->prepare(x, &x->hdrs) != 0)
    return -1;
  if (!x->redirected && x->kind != XK_TOKEN) {
    origin(r, x->url, sizeof(x->url));
    snprintf(x->url + strlen(x->url), sizeof(x->url) - strlen(x->url), "%s", x->path);
  }
  auth = credentials_for(x);
  /* Basic credentials are a password: never in cleartext to a host that is not this one */
  if (auth != NULL && strncmp(auth, "Basic ", 6) == 0 &&
      bg_url_origin(x->url, &https, host, sizeof(host), &port) == 0 && !https &&
      !bg_oci_host_is_loopback(host))
    return bg_error_set(&x->err, BG_ENET, "refusing to send the credentials for %s over plain "
                        "http to %s", r->registry, host);
  deadline = r->lim.doc_ms;
  if (x->kind == XK_BLOB)
    deadline = r->lim.blob_ms + (long)(x->size / (uint64_t)r->lim.blob_rate) * 1000;
  curl_easy_setopt(e, CURLOPT_URL, x->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->lim.connect_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, deadline);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, r->lim.stall_bytes);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, r->lim.stall_s);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "banger-build/" BANGER_VERSION);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
  if (x->method != NULL && strcmp(x->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (x->method != NULL && strcmp(x->method, "GET") != 0) {
    /* a body of a known length through the sink, whatever the method */
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
    /* no 100-continue round trip: the registry answers the whole request */
    if (add_header(&x->hdrs, "Expect", "") != 0 ||
        (x->content_type != NULL && add_header(&x->hdrs, "Content-Type", x->content_type) != 0))
      return bg_error_set(&x->err, BG_ENOMEM, "out of memory");
  }
  /* the registry's certificates serve its token service too, as Docker's transport does */
  if (x->kind == XK_TOKEN)
    bg_tls_apply(&r->tls, e, BG_TLS_REGISTRY, x->verify);
  else
    bg_tls_apply(&r->tls, e, x->on_origin ? BG_TLS_REGISTRY : BG_TLS_REDIRECTED, r->verify);
  if ((x->accept != NULL && add_header(&x->hdrs, "Accept", x->accept) != 0) ||
      (auth != NULL && add_header(&x->hdrs, "Authorization", auth) != 0))
    return bg_error_set(&x->err, BG_ENOMEM, "out of memory");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
  x->header_bytes = 0;
  x->first_write = 1;
  x->capped = 0;
  bg_buf_reset(&x->errbody);
  return 0;
}

static double backoff(const struct bg_reg *r, int attempt, double retry_after)
{
  double d;

  if (retry_after > 0)
    return retry_after > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : retry_after;
  d = 0.5 * pow(2.0, attempt - 1);
  if (d > BACKOFF_MAX)
    d = BACKOFF_MAX;
  return d * r->o.backoff_scale;
}

static void fail(struct bg_xfer *x)
{
  x->state = X_FAIL;
}

static int start(struct bg_xfer *x)
{
  struct bg_reg *r = x->r;
  int rc;

  bg_error_clear(&x->err);
  x->fatal = 0;
  if (x->kind != XK_TOKEN && x->on_origin) {
    rc = r->hooks->refresh(r, &x->err);
    if (rc < 0) {
      fail(x);
      return -1;
    }
    if (rc > 0) {
      /* the token ran out during a long pull: this waits for the fresh one */
      x->gen_used = r->authz_gen;
      x->state = X_AUTH;
      return 0;
    }
  }
  x->gen_used = r->authz_gen;
  if (setup(x) != 0) {
    fail(x);
    return -1;
  }
  if (curl_multi_add_handle(r->multi, x->easy) != CURLM_OK) {
    bg_error_set(&x->err, BG_ENOMEM, "cannot start a transfer");
    fail(x);
    return -1;
  }
  x->state = X_RUN;
  return 0;
}

static void retry(struct bg_xfer *x, const char *why, double retry_after)
{
  x->attempts++;
  if (x->attempts >= x->r->o.max_attempts) {
    bg_error_set(&x->err, BG_ENET, "%s (gave up after %d attempts)", why, x->attempts);
    fail(x);
    return;
  }
  x->next_try = bg_now() + backoff(x->r, x->attempts, retry_after);
  x->state = X_WAIT;
}

/* The registry's own words from an error body: errors[0].message (or its code), escaped. */
static void registry_message(const struct bg_buf *b, char *out, size_t cap)
{
  json_t *doc = NULL;
  const json_t *e;
  struct bg_error err;
  const char *m;

  out[0] = '\0';
  bg_error_clear(&err);
  if (b->len == 0 || bg_json_parse(b->data, b->len, &doc, &err) != 0)
    return;
  e = json_array_get(json_object_get(doc, "errors"), 0);
  m = bg_json_getstr(e, "message");
  if (m == NULL)
    m = bg_json_getstr(e, "code");
  if (m != NULL)
    bg_escape_str(m, out, cap);
  json_decref(doc);
}

static int tls_code(CURLcode cc)
{
  return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
         cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CACERT_BADFILE ||
         cc == CURLE_SSL_CIPHER || cc == CURLE_SSL_ISSUER_ERROR;
}

/* " from HOST" for messages: the registry, or the host a redirect went to; "" for a token
 * request, whose name says where it went. */
static const char *from(const struct bg_xfer *x, char *buf, size_t cap)
{
  char host[1024], shown[300];
  long port;
  int https;

  if (x->kind == XK_TOKEN)
    return "";
  if (x->on_origin || bg_url_origin(x->url, &https, host, sizeof(host), &port) != 0)
    snprintf(buf, cap, " from %s", x->r->host);
  else
    snprintf(buf, cap, " from %s", bg_escape_str(host, shown, sizeof(shown)));
  return buf;
}

/* Why a transfer failed at the transport, in the user's terms. */
static void transport_error(struct bg_xfer *x, CURLcode cc, char *out, size_t cap)
{
  struct bg_reg *r = x->r;
  char detail[BG_ERROR_MAX], where[400];
  curl_off_t total = 0, connect = 0;

  if (x->err.code != 0)
    snprintf(detail, sizeof(detail), "%s", x->err.msg); /* the sink's reason (Content-Range) */
  else if (tls_code(cc) && x->errbuf[0] != '\0')
    bg_escape_str(x->errbuf, detail, sizeof(detail)); /* which certificate, and why */
  else
    snprintf(detail, sizeof(detail), "%s", curl_easy_strerror(cc));
  if (cc == CURLE_OPERATION_TIMEDOUT) {
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);
    curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect);
    if (connect == 0)
      snprintf(detail, sizeof(detail), "no connection within %.1f s",
               (double)r->lim.connect_ms / 1000);
    else if (strstr(x->errbuf, "too slow") != NULL)
      snprintf(detail, sizeof(detail), "stalled: under %ld bytes/s for %ld s",
               r->lim.stall_bytes, r->lim.stall_s);
    else
      snprintf(detail, sizeof(detail), "no complete reply within %.1f s",
               (double)total / 1e6);
  } else if (cc == CURLE_PEER_FAILED_VERIFICATION) {
    snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
             " (a private CA goes in SSL_CERT_FILE or certs.d/%s/ca.crt)", r->registry);
  }
  snprintf(out, cap, "%s%s: %s", x->what, from(x, where, sizeof(where)), detail);
}

static int fatal_code(CURLcode cc)
{
  return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_UNSUPPORTED_PROTOCOL ||
         cc == CURLE_URL_MALFORMAT || cc == CURLE_SSL_CACERT_BADFILE ||
         cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_OUT_OF_MEMORY;
}

int bg_xfer_location(struct bg_xfer *x, char *out, size_t cap)
{
  struct curl_header *h;
  CURLU *u = NULL;
  char *full = NULL;
  int rc = -1;

  if (curl_easy_header(x->easy, "Location", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
    return -1;
  u = curl_url();
  if (u != NULL && curl_url_set(u, CURLUPART_URL, x->url, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, h->value, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK && strlen(full) < cap) {
    memcpy(out, full, strlen(full) + 1);
    rc = 0;
  }
  curl_free(full);
  curl_url_cleanup(u);
  return rc;
}

const char *bg_xfer_header(struct bg_xfer *x, const char *name)
{
  struct curl_header *h;

  if (curl_easy_header(x->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
    return NULL;
  return h->value;
}

void bg_xfer_set_path(struct bg_xfer *x, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(x->path, sizeof(x->path), fmt, ap);
  va_end(ap);
  x->redirected = 0;
  x->on_origin = x->kind != XK_TOKEN;
}

int bg_xfer_retarget(struct bg_xfer *x, const char *url, struct bg_error *err)
{
  struct bg_reg *r = x->r;
  char host[1024], rhost[1024], o[BG_REF_NAME_MAX + 16], shown[300];
  long port, rport;
  int https, rhttps;

  if (strlen(url) >= sizeof(x->url) ||
      bg_url_origin(url, &https, host, sizeof(host), &port) != 0)
    return bg_error_set(err, BG_ENET, "%s: %s is not an http(s) URL", x->what,
                        bg_escape_str(url, shown, sizeof(shown)));
  if (!https && r->https && r->verify && !bg_oci_host_is_loopback(host))
    return bg_error_set(err, BG_ENET, "%s: refusing to go from https to plain http", x->what);
  /* Authorization goes only to the registry itself, never to another host or scheme */
  x->on_origin = x->kind != XK_TOKEN &&
                 bg_url_origin(origin(r, o, sizeof(o)), &rhttps, rhost, sizeof(rhost),
                               &rport) == 0 &&
                 https == rhttps && port == rport && strcasecmp(host, rhost) == 0;
  memcpy(x->url, url, strlen(url) + 1);
  x->redirected = 1;
  return 0;
}

static void on_redirect(struct bg_xfer *x)
{
  struct bg_reg *r = x->r;
  char host[1024], loc[BG_URL_MAX];
  long port;
  int https;

  if (bg_xfer_location(x, loc, sizeof(loc)) != 0 ||
      bg_url_origin(loc, &https, host, sizeof(host), &port) != 0) {
    bg_error_set(&x->err, BG_ENET, "%s: bad redirect from %s", x->what, r->host);
    fail(x);
    return;
  }
  if (++x->redirects > MAX_REDIRECTS) {
    bg_error_set(&x->err, BG_ENET, "%s: more than %d redirects", x->what, MAX_REDIRECTS);
    fail(x);
    return;
  }
  if (x->kind == XK_TOKEN && x->auth != NULL) {
    /* the token service's credentials stay with the token service */
    char ohost[1024];
    long oport;
    int ohttps;
    if (bg_url_origin(x->url, &ohttps, ohost, sizeof(ohost), &oport) != 0 || ohttps != https ||
        oport != port || strcasecmp(ohost, host) != 0)
      x->auth = NULL;
  }
  if (bg_xfer_retarget(x, loc, &x->err) != 0) {
    fail(x);
    return;
  }
  x->state = X_WAIT;
  x->next_try = 0;
}

static void on_unauthorised(struct bg_xfer *x, const char *msg)
{
  struct bg_reg *r = x->r;
  int rc;

  if (x->auth_tries >= 1 && r->authz_gen == x->gen_used) {
    bg_error_set(&x->err, BG_ENOTFOUND, "repository %s not found or not authorised "
                 "(HTTP 401%s%s)", r->repo, msg[0] ? ": " : "", msg);
    fail(x);
    return;
  }
  x->state = X_WAIT;
  x->next_try = 0;
  if (r->authz_gen != x->gen_used)
    return; /* another transfer got a new token meanwhile: try with that */
  x->auth_tries++;
  rc = r->hooks->challenge(r, x, &x->err);
  if (rc < 0)
    fail(x);
  else if (rc > 0)
    x->state = X_AUTH;
}

static void finish(struct bg_xfer *x, CURLcode cc)
{
  struct bg_reg *r = x->r;
  char why[BG_ERROR_MAX + 600], msg[300], where[400];
  curl_off_t ra = 0;
  long code = 0;
  int rc;

  curl_multi_remove_handle(r->multi, x->easy);
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  x->code = code;
  if (x->fatal) {
    bg_error_prefix(&x->err, "%s", x->what);
    fail(x);
    return;
  }
  if (x->capped && code > 0)
    cc = CURLE_OK; /* the error body was cut at its cap on purpose */
  if (cc != CURLE_OK) {
    if (code == 0 && r->fallback && r->https && x->on_origin && !x->redirected) {
      /* insecure or loopback registry without TLS: plain http from now on, for this session */
      bg_log(BG_LOG_DEBUG, "%s: https failed (%s), trying plain http", r->host,
             curl_easy_strerror(cc));
      r->https = 0;
      r->fallback = 0;
      x->state = X_WAIT;
      x->next_try = 0;
      return;
    }
    if (cc == CURLE_OUT_OF_MEMORY && x->header_bytes > 0 && x->first_write) {
      /* libcurl refuses a header line over its own limit (100 KiB) this way, before the
       * header callback sees it: a reply that cannot be read, not a reason to retry */
      bg_error_set(&x->err, BG_ETOOBIG, "%s: response headers exceed %d bytes", x->what,
                   BG_HEADERS_MAX);
      fail(x);
      return;
    }
    transport_error(x, cc, why, sizeof(why));
    bg_error_clear(&x->err);
    if (fatal_code(cc)) {
      bg_error_set(&x->err, BG_ENET, "%s", why);
      fail(x);
      return;
    }
    retry(x, why, 0);
    return;
  }
  if (x->on_origin && r->https)
    r->fallback = 0; /* the registry speaks TLS */
  if (code >= 200 && code <= 299) {
    rc = x->sink->done(x);
    if (rc == 0) {
      x->state = X_DONE;
    } else if (rc == BG_XFER_NEXT) {
      x->state = X_WAIT;
      x->next_try = 0;
    } else if (rc > 0) {
      snprintf(why, sizeof(why), "%s%s: %s", x->what, from(x, where, sizeof(where)),
               x->err.msg);
      bg_error_clear(&x->err);
      retry(x, why, 0);
    } else {
      if (x->err.code == 0)
        bg_error_set(&x->err, BG_EIO, "failed");
      bg_error_prefix(&x->err, "%s", x->what);
      fail(x);
    }
    return;
  }
  registry_message(&x->errbody, msg, sizeof(msg));
  if (code >= 300 && code <= 399 && code != 304) {
    on_redirect(x);
    return;
  }
  if (code == 401 && x->on_origin) {
    on_unauthorised(x, msg);
    return;
  }
  if (code == 429 || code >= 500) {
    curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &ra);
    snprintf(why, sizeof(why), "%s%s: HTTP %ld%s%s", x->what, from(x, where, sizeof(where)),
             code, msg[0] ? ": " : "", msg);
    retry(x, why, (double)ra);
    return;
  }
  if (x->sink->status != NULL) {
    rc = x->sink->status(x, code);
    if (rc == 0) {
      x->state = X_DONE;
      return;
    }
    if (rc == BG_XFER_NEXT) {
      x->state = X_WAIT;
      x->next_try = 0;
      return;
    }
    if (rc == 1) {
      snprintf(why, sizeof(why), "%s%s: HTTP %ld%s%s", x->what, from(x, where, sizeof(where)),
               code, msg[0] ? ": " : "", msg);
      bg_error_clear(&x->err);
      retry(x, why, 0);
      return;
    }
    if (rc == -1) {
      if (x->err.code == 0)
        bg_error_set(&x->err, BG_ENET, "HTTP %ld%s%s", code, msg[0] ? ": " : "", msg);
      bg_error_prefix(&x->err, "%s", x->what);
      fail(x);
      return;
    }
  }
  if (x->kind == XK_TOKEN) {
    bg_error_set(&x->err, BG_ENET, "%s: HTTP %ld%s%s", x->what, code, msg[0] ? ": " : "", msg);
  } else if (code == 404) {
    bg_error_set(&x->err, BG_ENOTFOUND, "%s (HTTP 404)",
                 msg[0] ? msg : x->kind == XK_BLOB ? "blob unknown" : "manifest unknown");
    if (x->kind == XK_BLOB)
      bg_error_prefix(&x->err, "%s", x->what);
  } else if (code == 403) {
    bg_error_set(&x->err, BG_ENET, "access to %s denied (HTTP 403%s%s)", r->repo,
                 msg[0] ? ": " : "", msg);
  } else {
    bg_error_set(&x->err, BG_ENET, "%s%s: unexpected HTTP %ld%s%s", x->what,
                 from(x, where, sizeof(where)), code, msg[0] ? ": " : "", msg);
  }
  fail(x);
}

/* ---- the engine ---- */

/* The transfers and, last, the token request when one is in flight. */
static struct bg_xfer *at(struct bg_reg *r, struct bg_xfer **xs, size_t n, size_t i)
{
  return i < n ? xs[i] : r->tok;
}

/* The token request ended: every transfer waiting for it goes on, or fails with its error. */
static void token_ended(struct bg_reg *r, struct bg_xfer **xs, size_t n)
{
  struct bg_error e;
  size_t i;
  int rc;

  bg_error_clear(&e);
  rc = r->hooks->token_done(r, &e);
  for (i = 0; i < n; i++) {
    if (xs[i]->state != X_AUTH)
      continue;
    if (rc == 0) {
      xs[i]->state = X_WAIT;
      xs[i]->next_try = 0;
    } else {
      xs[i]->err = e;
      fail(xs[i]);
    }
  }
}

int bg_reg_run(struct bg_reg *r, struct bg_xfer **xs, size_t n, struct bg_error *err)
{
  struct bg_xfer *x;
  size_t i, running, waiting;
  double now, wake;
  int still, msgs, timeout_ms, finished;
  CURLMsg *m;

  for (;;) {
    now = bg_now();
    running = waiting = 0;
    wake = now + 1.0;
    for (i = 0; i < n; i++) {
      if (xs[i]->state == X_FAIL) {
        *err = xs[i]->err;
        goto stop;
      }
      if (xs[i]->state == X_RUN)
        running++;
    }
    /* the token request first: what waits for it cannot go on before it */
    x = r->tok;
    if (x != NULL && x->state == X_WAIT && x->next_try <= now && start(x) != 0)
      token_ended(r, xs, n);
    for (i = 0; i < n && running < (size_t)r->o.parallel; i++) {
      x = xs[i];
      if (x->state != X_WAIT || x->next_try > now)
        continue;
      if (start(x) != 0) {
        *err = x->err;
        goto stop;
      }
      if (x->state == X_RUN)
        running++;
    }
    for (i = 0; i <= n; i++) {
      x = at(r, xs, n, i);
      if (x == NULL)
        continue;
      if (x->state == X_WAIT || x->state == X_AUTH)
        waiting++;
      if (x->state == X_WAIT && x->next_try < wake)
        wake = x->next_try;
      if (x->kind == XK_TOKEN && x->state == X_RUN)
        running++;
    }
    if (running == 0 && waiting == 0)
      return 0;
    if (running == 0 && (r->tok == NULL || r->tok->state == X_DONE || r->tok->state == X_FAIL)) {
      /* nothing can wake a transfer that waits for a token nobody is fetching */
      for (i = 0; i < n; i++)
        if (xs[i]->state == X_AUTH) {
          xs[i]->state = X_WAIT;
          xs[i]->next_try = 0;
        }
    }
    curl_multi_perform(r->multi, &still);
    finished = 0;
    while ((m = curl_multi_info_read(r->multi, &msgs)) != NULL) {
      if (m->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      finish(x, m->data.result);
      if (x->kind == XK_TOKEN && (x->state == X_DONE || x->state == X_FAIL))
        token_ended(r, xs, n);
      finished++;
    }
    if (finished > 0)
      continue; /* start what is waiting (or return) before sleeping in poll */
    timeout_ms = running > 0 ? 200 : (int)((wake - bg_now()) * 1000.0);
    if (timeout_ms < 0)
      timeout_ms = 0;
    if (timeout_ms > 1000)
      timeout_ms = 1000;
    if (running > 0 || timeout_ms > 0)
      curl_multi_poll(r->multi, NULL, 0, timeout_ms, NULL);
  }
stop:
  for (i = 0; i <= n; i++) {
    x = at(r, xs, n, i);
    if (x != NULL && x->state == X_RUN)
      curl_multi_remove_handle(r->multi, x->easy);
  }
  if (r->tok != NULL && r->tok->state == X_RUN)
    r->tok->state = X_WAIT;
  return -1;
}
