/* A built root filesystem as an OCI artifact: an image manifest with artifactType
 * application/vnd.banger.rootfs.v1, the empty config, one layer (the ext4 image compressed with
 * zstd), subject = the source image's manifest, and annotations naming the build key, the
 * recipe and the uncompressed image. It lives in the cache like any image (index.json names it
 * "banger-<key hex>") and is what a registry holds for a fleet. A manifest read back, from the
 * cache or a registry, is checked field by field before anything is written from it. */
#ifndef BG_OCI_ROOTFS_H
#define BG_OCI_ROOTFS_H

#include <stdint.h>

#include "cache.h"
#include "manifest.h"

#define MT_ROOTFS "application/vnd.banger.rootfs.v1"
#define MT_ROOTFS_LAYER "application/vnd.banger.rootfs.v1.ext4+zstd"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define BG_EMPTY_HEX "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define BG_ANNOT_KEY "dev.banger.key"
#define BG_ANNOT_RECIPE "dev.banger.recipe.sha256"
#define BG_ANNOT_IMAGE_SHA "dev.banger.rootfs.sha256"
#define BG_ANNOT_IMAGE_SIZE "dev.banger.rootfs.size"
#define BG_ANNOT_CREATED "org.opencontainers.image.created"
#define BG_KEY_TAG_PREFIX "banger-"
#define BG_KEY_TAG_MAX (sizeof(BG_KEY_TAG_PREFIX) + BG_SHA256_HEXLEN)
/* the largest image an artifact may claim (written sparse, so only its data takes space) */
#define BG_ROOTFS_MAX_SIZE (64ULL << 40)

struct bg_rootfs {
  char digest[BG_DIGEST_STRLEN]; /* of the artifact manifest */
  uint64_t size;                 /* of the artifact manifest */
  char key[BG_DIGEST_STRLEN];
  char recipe[BG_DIGEST_STRLEN];
  char created[64];
  struct bg_descriptor config, layer, subject;
  struct bg_digest image;        /* the uncompressed ext4 image */
  uint64_t image_size;
};

/* What a new artifact says of itself. */
struct bg_rootfs_meta {
  const char *key, *recipe;     /* "sha256:<hex>" */
  const char *created;          /* RFC 3339 */
  const char *subject_type, *subject_digest;
  uint64_t subject_size;
  const char *platform;         /* for the index entry: "linux/amd64" */
  /* the image's sha256 when the caller has it (its writer hashed it as it closed it), or
   * NULL: then it is taken as the image is compressed */
  const char *image_sha256;
};

/* The tag a key is kept under: "banger-<hex>" (out holds BG_KEY_TAG_MAX bytes). */
int bg_rootfs_key_tag(const char *key, char *out, size_t cap, struct bg_error *err);

/* Checks a manifest is a rootfs artifact as specified: BG_EINVAL naming what is wrong. */
int bg_rootfs_parse(const char *body, size_t len, struct bg_rootfs *a, struct bg_error *err);

/* Compresses the image at path into the cache, writes the manifest there and records it in
 * index.json under the key; a fills in. */
int bg_rootfs_store(const struct bg_cache *c, const char *path, const struct bg_rootfs_meta *m,
                    struct bg_rootfs *a, struct bg_error *err);

/* Records a (a manifest already in the cache) under its key, last in index.json: a use. */
int bg_rootfs_record(const struct bg_cache *c, const struct bg_rootfs *a, const char *platform,
                     struct bg_error *err);

/* The artifact index.json records for key: 0 found (manifest read and checked), 1 none, 2 an
 * entry that cannot be used (why in err), -1 on error. */
int bg_rootfs_find(const struct bg_cache *c, const char *key, struct bg_rootfs *a,
                   struct bg_error *err);

/* Reads a manifest of the cache by digest and checks it: 0, 1 missing, 2 unusable, -1. */
int bg_rootfs_load(const struct bg_cache *c, const char *digest, struct bg_rootfs *a,
                   struct bg_error *err);

/* Writes the image out of the artifact's layer (in the cache) to out, under a temp name beside
 * it renamed when whole: the layer's digest, the image's size and sha256 checked as it
 * streams, zero blocks left as holes. A layer whose digest is wrong is removed. */
int bg_rootfs_restore(const struct bg_cache *c, const struct bg_rootfs *a, const char *out,
                      struct bg_error *err);

#endif
