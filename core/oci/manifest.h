/* Manifests and indexes (Docker schema 2 and OCI), and platform selection. */
#ifndef BG_OCI_MANIFEST_H
#define BG_OCI_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../digest/digest.h"
#include "../util/error.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define BG_MANIFEST_MAX (4 << 20) /* manifests and indexes */
#define BG_CONFIG_MAX (16 << 20)  /* image configs */
#define BG_MAX_LAYERS 1000
#define BG_MAX_INDEX_ENTRIES 1000

struct bg_platform {
  char os[32], arch[32], variant[32];
};

struct bg_descriptor {
  char media_type[128];
  struct bg_digest digest;
  uint64_t size;
  struct bg_platform platform; /* index entries only */
  int attestation;             /* index entry that is not an image (buildkit attestations) */
};

enum { BG_MANIFEST_IMAGE = 1, BG_MANIFEST_INDEX = 2 };

struct bg_manifest {
  int kind;
  char media_type[128];
  struct bg_descriptor config;  /* images */
  struct bg_descriptor *items;  /* images: layers, oldest first; indexes: manifests */
  size_t n;
};

/* content_type may be NULL or "" (local layouts). Checks mediaType against it. */
int bg_manifest_parse(const char *body, size_t len, const char *content_type,
                      struct bg_manifest *m, struct bg_error *err);
void bg_manifest_free(struct bg_manifest *m);

/* One descriptor object (what and i name it in messages: "layer 3"). */
int bg_descriptor_parse(const json_t *v, struct bg_descriptor *d, const char *what, size_t i,
                        struct bg_error *err);

/* "linux/amd64", "linux/arm64/v8"; arch aliases (x86_64, aarch64) are normalised. */
int bg_platform_parse(const char *s, struct bg_platform *p, struct bg_error *err);
void bg_platform_format(const struct bg_platform *p, char *out, size_t cap);
/* Whether an image's own platform (its config's os, architecture, variant) is the one asked
 * for; a variant only one side names is no mismatch. */
int bg_platform_fits(const struct bg_platform *have, const struct bg_platform *want);
/* The best entry of an index for want: 0 and *index set, or BG_ENOTFOUND listing what exists. */
int bg_manifest_select(const struct bg_manifest *idx, const struct bg_platform *want,
                       size_t *index, struct bg_error *err);

/* Config: rootfs.diff_ids into out (n entries expected), os/arch/variant into plat. With doc
 * non-NULL the parsed document is handed over there (the caller json_decref()s it), so the
 * config is parsed once for everything that reads it. */
int bg_config_parse(const char *body, size_t len, size_t nlayers,
                    char (*diff_ids)[BG_DIGEST_STRLEN], struct bg_platform *plat, json_t **doc,
                    struct bg_error *err);

#endif
