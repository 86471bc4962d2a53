/* Image references as a user or a recipe writes them: a parsed reference has terminated fields
 * within their limits, and its normalised name parses again to the same reference. */
#include "fuzz.h"

#include "oci/ref.h"

static void check_terminated(const struct bg_oci_ref *r)
{
  FUZZ_ASSERT(memchr(r->registry, '\0', sizeof(r->registry)) != NULL);
  FUZZ_ASSERT(memchr(r->repository, '\0', sizeof(r->repository)) != NULL);
  FUZZ_ASSERT(memchr(r->tag, '\0', sizeof(r->tag)) != NULL);
  FUZZ_ASSERT(memchr(r->digest, '\0', sizeof(r->digest)) != NULL);
  FUZZ_ASSERT(memchr(r->path, '\0', sizeof(r->path)) != NULL);
  FUZZ_ASSERT(memchr(r->name, '\0', sizeof(r->name)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = fuzz_cstr(data, size);
  struct bg_oci_ref *a = calloc(2, sizeof(*a)), *b;
  struct bg_error err;

  if (a == NULL)
    abort();
  b = a + 1;
  bg_error_clear(&err);
  if (bg_oci_ref_parse(s, a, &err) != 0) {
    FUZZ_ASSERT(err.code == BG_EINVAL && err.msg[0] != '\0');
    goto out;
  }
  check_terminated(a);
  FUZZ_ASSERT(a->name[0] != '\0');
  FUZZ_ASSERT(bg_oci_transport_name(a->transport) != NULL);
  if (a->transport == BG_REF_DOCKER) {
    FUZZ_ASSERT(a->registry[0] != '\0' && a->repository[0] != '\0');
    FUZZ_ASSERT(strlen(a->registry) + 1 + strlen(a->repository) <= BG_REF_NAME_MAX);
    FUZZ_ASSERT(bg_oci_ref_api_host(a)[0] != '\0');
    (void)bg_oci_host_is_loopback(a->registry);
  }
  (void)bg_oci_host_is_loopback(s);
  /* the normalised name is a fixed point */
  FUZZ_ASSERT(bg_oci_ref_parse(a->name, b, &err) == 0);
  FUZZ_ASSERT(b->transport == a->transport);
  FUZZ_ASSERT(strcmp(b->name, a->name) == 0);
  FUZZ_ASSERT(strcmp(b->registry, a->registry) == 0);
  FUZZ_ASSERT(strcmp(b->repository, a->repository) == 0);
  FUZZ_ASSERT(strcmp(b->tag, a->tag) == 0);
  FUZZ_ASSERT(strcmp(b->digest, a->digest) == 0);
  FUZZ_ASSERT(strcmp(b->path, a->path) == 0);
out:
  free(a);
  free(s);
  return 0;
}
