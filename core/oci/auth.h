/* Authentication: WWW-Authenticate parsing (RFC 7235) and registry credentials. */
#ifndef BG_OCI_AUTH_H
#define BG_OCI_AUTH_H

#include <stddef.h>

#include "../util/error.h"

#define BG_AUTH_HEADER_MAX 8192

/* What a registry's 401 asks for. Fields are "" when absent. */
struct bg_challenge {
  int bearer;       /* a Bearer challenge was offered */
  int basic;        /* a Basic challenge was offered */
  char realm[2048];
  char service[512];
  char scope[2048];
  char error[128];  /* RFC 6750 error=, e.g. "invalid_token" */
};

/* Calls fn once per auth-param of every challenge (name NULL for a bare scheme or token68).
 * Fails with BG_EINVAL on malformed syntax. */
int bg_www_auth_each(const char *header,
                     int (*fn)(void *ctx, const char *scheme, const char *name, const char *value),
                     void *ctx, struct bg_error *err);

/* Parses every challenge in header into c. */
int bg_www_auth_parse(const char *header, struct bg_challenge *c, struct bg_error *err);

/* Credentials for a registry host; user and secret are "" when none are configured.
 * Looks at $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json or ~/.docker/config.json
 * (auths, credHelpers, credsStore). */
struct bg_creds {
  char user[512];
  char secret[4096];
  char source[256]; /* where they came from, for messages; never the secret */
};
/* A docker-credential-<name> helper gets helper_timeout seconds to answer, and 64 KiB. */
int bg_creds_lookup(const char *registry, double helper_timeout, struct bg_creds *c,
                    struct bg_error *err);
void bg_creds_wipe(struct bg_creds *c);

/* Base64 (standard alphabet); returns the decoded length or -1. out holds n*3/4+1 bytes. */
long bg_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap);
/* Encodes into out (cap >= 4*((n+2)/3)+1); returns the length or -1. */
long bg_base64_encode(const unsigned char *in, size_t n, char *out, size_t cap);

#endif
