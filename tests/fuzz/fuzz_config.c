/* Image configs and platform strings. The input's first line is a platform ("linux/arm64/v8"),
 * the rest an image config; the first byte also says how many layers the manifest listed. */
#include "fuzz.h"

#include "oci/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nl = memchr(data, '\n', size);
  size_t plen = nl ? (size_t)(nl - data) : size;
  char *plat_s = fuzz_cstr(data, plen), out[128];
  const char *body = nl ? (const char *)nl + 1 : "";
  size_t blen = nl ? size - plen - 1 : 0;
  size_t nlayers = size > 0 ? data[0] % 5 : 0;
  char(*ids)[BG_DIGEST_STRLEN] = malloc(5 * BG_DIGEST_STRLEN);
  struct bg_platform p, q;
  struct bg_error err;
  json_t *doc = NULL;
  size_t i;

  if (ids == NULL)
    abort();
  bg_error_clear(&err);
  if (bg_platform_parse(plat_s, &p, &err) == 0) {
    FUZZ_ASSERT(memchr(p.os, '\0', sizeof(p.os)) && memchr(p.arch, '\0', sizeof(p.arch)) &&
                memchr(p.variant, '\0', sizeof(p.variant)));
    FUZZ_ASSERT(p.os[0] != '\0' && p.arch[0] != '\0');
    /* a parsed platform formats to a string that parses to the same platform */
    bg_platform_format(&p, out, sizeof(out));
    FUZZ_ASSERT(bg_platform_parse(out, &q, &err) == 0);
    FUZZ_ASSERT(!strcmp(p.os, q.os) && !strcmp(p.arch, q.arch) && !strcmp(p.variant, q.variant));
  } else {
    FUZZ_ASSERT(err.code == BG_EINVAL && err.msg[0] != '\0');
  }
  bg_error_clear(&err);
  memset(ids, 0, 5 * BG_DIGEST_STRLEN);
  if (bg_config_parse(body, blen, nlayers, ids, &p, &doc, &err) == 0) {
    /* the document handed on (to Lua) is the one that was checked */
    FUZZ_ASSERT(json_is_object(doc) &&
                json_array_size(json_object_get(json_object_get(doc, "rootfs"), "diff_ids")) ==
                    nlayers);
    json_decref(doc);
    for (i = 0; i < nlayers; i++)
      FUZZ_ASSERT(strlen(ids[i]) == BG_DIGEST_STRLEN - 1);
    FUZZ_ASSERT(memchr(p.os, '\0', sizeof(p.os)) && memchr(p.arch, '\0', sizeof(p.arch)) &&
                memchr(p.variant, '\0', sizeof(p.variant)));
  } else {
    FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0' && doc == NULL);
  }
  free(ids);
  free(plat_s);
  return 0;
}
