/* Authentication of a session: what a 401 asks for (RFC 7235 challenges), Basic credentials,
 * and Bearer tokens fetched from the realm as one more transfer of the engine, so other
 * downloads go on while a token is fetched or refreshed. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "../util/escape.h"
#include "../util/json.h"

#define TOKEN_MAX (16 << 10)
#define DEFAULT_EXPIRES 60
#define MAX_EXPIRES 86400

/* The session's authentication: credentials (looked up once, when first asked for), the
 * last Bearer challenge and when the token it gave runs out. */
struct bg_auth {
  struct bg_creds creds;
  int creds_loaded;
  double expiry;         /* 0 when the Authorization does not expire */
  char *challenge;
};

/* The token request: a transfer with its reply buffer and its own Authorization. */
struct token_req {
  struct bg_xfer x;
  struct bg_buf body;
  char basic[8192];
};

static void token_req_free(struct bg_xfer *x)
{
  struct token_req *t = (struct token_req *)x;

  if (t == NULL)
    return;
  bg_xfer_free(&t->x);
  if (t->body.data != NULL)
    memset(t->body.data, 0, t->body.len);
  bg_buf_free(&t->body);
  memset(t->basic, 0, sizeof(t->basic));
  free(t);
}

int bg_auth_new(struct bg_reg *r, struct bg_error *err)
{
  r->auth = calloc(1, sizeof(*r->auth));
  if (r->auth == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  return 0;
}

void bg_auth_free(struct bg_reg *r)
{
  token_req_free(r->tok);
  r->tok = NULL;
  if (r->auth == NULL)
    return;
  bg_creds_wipe(&r->auth->creds);
  free(r->auth->challenge);
  free(r->auth);
  r->auth = NULL;
}

static int load_creds(struct bg_reg *r, struct bg_error *err)
{
  if (r->auth->creds_loaded)
    return 0;
  r->auth->creds_loaded = 1;
  return bg_creds_lookup(r->registry, r->lim.helper_s, &r->auth->creds, err);
}

static int set_authz(struct bg_reg *r, const char *scheme, const char *value, double expiry)
{
  if (bg_reg_set_authz(r, scheme, value) != 0)
    return -1;
  r->auth->expiry = expiry;
  return 0;
}

static int basic_value(const struct bg_creds *c, char *out, size_t cap)
{
  char plain[sizeof(c->user) + sizeof(c->secret) + 2];
  int n = snprintf(plain, sizeof(plain), "%s:%s", c->user, c->secret);
  long rc = bg_base64_encode((unsigned char *)plain, (size_t)n, out, cap);

  memset(plain, 0, sizeof(plain));
  return rc < 0 ? -1 : 0;
}

static int token_ok(const char *t)
{
  size_t i;

  for (i = 0; t[i] != '\0'; i++)
    if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
      return 0;
  return i > 0 && i < TOKEN_MAX;
}

/* realm?service=..&scope=.. (values URL-encoded), and scheme://host[:port] of it for messages. */
static int token_url(struct bg_reg *r, const struct bg_challenge *ch, char *url, size_t cap,
                     char *shown, size_t scap, int *https, char *host, size_t hcap,
                     struct bg_error *err)
{
  char scope[BG_REF_NAME_MAX + 64], q[4096], e1[300];
  char *s = NULL, *h = NULL, *port = NULL, *full = NULL;
  CURLU *u = NULL;
  long p;
  int rc = -1;

  bg_escape_str(ch->realm, e1, sizeof(e1));
  if (bg_url_origin(ch->realm, https, host, hcap, &p) != 0)
    return bg_error_set(err, BG_ENET, "token realm '%s' is not an http(s) URL", e1);
  u = curl_url();
  if (u == NULL || curl_url_set(u, CURLUPART_URL, ch->realm, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK) {
    bg_error_set(err, BG_ENET, "token realm '%s' is not an http(s) URL", e1);
    goto out;
  }
  curl_url_get(u, CURLUPART_PORT, &port, 0);
  snprintf(url, cap, "%s://%s%s%s", s, h, port ? ":" : "", port ? port : "");
  bg_escape_str(url, shown, scap);
  snprintf(scope, sizeof(scope), "repository:%s:%s", r->repo,
           r->o.actions ? r->o.actions : "pull");
  if (ch->service[0] != '\0') {
    snprintf(q, sizeof(q), "service=%s", ch->service);
    if (curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK)
      goto bad;
  }
  snprintf(q, sizeof(q), "scope=%s", ch->scope[0] ? ch->scope : scope);
  if (curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK)
    goto bad;
  /* a mount reads the blob from another repository: the token must cover it too */
  if (r->o.also_pull != NULL) {
    snprintf(q, sizeof(q), "scope=repository:%s:pull", r->o.also_pull);
    if (curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK)
      goto bad;
  }
  if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
    goto bad;
  if (strlen(full) >= cap) {
    bg_error_set(err, BG_ETOOBIG, "token URL too long");
    goto out;
  }
  memcpy(url, full, strlen(full) + 1);
  rc = 0;
  goto out;
bad:
  bg_error_set(err, BG_ENET, "cannot make a token URL from the realm '%s'", e1);
out:
  curl_free(s);
  curl_free(h);
  curl_free(port);
  curl_free(full);
  curl_url_cleanup(u);
  return rc;
}

/* Starts the token request for a Bearer challenge: 1, or -1 with err. */
static int start_token(struct bg_reg *r, const struct bg_challenge *ch, struct bg_error *err)
{
  struct token_req *t;
  char shown[300], host[1024];
  int https;

  t = calloc(1, sizeof(*t));
  if (t == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  bg_buf_init(&t->body, BG_TOKEN_REPLY_MAX);
  if (bg_xfer_init(&t->x, r, XK_TOKEN, &bg_sink_memory, err) != 0)
    goto fail;
  t->x.mem = &t->body;
  if (token_url(r, ch, t->x.url, sizeof(t->x.url), shown, sizeof(shown), &https, host,
                sizeof(host), err) != 0)
    goto fail;
  if (!https && !r->o.insecure && !bg_oci_host_is_loopback(host)) {
    bg_error_set(err, BG_ENET, "refusing to fetch a token over plain http from %s", shown);
    goto fail;
  }
  snprintf(t->x.what, sizeof(t->x.what), "token reply from %.100s", shown);
  t->x.verify = !(r->o.insecure || bg_oci_host_is_loopback(host));
  if (r->auth->creds.user[0] != '\0') {
    memcpy(t->basic, "Basic ", 6);
    if (basic_value(&r->auth->creds, t->basic + 6, sizeof(t->basic) - 6) != 0) {
      bg_error_set(err, BG_ETOOBIG, "credentials too long");
      goto fail;
    }
    t->x.auth = t->basic;
  }
  r->tok = &t->x;
  return 1;
fail:
  token_req_free(&t->x);
  return -1;
}

/* Every WWW-Authenticate of the reply, joined with ", " (RFC 7235 allows either form). */
static int www_authenticate(struct bg_xfer *x, struct bg_buf *out, struct bg_error *err)
{
  struct curl_header *h;
  size_t i, n = 1;

  for (i = 0; i < n; i++) {
    if (curl_easy_header(x->easy, "WWW-Authenticate", i, CURLH_HEADER, -1, &h) != CURLHE_OK)
      break;
    n = h->amount;
    if ((out->len > 0 && bg_buf_add(out, ", ", 2, err) != 0) ||
        bg_buf_addstr(out, h->value, err) != 0)
      return bg_error_prefix(err, "WWW-Authenticate");
  }
  if (out->len == 0)
    return bg_error_set(err, BG_ENET, "%s: HTTP 401 without WWW-Authenticate", x->what);
  return 0;
}

static int answer(struct bg_reg *r, const char *header, struct bg_error *err)
{
  struct bg_auth *a = r->auth;
  struct bg_challenge ch;
  char basic[8192], shown[300];

  if (bg_www_auth_parse(header, &ch, err) != 0)
    return -1;
  if (load_creds(r, err) != 0)
    return -1;
  if (!ch.bearer) {
    if (!ch.basic)
      return bg_error_set(err, BG_ENET, "%s asks for an authentication scheme this client does "
                          "not speak: %s", r->host, bg_escape_str(header, shown, sizeof(shown)));
    if (a->creds.user[0] == '\0')
      return bg_error_set(err, BG_ENET, "%s asks for credentials and none are configured",
                          r->host);
    if (basic_value(&a->creds, basic, sizeof(basic)) != 0)
      return bg_error_set(err, BG_ETOOBIG, "credentials too long");
    if (set_authz(r, "Basic", basic, 0) != 0) {
      memset(basic, 0, sizeof(basic));
      return bg_error_set(err, BG_ENOMEM, "out of memory");
    }
    memset(basic, 0, sizeof(basic));
    return 0;
  }
  if (a->challenge == NULL || strcmp(a->challenge, header) != 0) {
    free(a->challenge);
    a->challenge = strdup(header);
  }
  return start_token(r, &ch, err);
}

static int on_challenge(struct bg_reg *r, struct bg_xfer *x, struct bg_error *err)
{
  struct bg_buf hdr;
  int rc;

  if (r->tok != NULL)
    return 1; /* a token is already on its way */
  bg_buf_init(&hdr, BG_AUTH_HEADER_MAX);
  rc = www_authenticate(x, &hdr, err);
  if (rc == 0)
    rc = answer(r, hdr.data, err);
  bg_buf_free(&hdr);
  return rc;
}

static int on_refresh(struct bg_reg *r, struct bg_error *err)
{
  struct bg_challenge ch;

  if (r->tok != NULL)
    return 1; /* a token is on its way: requests wait for it rather than meet a 401 */
  if (r->authz == NULL || r->auth->expiry <= 0 || bg_now() < r->auth->expiry ||
      r->auth->challenge == NULL)
    return 0;
  if (bg_www_auth_parse(r->auth->challenge, &ch, err) != 0)
    return -1;
  return start_token(r, &ch, err);
}

static int on_token_done(struct bg_reg *r, struct bg_error *err)
{
  struct bg_xfer *x = r->tok;
  struct token_req *t = (struct token_req *)x;
  json_t *doc = NULL;
  const char *tok;
  uint64_t expires = DEFAULT_EXPIRES;
  int rc = -1;

  r->tok = NULL;
  if (x->state != X_DONE) {
    *err = x->err;
    if (x->code == 401 && x->auth != NULL) {
      bg_error_clear(err);
      bg_error_set(err, BG_ENET, "authentication to %s failed with the credentials from %s",
                   r->registry, r->auth->creds.source);
    }
    goto out;
  }
  if (bg_json_parse(t->body.data ? t->body.data : "", t->body.len, &doc, err) != 0) {
    bg_error_prefix(err, "%s", x->what);
    goto out;
  }
  tok = bg_json_getstr(doc, "token");
  if (tok == NULL || tok[0] == '\0')
    tok = bg_json_getstr(doc, "access_token");
  if (tok == NULL || !token_ok(tok)) {
    bg_error_set(err, BG_ENET, "%s has no usable token", x->what);
    goto out;
  }
  if (json_object_get(doc, "expires_in") != NULL &&
      (bg_json_uint(json_object_get(doc, "expires_in"), &expires) != 0 || expires == 0))
    expires = DEFAULT_EXPIRES;
  if (expires > MAX_EXPIRES)
    expires = MAX_EXPIRES;
  /* refresh a little early so a request does not carry a token that dies in flight */
  if (set_authz(r, "Bearer", tok, bg_now() + (double)expires - (expires > 20 ? 10.0 : 0.0)) !=
      0) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  rc = 0;
out:
  if (doc != NULL)
    json_decref(doc);
  token_req_free(x);
  return rc;
}

const struct bg_auth_hooks bg_auth_hooks = {on_challenge, on_refresh, on_token_done};
