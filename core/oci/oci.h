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
  char platform[100];     /* from the config: os/arch[/variant] */
  json_t *config;         /* the image config, parsed once (owned) */
  struct bg_oci_layer *layers;
  size_t nlayers;
};

/* On failure the message starts "pulling <ref>: ". */
int bg_oci_pull(const char *ref, const struct bg_oci_pull_opts *o, struct bg_oci_image **out,
                struct bg_error *err);
void bg_oci_image_free(struct bg_oci_image *img);

#endif
