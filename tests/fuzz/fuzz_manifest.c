/* Manifests and indexes as a registry or a layout serves them, under every Content-Type the
 * client can see; a parsed index then picks a platform for a few wanted ones. */
#include "fuzz.h"

#include "oci/manifest.h"

static const char *const content_types[] = {
  NULL,
  "",
  MT_OCI_MANIFEST,
  MT_OCI_INDEX,
  MT_DOCKER_MANIFEST,
  MT_DOCKER_LIST,
  "application/json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
  "text/html",
};

static const char *const platforms[] = {
  "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v6", "unknown/unknown",
};

static void check(const struct bg_manifest *m)
{
  struct bg_platform want;
  struct bg_error err;
  size_t i, k;

  FUZZ_ASSERT(m->kind == BG_MANIFEST_IMAGE || m->kind == BG_MANIFEST_INDEX);
  FUZZ_ASSERT(memchr(m->media_type, '\0', sizeof(m->media_type)) != NULL);
  FUZZ_ASSERT(m->n <= (m->kind == BG_MANIFEST_INDEX ? BG_MAX_INDEX_ENTRIES : BG_MAX_LAYERS));
  FUZZ_ASSERT(m->n == 0 || m->items != NULL);
  for (i = 0; i < m->n; i++) {
    FUZZ_ASSERT(strlen(m->items[i].digest.hex) == BG_SHA256_HEXLEN);
    FUZZ_ASSERT(memchr(m->items[i].media_type, '\0', sizeof(m->items[i].media_type)) != NULL);
  }
  if (m->kind != BG_MANIFEST_INDEX)
    return;
  for (k = 0; k < sizeof(platforms) / sizeof(platforms[0]); k++) {
    bg_error_clear(&err);
    FUZZ_ASSERT(bg_platform_parse(platforms[k], &want, &err) == 0);
    if (bg_manifest_select(m, &want, &i, &err) == 0)
      FUZZ_ASSERT(i < m->n && !m->items[i].attestation);
    else
      FUZZ_ASSERT(err.code == BG_ENOTFOUND && err.msg[0] != '\0');
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct bg_manifest m;
  struct bg_error err;
  size_t k;

  for (k = 0; k < sizeof(content_types) / sizeof(content_types[0]); k++) {
    bg_error_clear(&err);
    if (bg_manifest_parse((const char *)data, size, content_types[k], &m, &err) == 0) {
      check(&m);
      bg_manifest_free(&m);
    } else {
      FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0');
      FUZZ_ASSERT(m.items == NULL && m.n == 0);
    }
  }
  return 0;
}
