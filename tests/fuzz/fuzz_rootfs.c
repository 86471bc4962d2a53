/* Rootfs artifact manifests as a registry or a shared cache may serve them: whatever parses is
 * a manifest a restore can trust the shape of (one layer of the rootfs type, the empty config,
 * digests and a size of whole blocks within the cap), and the key's tag is well formed. */
#include "fuzz.h"

#include "oci/rootfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct bg_rootfs a;
  struct bg_error err;
  char tag[BG_KEY_TAG_MAX];

  bg_error_clear(&err);
  if (bg_rootfs_parse((const char *)data, size, &a, &err) != 0) {
    FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0');
    return 0;
  }
  FUZZ_ASSERT(strcmp(a.layer.media_type, MT_ROOTFS_LAYER) == 0);
  FUZZ_ASSERT(strcmp(a.config.digest.hex, BG_EMPTY_HEX) == 0 && a.config.size == 2);
  FUZZ_ASSERT(a.image_size > 0 && a.image_size % 4096 == 0 &&
              a.image_size <= BG_ROOTFS_MAX_SIZE);
  FUZZ_ASSERT(strlen(a.key) == BG_DIGEST_STRLEN - 1 && strlen(a.recipe) == BG_DIGEST_STRLEN - 1);
  FUZZ_ASSERT(memchr(a.created, '\0', sizeof(a.created)) != NULL);
  FUZZ_ASSERT(bg_rootfs_key_tag(a.key, tag, sizeof(tag), &err) == 0);
  FUZZ_ASSERT(strncmp(tag, BG_KEY_TAG_PREFIX, strlen(BG_KEY_TAG_PREFIX)) == 0 &&
              strlen(tag) == BG_KEY_TAG_MAX - 1);
  return 0;
}
