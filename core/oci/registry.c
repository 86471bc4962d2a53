#include "registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth.h"
#include "json.h"

#define MAX_REDIRECTS 5
#define RETRY_AFTER_MAX 60.0
#define BACKOFF_MAX 30.0
#define TOKEN_MAX (16 << 10)

enum { X_WAIT, X_RUN, X_DONE, X_FAIL };

struct bg_reg {
  struct bg_reg_opts o;
  const char *scheme;
  char host[BG_REF_NAME_MAX + 1];
  char origin[BG_REF_NAME_MAX + 16];
  char repo[BG_REF_NAME_MAX + 1];
  char registry[BG_REF_NAME_MAX + 1];
  struct bg_creds creds;
  int creds_loaded;
  char *auth;            /* "Bearer ..." or "Basic ..." header value, NULL when anonymous */
  double auth_expiry;    /* 0 when it does not expire */
  unsigned auth_gen;     /* bumped each time auth changes */
  char *challenge;       /* the last WWW-Authenticate seen, to refresh an expired token */
  CURLM *multi;
};

struct xfer {
  struct bg_reg *r;
  CURL *easy;
  char url[4096];
  const char *accept;
  int on_origin, redirects, attempts, auth_tries, state, fatal, first_write, restart;
  unsigned gen_used;
  double next_try;
  /* the current response */
  char ctype[256], retry_after[64], content_range[128];
  struct bg_buf wwwauth;
  size_t header_bytes;
  /* body: memory (manifests, tokens) or a blob writer */
  struct bg_buf *mem;
  struct bg_buf errbody;
  struct bg_blob_req *req;
  struct bg_blob_writer w;
  const struct bg_cache *cache;
  int has_writer;
  struct bg_progress *prog;
  struct bg_error err;
  struct curl_slist *hdrs;
};

double bg_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* scheme://host[:port] of url into out; -1 if url is not http(s) or has userinfo. */
static int url_origin(const char *url, char *out, size_t cap, int *https)
{
  const char *p, *end;
  size_t n;

  if (strncasecmp(url, "https://", 8) == 0) {
    *https = 1;
    p = url + 8;
  } else if (strncasecmp(url, "http://", 7) == 0) {
    *https = 0;
    p = url + 7;
  } else {
    return -1;
  }
  end = p + strcspn(p, "/?#");
  if (end == p || memchr(p, '@', (size_t)(end - p)) != NULL)
    return -1;
  n = (size_t)(end - url);
  if (n >= cap)
    return -1;
  memcpy(out, url, n);
  out[n] = '\0';
  return 0;
}

static const char *origin_host(const char *origin)
{
  return strstr(origin, "://") + 3;
}

int bg_reg_open(const struct bg_oci_ref *ref, const struct bg_reg_opts *o, struct bg_reg **out,
                struct bg_error *err)
{
  struct bg_reg *r;

  *out = NULL;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  r->o = *o;
  if (r->o.max_attempts < 1)
    r->o.max_attempts = 5;
  if (r->o.parallel < 1)
    r->o.parallel = 3;
  if (!(r->o.backoff_scale >= 0))
    r->o.backoff_scale = 1.0;
  snprintf(r->host, sizeof(r->host), "%s", bg_oci_ref_api_host(ref));
  snprintf(r->repo, sizeof(r->repo), "%s", ref->repository);
  snprintf(r->registry, sizeof(r->registry), "%s", ref->registry);
  /* plain http only where Docker allows it by default, or when the user said so */
  r->scheme = bg_oci_host_is_loopback(r->host) || o->insecure ? "http" : "https";
  snprintf(r->origin, sizeof(r->origin), "%s://%s", r->scheme, r->host);
  r->multi = curl_multi_init();
  if (r->multi == NULL) {
    free(r);
    return bg_error_set(err, BG_ENOMEM, "cannot create a curl multi handle");
  }
  curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)r->o.parallel);
  *out = r;
  return 0;
}

void bg_reg_close(struct bg_reg *r)
{
  if (r == NULL)
    return;
  if (r->auth != NULL) {
    memset(r->auth, 0, strlen(r->auth));
    free(r->auth);
  }
  bg_creds_wipe(&r->creds);
  free(r->challenge);
  curl_multi_cleanup(r->multi);
  free(r);
}

/* ---- curl callbacks ---- */

static void reset_response(struct xfer *x)
{
  x->ctype[0] = x->retry_after[0] = x->content_range[0] = '\0';
  bg_buf_reset(&x->wwwauth);
  bg_buf_reset(&x->errbody);
}

static void copy_trimmed(char *dst, size_t cap, const char *v, size_t n)
{
  while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
    n--;
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nmemb, nlen;
  const char *colon, *v;

  x->header_bytes += n;
  if (x->header_bytes > BG_HEADERS_MAX) {
    x->fatal = 1;
    bg_error_set(&x->err, BG_ETOOBIG, "response headers exceed %d bytes", BG_HEADERS_MAX);
    return 0;
  }
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    reset_response(x);
    return n;
  }
  colon = memchr(p, ':', n);
  if (colon == NULL)
    return n;
  nlen = (size_t)(colon - p);
  v = colon + 1;
  while (v < p + n && (*v == ' ' || *v == '\t'))
    v++;
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(p, name, nlen) == 0)
  if (IS("content-type")) {
    copy_trimmed(x->ctype, sizeof(x->ctype), v, (size_t)(p + n - v));
    x->ctype[strcspn(x->ctype, "; ")] = '\0';
  } else if (IS("retry-after")) {
    copy_trimmed(x->retry_after, sizeof(x->retry_after), v, (size_t)(p + n - v));
  } else if (IS("content-range")) {
    copy_trimmed(x->content_range, sizeof(x->content_range), v, (size_t)(p + n - v));
  } else if (IS("www-authenticate")) {
    size_t vl = (size_t)(p + n - v);
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
      vl--;
    if ((x->wwwauth.len > 0 && bg_buf_add(&x->wwwauth, ", ", 2, &x->err) != 0) ||
        bg_buf_add(&x->wwwauth, v, vl, &x->err) != 0) {
      x->fatal = 1;
      bg_error_prefix(&x->err, "WWW-Authenticate");
      return 0;
    }
  }
#undef IS
  return n;
}

/* "bytes START-END/TOTAL": the start offset, or -1. */
static long long range_start(const char *cr)
{
  char *end;
  long long v;

  if (strncasecmp(cr, "bytes ", 6) != 0)
    return -1;
  cr += 6;
  if (*cr < '0' || *cr > '9')
    return -1;
  v = strtoll(cr, &end, 10);
  return *end == '-' ? v : -1;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nmemb;
  long code = 0;

  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299) {
    /* only the start of an error body is kept, for its message */
    if (x->errbody.len + n <= x->errbody.max)
      bg_buf_add(&x->errbody, p, n, &x->err);
    return n;
  }
  if (x->mem != NULL) {
    struct bg_error e2;
    bg_error_clear(&e2);
    if (bg_buf_add(x->mem, p, n, &e2) != 0) {
      x->fatal = 1;
      bg_error_set(&x->err, BG_ETOOBIG, "response larger than %zu bytes", x->mem->max);
      return 0;
    }
    return n;
  }
  if (x->first_write) {
    x->first_write = 0;
    if (code == 206) {
      if (range_start(x->content_range) != (long long)x->w.have) {
        /* not the bytes we asked for: start again from zero next time */
        x->restart = 1;
        bg_error_set(&x->err, BG_ENET, "bad Content-Range '%.60s'", x->content_range);
        return 0;
      }
    } else if (x->w.have > 0 && bg_blob_writer_restart(&x->w, &x->err) != 0) {
      /* a 200 to a Range request is the whole blob again: the hash restarts too */
      x->fatal = 1;
      return 0;
    }
  }
  if (bg_blob_writer_write(&x->w, p, n, &x->err) != 0) {
    x->fatal = 1;
    return 0;
  }
  if (x->prog != NULL && x->req->progress_slot >= 0)
    bg_progress_update(x->prog, (size_t)x->req->progress_slot, x->w.have);
  return n;
}

/* ---- requests ---- */

static int setup(struct xfer *x, const char *auth)
{
  struct bg_reg *r = x->r;
  char line[TOKEN_MAX + 64];
  CURL *e = x->easy;

  curl_easy_reset(e);
  curl_slist_free_all(x->hdrs);
  x->hdrs = NULL;
  curl_easy_setopt(e, CURLOPT_URL, x->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
  /* a stalled transfer (under 1 byte/s for 60 s) counts as a dropped connection */
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "banger-build/" BANGER_VERSION);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
  if (r->o.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (x->accept != NULL) {
    snprintf(line, sizeof(line), "Accept: %s", x->accept);
    x->hdrs = curl_slist_append(x->hdrs, line);
  }
  if (auth != NULL) {
    snprintf(line, sizeof(line), "Authorization: %s", auth);
    x->hdrs = curl_slist_append(x->hdrs, line);
    memset(line, 0, sizeof(line));
  }
  if (x->has_writer && x->w.have > 0) {
    snprintf(line, sizeof(line), "Range: bytes=%llu-", (unsigned long long)x->w.have);
    x->hdrs = curl_slist_append(x->hdrs, line);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
  x->header_bytes = 0;
  x->first_write = 1;
  x->restart = 0;
  reset_response(x);
  if (x->mem != NULL)
    bg_buf_reset(x->mem);
  return 0;
}

/* The registry's own words from an error body: errors[0].message, or "". */
static void registry_message(const struct bg_buf *b, char *out, size_t cap)
{
  struct bg_json_doc *doc = NULL;
  const struct bg_json *e;
  struct bg_error err;
  const char *m;

  out[0] = '\0';
  bg_error_clear(&err);
  if (b->len == 0 || bg_json_parse(b->data, b->len, &doc, &err) != 0)
    return;
  e = bg_json_get(bg_json_root(doc), "errors");
  if (e != NULL && e->type == BG_JSON_ARRAY && e->child != NULL) {
    m = bg_json_getstr(e->child, "message");
    if (m == NULL)
      m = bg_json_getstr(e->child, "code");
    if (m != NULL) {
      size_t i;
      snprintf(out, cap, "%s", m);
      for (i = 0; out[i] != '\0'; i++)
        if ((unsigned char)out[i] < 0x20)
          out[i] = ' ';
    }
  }
  bg_json_free(doc);
}

static double retry_after_seconds(const char *v)
{
  char *end;
  double s;
  time_t t;

  if (v[0] == '\0')
    return -1;
  if (v[0] >= '0' && v[0] <= '9') {
    s = strtod(v, &end);
    return *end == '\0' ? s : -1;
  }
  t = curl_getdate(v, NULL);
  if (t < 0)
    return -1;
  s = difftime(t, time(NULL));
  return s < 0 ? 0 : s;
}

static double backoff(const struct bg_reg *r, int attempt, const char *retry_after)
{
  double ra = retry_after_seconds(retry_after);
  double d;

  if (ra >= 0)
    return ra > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : ra;
  d = 0.5 * pow(2.0, attempt - 1);
  if (d > BACKOFF_MAX)
    d = BACKOFF_MAX;
  return d * r->o.backoff_scale;
}

static int token_ok(const char *t)
{
  size_t i;

  for (i = 0; t[i] != '\0'; i++)
    if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
      return 0;
  return i > 0 && i < TOKEN_MAX;
}

static int load_creds(struct bg_reg *r, struct bg_error *err)
{
  if (r->creds_loaded)
    return 0;
  r->creds_loaded = 1;
  return bg_creds_lookup(r->registry, &r->creds, err);
}

static void set_auth(struct bg_reg *r, const char *scheme, const char *value, double expiry)
{
  size_t n = strlen(scheme) + strlen(value) + 2;

  if (r->auth != NULL) {
    memset(r->auth, 0, strlen(r->auth));
    free(r->auth);
  }
  r->auth = malloc(n);
  if (r->auth != NULL)
    snprintf(r->auth, n, "%s %s", scheme, value);
  r->auth_expiry = expiry;
  r->auth_gen++;
}

static int basic_value(const struct bg_creds *c, char *out, size_t cap)
{
  char plain[sizeof(c->user) + sizeof(c->secret) + 2];
  int n = snprintf(plain, sizeof(plain), "%s:%s", c->user, c->secret);
  long rc = bg_base64_encode((unsigned char *)plain, (size_t)n, out, cap);

  memset(plain, 0, sizeof(plain));
  return rc < 0 ? -1 : 0;
}

/* The token dance: GET realm?service=..&scope=.., with Basic credentials if configured. */
static int fetch_token(struct bg_reg *r, const char *header, struct bg_error *err)
{
  struct bg_challenge ch;
  struct xfer t;
  struct bg_buf body, url;
  struct bg_json_doc *doc = NULL;
  const struct bg_json *root;
  char origin[1024], basic[8192], *esc;
  const char *tok;
  uint64_t expires = 60;
  int https, attempt, rc = -1;
  long code = 0;
  CURLcode cc;

  memset(&t, 0, sizeof(t));
  bg_buf_init(&body, BG_TOKEN_REPLY_MAX);
  bg_buf_init(&url, 8192);
  bg_buf_init(&t.wwwauth, BG_AUTH_HEADER_MAX);
  bg_buf_init(&t.errbody, BG_ERROR_BODY_MAX);
  if (bg_www_auth_parse(header, &ch, err) != 0)
    goto out;
  if (r->challenge != header) {
    free(r->challenge);
    r->challenge = strdup(header);
  }
  if (load_creds(r, err) != 0)
    goto out;
  if (!ch.bearer) {
    if (!ch.basic) {
      bg_error_set(err, BG_ENET, "%s asks for an authentication scheme this client does not "
                   "speak: %.200s", r->host, header);
      goto out;
    }
    if (r->creds.user[0] == '\0') {
      bg_error_set(err, BG_ENET, "%s asks for credentials and none are configured", r->host);
      goto out;
    }
    if (basic_value(&r->creds, basic, sizeof(basic)) != 0) {
      bg_error_set(err, BG_ETOOBIG, "credentials too long");
      goto out;
    }
    set_auth(r, "Basic", basic, 0);
    rc = 0;
    goto out;
  }
  if (url_origin(ch.realm, origin, sizeof(origin), &https) != 0) {
    bg_error_set(err, BG_ENET, "token realm '%.200s' is not an http(s) URL", ch.realm);
    goto out;
  }
  if (!https && !r->o.insecure && !bg_oci_host_is_loopback(origin_host(origin))) {
    bg_error_set(err, BG_ENET, "refusing to fetch a token over plain http from %s", origin);
    goto out;
  }
  if (bg_buf_addstr(&url, ch.realm, err) != 0)
    goto out;
  if (ch.service[0] != '\0') {
    esc = curl_easy_escape(NULL, ch.service, 0);
    rc = bg_buf_printf(&url, err, "%sservice=%s", strchr(ch.realm, '?') ? "&" : "?", esc);
    curl_free(esc);
    if (rc != 0)
      goto out;
    rc = -1;
  }
  {
    char scope[BG_REF_NAME_MAX + 32];
    snprintf(scope, sizeof(scope), "repository:%s:pull", r->repo);
    esc = curl_easy_escape(NULL, ch.scope[0] ? ch.scope : scope, 0);
    if (bg_buf_printf(&url, err, "%sscope=%s", strchr(url.data, '?') ? "&" : "?", esc) != 0) {
      curl_free(esc);
      goto out;
    }
    curl_free(esc);
  }
  if (url.len >= sizeof(t.url)) {
    bg_error_set(err, BG_ETOOBIG, "token URL too long");
    goto out;
  }
  memcpy(t.url, url.data, url.len + 1);
  t.r = r;
  t.mem = &body;
  t.easy = curl_easy_init();
  if (t.easy == NULL) {
    bg_error_set(err, BG_ENOMEM, "cannot create a curl handle");
    goto out;
  }
  basic[0] = '\0';
  if (r->creds.user[0] != '\0' && basic_value(&r->creds, basic + 6, sizeof(basic) - 6) == 0)
    memcpy(basic, "Basic ", 6);
  for (attempt = 1;; attempt++) {
    bg_error_clear(&t.err);
    t.fatal = 0;
    setup(&t, basic[0] ? basic : NULL);
    cc = curl_easy_perform(t.easy);
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &code);
    if (t.fatal) {
      *err = t.err;
      bg_error_prefix(err, "token reply from %s", origin);
      goto out;
    }
    if (cc == CURLE_OK && code == 200)
      break;
    if (attempt < r->o.max_attempts && (cc != CURLE_OK || code == 429 || code >= 500)) {
      usleep((useconds_t)(backoff(r, attempt, t.retry_after) * 1e6));
      continue;
    }
    if (cc != CURLE_OK)
      bg_error_set(err, BG_ENET, "token request to %s failed: %s", origin,
                   curl_easy_strerror(cc));
    else if (code == 401 && basic[0])
      bg_error_set(err, BG_ENET, "authentication to %s failed with the credentials from %s",
                   r->registry, r->creds.source);
    else
      bg_error_set(err, BG_ENET, "token request to %s failed: HTTP %ld", origin, code);
    goto out;
  }
  if (bg_json_parse(body.data ? body.data : "", body.len, &doc, err) != 0) {
    bg_error_prefix(err, "token reply from %s", origin);
    goto out;
  }
  root = bg_json_root(doc);
  tok = bg_json_getstr(root, "token");
  if (tok == NULL || tok[0] == '\0')
    tok = bg_json_getstr(root, "access_token");
  if (tok == NULL || !token_ok(tok)) {
    bg_error_set(err, BG_ENET, "token reply from %s has no usable token", origin);
    goto out;
  }
  if (bg_json_get(root, "expires_in") != NULL &&
      (bg_json_uint(bg_json_get(root, "expires_in"), &expires) != 0 || expires == 0))
    expires = 60;
  if (expires > 86400)
    expires = 86400;
  /* refresh a little early so a request does not carry a token that dies in flight */
  set_auth(r, "Bearer", tok, bg_now() + (double)expires - (expires > 20 ? 10.0 : 0.0));
  rc = 0;
out:
  memset(basic, 0, sizeof(basic));
  if (t.easy != NULL)
    curl_easy_cleanup(t.easy);
  curl_slist_free_all(t.hdrs);
  if (body.data != NULL)
    memset(body.data, 0, body.len);
  bg_buf_free(&body);
  bg_buf_free(&url);
  bg_buf_free(&t.wwwauth);
  bg_buf_free(&t.errbody);
  bg_json_free(doc);
  return rc;
}

static void fail_x(struct xfer *x)
{
  x->state = X_FAIL;
}

static int start(struct xfer *x)
{
  struct bg_reg *r = x->r;
  const char *auth = NULL;

  bg_error_clear(&x->err);
  x->fatal = 0;
  /* temp files are opened as transfers start, so a 1000-layer image holds few descriptors */
  if (x->req != NULL && !x->has_writer) {
    if (bg_blob_writer_open(x->cache, &x->req->digest, x->req->size, &x->w, &x->err) != 0) {
      fail_x(x);
      return -1;
    }
    x->has_writer = 1;
  }
  if (x->on_origin && r->auth != NULL && r->auth_expiry > 0 && bg_now() >= r->auth_expiry &&
      r->challenge != NULL && fetch_token(r, r->challenge, &x->err) != 0) {
    /* the token ran out during a long pull: a fresh one comes from the same challenge */
    fail_x(x);
    return -1;
  }
  if (x->on_origin)
    auth = r->auth;
  x->gen_used = r->auth_gen;
  setup(x, auth);
  if (curl_multi_add_handle(r->multi, x->easy) != CURLM_OK) {
    bg_error_set(&x->err, BG_ENOMEM, "cannot start a transfer");
    fail_x(x);
    return -1;
  }
  x->state = X_RUN;
  return 0;
}

static void retry(struct xfer *x, const char *why)
{
  x->attempts++;
  if (x->attempts >= x->r->o.max_attempts) {
    bg_error_set(&x->err, BG_ENET, "%s (gave up after %d attempts)", why, x->attempts);
    fail_x(x);
    return;
  }
  x->next_try = bg_now() + backoff(x->r, x->attempts, x->retry_after);
  x->state = X_WAIT;
}

static const char *what(const struct xfer *x, char *buf, size_t cap)
{
  if (x->req != NULL)
    snprintf(buf, cap, "blob sha256:%s", x->req->digest.hex);
  else
    snprintf(buf, cap, "manifest");
  return buf;
}

static void finish(struct xfer *x, CURLcode cc)
{
  struct bg_reg *r = x->r;
  char why[2048], msg[256], thing[96], origin[1024];
  const char *loc = NULL;
  long code = 0;
  int https;

  curl_multi_remove_handle(r->multi, x->easy);
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  what(x, thing, sizeof(thing));
  if (x->fatal) {
    bg_error_prefix(&x->err, "%s", thing);
    fail_x(x);
    return;
  }
  if (cc != CURLE_OK) {
    if (x->restart && x->has_writer) {
      struct bg_error e2;
      bg_error_clear(&e2);
      if (bg_blob_writer_restart(&x->w, &e2) != 0) {
        x->err = e2;
        fail_x(x);
        return;
      }
    }
    snprintf(why, sizeof(why), "%s from %s: %s", thing, r->host,
             x->err.code ? x->err.msg : curl_easy_strerror(cc));
    bg_error_clear(&x->err);
    if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_UNSUPPORTED_PROTOCOL ||
        cc == CURLE_URL_MALFORMAT || cc == CURLE_SSL_CACERT_BADFILE) {
      bg_error_set(&x->err, BG_ENET, "%s", why);
      fail_x(x);
      return;
    }
    retry(x, why);
    return;
  }
  if (code >= 200 && code <= 299) {
    if (x->mem != NULL) {
      x->state = X_DONE;
      return;
    }
    if (x->w.have < x->req->size) {
      snprintf(why, sizeof(why), "%s from %s: truncated at %llu of %llu bytes", thing, r->host,
               (unsigned long long)x->w.have, (unsigned long long)x->req->size);
      retry(x, why);
      return;
    }
    x->has_writer = 0;
    if (bg_blob_writer_commit(x->cache, &x->w, &x->err) != 0) {
      bg_error_prefix(&x->err, "%s", thing);
      fail_x(x);
      return;
    }
    if (x->prog != NULL && x->req->progress_slot >= 0)
      bg_progress_done(x->prog, (size_t)x->req->progress_slot, 0);
    x->state = X_DONE;
    return;
  }
  registry_message(&x->errbody, msg, sizeof(msg));
  if (code >= 300 && code <= 399 && code != 304) {
    curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc);
    if (loc == NULL || url_origin(loc, origin, sizeof(origin), &https) != 0 ||
        strlen(loc) >= sizeof(x->url)) {
      bg_error_set(&x->err, BG_ENET, "%s: bad redirect from %s", thing, r->host);
      fail_x(x);
      return;
    }
    if (++x->redirects > MAX_REDIRECTS) {
      bg_error_set(&x->err, BG_ENET, "%s: more than %d redirects", thing, MAX_REDIRECTS);
      fail_x(x);
      return;
    }
    if (!https && strcmp(r->scheme, "https") == 0 && !r->o.insecure &&
        !bg_oci_host_is_loopback(origin_host(origin))) {
      bg_error_set(&x->err, BG_ENET, "%s: refusing a redirect from https to %s", thing, origin);
      fail_x(x);
      return;
    }
    /* Authorization goes only to the registry itself, never to another host */
    x->on_origin = strcasecmp(origin, r->origin) == 0;
    memmove(x->url, loc, strlen(loc) + 1);
    x->state = X_WAIT;
    x->next_try = 0;
    return;
  }
  if (code == 401 && x->on_origin) {
    if (x->auth_tries >= 1 && r->auth_gen == x->gen_used) {
      bg_error_set(&x->err, BG_ENOTFOUND, "repository %s not found or not authorised "
                   "(HTTP 401%s%s)", r->repo, msg[0] ? ": " : "", msg);
      fail_x(x);
      return;
    }
    if (r->auth_gen == x->gen_used) {
      x->auth_tries++;
      if (x->wwwauth.len == 0) {
        bg_error_set(&x->err, BG_ENET, "%s: HTTP 401 without WWW-Authenticate", thing);
        fail_x(x);
        return;
      }
      if (fetch_token(r, x->wwwauth.data, &x->err) != 0) {
        fail_x(x);
        return;
      }
    }
    x->state = X_WAIT;
    x->next_try = 0;
    return;
  }
  if (code == 429 || code >= 500) {
    snprintf(why, sizeof(why), "%s from %s: HTTP %ld%s%s", thing, r->host, code,
             msg[0] ? ": " : "", msg);
    retry(x, why);
    return;
  }
  if (code == 404)
    bg_error_set(&x->err, BG_ENOTFOUND, "%s (HTTP 404)",
                 msg[0] ? msg : x->req ? "blob unknown" : "manifest unknown");
  else if (code == 403)
    bg_error_set(&x->err, BG_ENET, "access to %s denied (HTTP 403%s%s)", r->repo,
                 msg[0] ? ": " : "", msg);
  else
    bg_error_set(&x->err, BG_ENET, "%s from %s: unexpected HTTP %ld%s%s", thing, r->host, code,
                 msg[0] ? ": " : "", msg);
  if (code == 404 && x->req != NULL)
    bg_error_prefix(&x->err, "%s", thing);
  fail_x(x);
}

static void xfer_free(struct xfer *x)
{
  if (x->easy != NULL)
    curl_easy_cleanup(x->easy);
  x->easy = NULL;
  curl_slist_free_all(x->hdrs);
  x->hdrs = NULL;
  if (x->has_writer)
    bg_blob_writer_abort(&x->w);
  x->has_writer = 0;
  bg_buf_free(&x->wwwauth);
  bg_buf_free(&x->errbody);
}

static int xfer_init(struct xfer *x, struct bg_reg *r, struct bg_error *err)
{
  memset(x, 0, sizeof(*x));
  x->r = r;
  x->on_origin = 1;
  x->state = X_WAIT;
  bg_buf_init(&x->wwwauth, BG_AUTH_HEADER_MAX);
  bg_buf_init(&x->errbody, BG_ERROR_BODY_MAX);
  x->easy = curl_easy_init();
  if (x->easy == NULL)
    return bg_error_set(err, BG_ENOMEM, "cannot create a curl handle");
  return 0;
}

/* Runs transfers until all are done or one fails (the others are then stopped). */
static int run(struct bg_reg *r, struct xfer *xs, size_t n, struct bg_error *err)
{
  size_t i, running, waiting;
  double now, wake;
  int still, msgs, timeout_ms, finished;
  CURLMsg *m;
  struct xfer *x;

  for (;;) {
    now = bg_now();
    running = waiting = 0;
    wake = now + 1.0;
    for (i = 0; i < n; i++) {
      if (xs[i].state == X_FAIL) {
        *err = xs[i].err;
        goto stop;
      }
      if (xs[i].state == X_RUN)
        running++;
    }
    for (i = 0; i < n && running < (size_t)r->o.parallel; i++) {
      if (xs[i].state != X_WAIT)
        continue;
      if (xs[i].next_try <= now) {
        if (start(&xs[i]) != 0) {
          *err = xs[i].err;
          goto stop;
        }
        running++;
      }
    }
    for (i = 0; i < n; i++)
      if (xs[i].state == X_WAIT) {
        waiting++;
        if (xs[i].next_try < wake)
          wake = xs[i].next_try;
      }
    if (running == 0 && waiting == 0)
      return 0;
    curl_multi_perform(r->multi, &still);
    finished = 0;
    while ((m = curl_multi_info_read(r->multi, &msgs)) != NULL) {
      if (m->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      finish(x, m->data.result);
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
  for (i = 0; i < n; i++)
    if (xs[i].state == X_RUN)
      curl_multi_remove_handle(r->multi, xs[i].easy);
  return -1;
}

int bg_reg_get_manifest(struct bg_reg *r, const char *reference, struct bg_buf *body,
                        char *content_type, size_t ctcap, struct bg_error *err)
{
  struct xfer x;
  int rc = -1;

  if (xfer_init(&x, r, err) != 0)
    goto out;
  x.mem = body;
  x.accept = "application/vnd.oci.image.index.v1+json, "
             "application/vnd.docker.distribution.manifest.list.v2+json, "
             "application/vnd.oci.image.manifest.v1+json, "
             "application/vnd.docker.distribution.manifest.v2+json";
  snprintf(x.url, sizeof(x.url), "%s/v2/%s/manifests/%s", r->origin, r->repo, reference);
  if (run(r, &x, 1, err) != 0)
    goto out;
  snprintf(content_type, ctcap, "%s", x.ctype);
  rc = 0;
out:
  xfer_free(&x);
  return rc;
}

int bg_reg_fetch_blobs(struct bg_reg *r, const struct bg_cache *c, struct bg_blob_req *reqs,
                       size_t n, struct bg_progress *p, struct bg_error *err)
{
  struct xfer *xs;
  size_t i;
  int rc = -1;

  if (n == 0)
    return 0;
  xs = calloc(n, sizeof(*xs));
  if (xs == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  for (i = 0; i < n; i++) {
    if (xfer_init(&xs[i], r, err) != 0)
      goto out;
    xs[i].req = &reqs[i];
    xs[i].cache = c;
    xs[i].prog = p;
    snprintf(xs[i].url, sizeof(xs[i].url), "%s/v2/%s/blobs/sha256:%s", r->origin, r->repo,
             reqs[i].digest.hex);
  }
  if (run(r, xs, n, err) != 0)
    goto out;
  rc = 0;
out:
  for (i = 0; i < n; i++)
    xfer_free(&xs[i]);
  free(xs);
  return rc;
}
