/* WWW-Authenticate headers as a registry could send them: bg_www_auth_each hands out only
 * NUL-terminated scheme, name and value strings, and bg_www_auth_parse fills a terminated
 * struct bg_challenge, or both fail with a message. */
#include "fuzz.h"

#include "oci/auth.h"

static int each(void *ctx, const char *scheme, const char *name, const char *value)
{
  size_t *calls = ctx;

  FUZZ_ASSERT(scheme != NULL && scheme[0] != '\0');
  FUZZ_ASSERT(strlen(scheme) < 64);
  if (name != NULL)
    FUZZ_ASSERT(name[0] != '\0' && strlen(name) < 128 && value != NULL);
  if (value != NULL)
    FUZZ_ASSERT(strlen(value) <= BG_AUTH_HEADER_MAX);
  (*calls)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *header = fuzz_cstr(data, size);
  struct bg_challenge c;
  struct bg_error err;
  size_t calls = 0;

  bg_error_clear(&err);
  if (bg_www_auth_each(header, each, &calls, &err) != 0)
    FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0');
  bg_error_clear(&err);
  if (bg_www_auth_parse(header, &c, &err) == 0) {
    FUZZ_ASSERT(memchr(c.realm, '\0', sizeof(c.realm)) != NULL);
    FUZZ_ASSERT(memchr(c.service, '\0', sizeof(c.service)) != NULL);
    FUZZ_ASSERT(memchr(c.scope, '\0', sizeof(c.scope)) != NULL);
    FUZZ_ASSERT(memchr(c.error, '\0', sizeof(c.error)) != NULL);
  } else {
    FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0');
  }
  free(header);
  return 0;
}
