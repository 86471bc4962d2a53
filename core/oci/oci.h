/* Pulling an image into the cache: the entry point banger.oci wraps. */
#ifndef BG_OCI_H
#define BG_OCI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cache.h"
#include "../digest/digest.h"
#include "../util/error.h"

enum bg_pull_policy { BG_PULL_MISSING = 0, BG_PULL_ALWAYS = 1, BG_PULL_NEVER = 2 };

/* A mirror of a registry, tried before it (containerd's hosts.toml, containers'
 * registries.conf): HOST[:PORT][/PREFIX], the prefix put before the repository. Only content
 * named by digest is taken from it unless it may resolve tags, so it cannot change what a tag
 * means; every blob is verified as always. */
struct bg_mirror {
  char location[256];
  int insecure;           /* https without verification, then plain http */
  int resolve;            /* may say what a tag names */
};

struct bg_oci_pull_opts {
  const char *cache_dir;
  const char *platform;   /* "linux/amd64" when NULL */
  int policy;             /* enum bg_pull_policy */
  int insecure;
  int progress;           /* enum bg_progress_mode */
  int parallel;           /* concurrent layer downloads; 0 = default (3) */
  int max_attempts;       /* 0 = default (5) */
  double backoff_scale;   /* < 0 = default: $BANGER_OCI_BACKOFF_SCALE or 1.0 */
  double timeout_scale;   /* <= 0 = default: $BANGER_OCI_TIMEOUT_SCALE or 1.0 */
  int manifest_only;      /* resolve the manifest and the config, fetch no layer */
  const char *pin;        /* "sha256:..": the manifest a tag named when resolved before, or NULL */
  const struct bg_mirror *mirrors; /* tried in order before the registry */
  size_t nmirrors;
};

struct bg_oci_layer {
  char digest[BG_DIGEST_STRLEN];
  char media_type[128];
  uint64_t size;
  char diff_id[BG_DIGEST_STRLEN];
  char path[PATH_MAX];    /* the verified blob in the cache */
};

struct bg_oci_image {
  char name[4600];        /* normalised reference */
  char digest[BG_DIGEST_STRLEN]; /* of the image manifest */
  char media_type[128];
  uint64_t manifest_size;
  char platform[100];     /* from the config: os/arch[/variant] */
  json_t *config;         /* the image config, parsed once (owned) */
  struct bg_oci_layer *layers;
  size_t nlayers;
};

/* On failure the message starts "pulling <ref>: ". */
int bg_oci_pull(const char *ref, const struct bg_oci_pull_opts *o, struct bg_oci_image **out,
                struct bg_error *err);
void bg_oci_image_free(struct bg_oci_image *img);

/* A scale from the environment (BANGER_OCI_TIMEOUT_SCALE, BANGER_OCI_BACKOFF_SCALE): 1.0 when
 * unset or not positive. */
double bg_oci_env_scale(const char *name);

#endif
