/* RFC 7235 challenges: scheme [token68 | #auth-param], several per header, comma separated. */
#include "auth.h"

#include <stdio.h>
#include <string.h>

#define VALUE_MAX 4096

static int is_tchar(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

static size_t token_len(const char *p)
{
  size_t n = 0;

  while (is_tchar(p[n]))
    n++;
  return n;
}

/* A token68 is token68-chars followed by optional '=' padding, alone before ',' or the end. */
static size_t token68_len(const char *p)
{
  size_t n = 0;

  while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
         (p[n] >= '0' && p[n] <= '9') || (p[n] != '\0' && strchr("-._~+/", p[n])))
    n++;
  while (p[n] == '=')
    n++;
  return n;
}

static int bad(struct bg_error *err, const char *header, const char *p, const char *why)
{
  return bg_error_set(err, BG_EINVAL, "malformed WWW-Authenticate at offset %zu: %s",
                      (size_t)(p - header), why);
}

int bg_www_auth_each(const char *header,
                     int (*fn)(void *ctx, const char *scheme, const char *name, const char *value),
                     void *ctx, struct bg_error *err)
{
  char scheme[64], name[128], value[VALUE_MAX];
  const char *p = header, *q;
  size_t n, vlen;

  if (strlen(header) > BG_AUTH_HEADER_MAX)
    return bg_error_set(err, BG_ETOOBIG, "WWW-Authenticate longer than %d bytes",
                        BG_AUTH_HEADER_MAX);
  for (;;) {
    /* empty list elements are allowed: ", , Bearer x=y" */
    p = skip_ows(p);
    while (*p == ',')
      p = skip_ows(p + 1);
    if (*p == '\0')
      break;
    n = token_len(p);
    if (n == 0)
      return bad(err, header, p, "expected an auth scheme");
    if (n >= sizeof(scheme))
      return bad(err, header, p, "auth scheme too long");
    memcpy(scheme, p, n);
    scheme[n] = '\0';
    p += n;
    if (*p != ' ' && *p != '\t' && *p != ',' && *p != '\0')
      return bad(err, header, p, "expected a space after the scheme");
    p = skip_ows(p);
    /* token68? (a token not followed by '=' then a value, alone before ',' or the end) */
    n = token68_len(p);
    q = skip_ows(p + n);
    if (n > 0 && (*q == ',' || *q == '\0')) {
      if (n >= sizeof(value))
        return bad(err, header, p, "token68 too long");
      memcpy(value, p, n);
      value[n] = '\0';
      if (fn(ctx, scheme, NULL, value) != 0)
        return -1;
      p = q;
      continue;
    }
    if (fn(ctx, scheme, NULL, NULL) != 0)
      return -1;
    /* auth-params until a token that is not followed by '=' (the next challenge) */
    for (;;) {
      p = skip_ows(p);
      while (*p == ',')
        p = skip_ows(p + 1);
      if (*p == '\0')
        return 0;
      n = token_len(p);
      q = skip_ows(p + n);
      if (n == 0)
        return bad(err, header, p, "expected an auth-param");
      if (*q != '=') {
        break; /* next challenge starts at p */
      }
      if (n >= sizeof(name))
        return bad(err, header, p, "auth-param name too long");
      memcpy(name, p, n);
      name[n] = '\0';
      p = skip_ows(q + 1);
      vlen = 0;
      if (*p == '"') {
        for (p++; *p != '"'; p++) {
          if (*p == '\0')
            return bad(err, header, p, "unterminated quoted-string");
          if (*p == '\\') {
            p++;
            if (*p == '\0')
              return bad(err, header, p, "unterminated quoted-string");
          }
          if (vlen + 1 >= sizeof(value))
            return bad(err, header, p, "auth-param value too long");
          value[vlen++] = *p;
        }
        p++;
      } else {
        n = token_len(p);
        if (n == 0)
          return bad(err, header, p, "expected a token or quoted-string");
        if (n >= sizeof(value))
          return bad(err, header, p, "auth-param value too long");
        memcpy(value, p, n);
        vlen = n;
        p += n;
      }
      value[vlen] = '\0';
      p = skip_ows(p);
      if (*p != ',' && *p != '\0')
        return bad(err, header, p, "expected ',' after an auth-param");
      if (fn(ctx, scheme, name, value) != 0)
        return -1;
    }
  }
  return 0;
}

struct collect {
  struct bg_challenge *c;
  struct bg_error *err;
};

static int set_field(struct collect *k, char *dst, size_t cap, const char *name, const char *v)
{
  size_t n = strlen(v);

  if (n >= cap)
    return bg_error_set(k->err, BG_ETOOBIG, "WWW-Authenticate %s longer than %zu bytes", name,
                        cap - 1);
  memcpy(dst, v, n + 1);
  return 0;
}

static int collect_one(void *ctx, const char *scheme, const char *name, const char *value)
{
  struct collect *k = ctx;
  struct bg_challenge *c = k->c;

  if (strcasecmp(scheme, "basic") == 0) {
    c->basic = 1;
    return 0;
  }
  if (strcasecmp(scheme, "bearer") != 0)
    return 0;
  c->bearer = 1;
  if (name == NULL)
    return 0;
  if (strcasecmp(name, "realm") == 0)
    return set_field(k, c->realm, sizeof(c->realm), "realm", value);
  if (strcasecmp(name, "service") == 0)
    return set_field(k, c->service, sizeof(c->service), "service", value);
  if (strcasecmp(name, "scope") == 0)
    return set_field(k, c->scope, sizeof(c->scope), "scope", value);
  if (strcasecmp(name, "error") == 0)
    return set_field(k, c->error, sizeof(c->error), "error", value);
  return 0;
}

int bg_www_auth_parse(const char *header, struct bg_challenge *c, struct bg_error *err)
{
  struct collect k = {c, err};

  memset(c, 0, sizeof(*c));
  return bg_www_auth_each(header, collect_one, &k, err);
}
