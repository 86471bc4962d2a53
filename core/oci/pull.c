/* The pull: resolve the reference to one image manifest for the platform, make sure the
 * manifest, config and every layer are verified blobs in the cache, record the name. */
#include "oci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "manifest.h"
#include "progress.h"
#include "ref.h"
#include "registry.h"

#define CONFIG_MAX (16 << 20)
#define MAX_INDEX_DEPTH 4

void bg_oci_image_free(struct bg_oci_image *img)
{
  if (img == NULL)
    return;
  free(img->config);
  free(img->layers);
  free(img);
}

/* Builds the result from a manifest whose blobs are all in the cache (config already read). */
static int fill_image(const struct bg_cache *c, const struct bg_manifest *m, const char *digest,
                      const char *name, struct bg_buf *config, struct bg_oci_image **out,
                      struct bg_error *err)
{
  struct bg_oci_image *img = calloc(1, sizeof(*img));
  char(*ids)[BG_DIGEST_STRLEN] = NULL;
  struct bg_platform plat;
  size_t i;

  if (img == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  ids = calloc(m->n ? m->n : 1, sizeof(*ids));
  img->layers = calloc(m->n ? m->n : 1, sizeof(*img->layers));
  if (ids == NULL || img->layers == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto fail;
  }
  if (bg_config_parse(config->data ? config->data : "", config->len, m->n, ids, &plat, err))
    goto fail;
  snprintf(img->name, sizeof(img->name), "%s", name);
  snprintf(img->digest, sizeof(img->digest), "%s", digest);
  snprintf(img->media_type, sizeof(img->media_type), "%s", m->media_type);
  bg_platform_format(&plat, img->platform, sizeof(img->platform));
  img->nlayers = m->n;
  for (i = 0; i < m->n; i++) {
    struct bg_oci_layer *l = &img->layers[i];
    bg_digest_format(m->items[i].digest.raw, l->digest);
    snprintf(l->media_type, sizeof(l->media_type), "%s", m->items[i].media_type);
    l->size = m->items[i].size;
    memcpy(l->diff_id, ids[i], BG_DIGEST_STRLEN);
    bg_cache_blob_path(c, m->items[i].digest.hex, l->path, sizeof(l->path));
  }
  img->config_len = config->len;
  img->config = bg_buf_take(config, NULL);
  free(ids);
  *out = img;
  return 0;
fail:
  free(ids);
  bg_oci_image_free(img);
  return -1;
}

/* 0 with *m parsed, 1 when the manifest blob is missing or corrupt, -1 on error. */
static int cached_manifest(const struct bg_cache *c, const char *digest, const char *mt,
                           struct bg_manifest *m, struct bg_error *err)
{
  struct bg_digest d;
  struct bg_buf b;
  int rc;

  if (bg_digest_parse(digest, &d, err) != 0)
    return -1;
  bg_buf_init(&b, BG_MANIFEST_MAX);
  rc = bg_cache_read(c, &d, BG_MANIFEST_MAX, &b, err);
  if (rc == 0) {
    rc = bg_manifest_parse(b.data ? b.data : "", b.len, mt, m, err);
    if (rc == 0 && m->kind != BG_MANIFEST_IMAGE) {
      bg_manifest_free(m);
      rc = bg_error_set(err, BG_EINVAL, "cached %s is not an image manifest", digest);
    }
  } else if (rc == 2) {
    rc = 1;
  }
  bg_buf_free(&b);
  return rc;
}

/* Every blob of m in the cache, rehashed? Marks what is missing in need[] (n+1 entries,
 * the config last). Returns the number missing, or -1. */
static long check_blobs(const struct bg_cache *c, const struct bg_manifest *m, char *need,
                        struct bg_error *err)
{
  long missing = 0;
  size_t i;
  int rc;

  for (i = 0; i <= m->n; i++) {
    const struct bg_descriptor *d = i < m->n ? &m->items[i] : &m->config;
    rc = bg_cache_check(c, &d->digest, d->size, err);
    if (rc < 0)
      return -1;
    need[i] = rc != 0;
    if (rc != 0)
      missing++;
  }
  return missing;
}

static int read_config(const struct bg_cache *c, const struct bg_manifest *m, struct bg_buf *b,
                       struct bg_error *err)
{
  int rc = bg_cache_read(c, &m->config.digest, CONFIG_MAX, b, err);

  if (rc > 0)
    return bg_error_set(err, BG_EMISMATCH, "config blob sha256:%s vanished from the cache",
                        m->config.digest.hex);
  return rc;
}

/* pull = missing/never: the image as the cache has it, or 1 if anything is absent. */
static int from_cache(const struct bg_cache *c, const char *name, const struct bg_platform *p,
                      struct bg_oci_image **out, struct bg_error *err)
{
  char digest[BG_DIGEST_STRLEN], mt[128];
  struct bg_manifest m;
  struct bg_buf config;
  char *need = NULL;
  long missing;
  int rc;

  rc = bg_cache_index_find(c, name, p->os, p->arch, p->variant, digest, mt, sizeof(mt), err);
  if (rc != 0)
    return rc;
  rc = cached_manifest(c, digest, mt, &m, err);
  if (rc != 0)
    return rc;
  bg_buf_init(&config, CONFIG_MAX);
  need = calloc(m.n + 1, 1);
  rc = -1;
  if (need == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  missing = check_blobs(c, &m, need, err);
  if (missing < 0)
    goto out;
  if (missing > 0) {
    rc = 1;
    goto out;
  }
  if (read_config(c, &m, &config, err) != 0)
    goto out;
  rc = fill_image(c, &m, digest, name, &config, out, err);
out:
  free(need);
  bg_buf_free(&config);
  bg_manifest_free(&m);
  return rc;
}

/* Fetches a manifest by tag or digest and checks it against the digest when one is known. */
static int fetch_manifest(struct bg_reg *r, const char *reference, const struct bg_digest *want,
                          struct bg_buf *body, struct bg_manifest *m, struct bg_digest *got,
                          struct bg_error *err)
{
  char ct[256];
  char hex[BG_DIGEST_STRLEN];

  if (bg_reg_get_manifest(r, reference, body, ct, sizeof(ct), err) != 0)
    return -1;
  if (bg_sha256_buf(body->data ? body->data : "", body->len, got->raw, err) != 0)
    return -1;
  bg_hex(got->raw, BG_SHA256_LEN, got->hex);
  if (want != NULL && memcmp(want->raw, got->raw, BG_SHA256_LEN) != 0) {
    bg_digest_format(got->raw, hex);
    return bg_error_set(err, BG_EMISMATCH, "manifest digest mismatch: expected sha256:%s, "
                        "got %s", want->hex, hex);
  }
  return bg_manifest_parse(body->data ? body->data : "", body->len, ct, m, err);
}

static int from_registry(const struct bg_cache *c, const struct bg_oci_ref *ref,
                         const struct bg_platform *want, const struct bg_oci_pull_opts *o,
                         struct bg_oci_image **out, struct bg_error *err)
{
  struct bg_reg_opts ro = {o->insecure, o->backoff_scale, o->max_attempts, o->parallel};
  struct bg_reg *r = NULL;
  struct bg_manifest m = {0};
  struct bg_buf body, config;
  struct bg_digest d, pinned;
  struct bg_blob_req *reqs = NULL;
  struct bg_progress prog;
  char digest[BG_DIGEST_STRLEN], ref_s[BG_DIGEST_STRLEN];
  char *need = NULL;
  size_t i, nreq = 0, depth;
  long missing;
  int rc = -1;

  memset(&prog, 0, sizeof(prog));
  bg_buf_init(&body, BG_MANIFEST_MAX);
  bg_buf_init(&config, CONFIG_MAX);
  if (bg_reg_open(ref, &ro, &r, err) != 0)
    goto out;
  if (ref->digest[0] != '\0' && bg_digest_parse(ref->digest, &pinned, err) != 0)
    goto out;
  if (fetch_manifest(r, ref->digest[0] ? ref->digest : ref->tag,
                     ref->digest[0] ? &pinned : NULL, &body, &m, &d, err) != 0)
    goto out;
  for (depth = 0; m.kind == BG_MANIFEST_INDEX; depth++) {
    if (depth >= MAX_INDEX_DEPTH) {
      bg_error_set(err, BG_EINVAL, "indexes nested more than %d deep", MAX_INDEX_DEPTH);
      goto out;
    }
    if (bg_manifest_select(&m, want, &i, err) != 0)
      goto out;
    pinned = m.items[i].digest;
    bg_digest_format(pinned.raw, ref_s);
    bg_manifest_free(&m);
    if (fetch_manifest(r, ref_s, &pinned, &body, &m, &d, err) != 0)
      goto out;
  }
  bg_digest_format(d.raw, digest);
  if (bg_cache_put(c, &d, body.data, body.len, err) != 0)
    goto out;
  need = calloc(m.n + 1, 1);
  reqs = calloc(m.n + 1, sizeof(*reqs));
  if (need == NULL || reqs == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  missing = check_blobs(c, &m, need, err);
  if (missing < 0)
    goto out;
  bg_progress_init(&prog, o->progress, ref->name, m.n);
  for (i = 0; i < m.n; i++) {
    char ds[BG_DIGEST_STRLEN];
    bg_digest_format(m.items[i].digest.raw, ds);
    bg_progress_item(&prog, i, ds, m.items[i].size);
  }
  for (i = 0; i <= m.n; i++) {
    const struct bg_descriptor *dd = i < m.n ? &m.items[i] : &m.config;
    if (!need[i]) {
      if (i < m.n)
        bg_progress_done(&prog, i, 1);
      continue;
    }
    reqs[nreq].digest = dd->digest;
    reqs[nreq].size = dd->size;
    reqs[nreq].progress_slot = i < m.n ? (int)i : -1;
    nreq++;
  }
  if (bg_reg_fetch_blobs(r, c, reqs, nreq, &prog, err) != 0)
    goto out;
  if (read_config(c, &m, &config, err) != 0)
    goto out;
  if (bg_oci_record(c, ref->name, want, &m, digest, body.len, err) != 0)
    goto out;
  rc = fill_image(c, &m, digest, ref->name, &config, out, err);
out:
  bg_progress_free(&prog);
  free(need);
  free(reqs);
  bg_manifest_free(&m);
  bg_buf_free(&body);
  bg_buf_free(&config);
  bg_reg_close(r);
  return rc;
}

int bg_oci_pull(const char *refstr, const struct bg_oci_pull_opts *o, struct bg_oci_image **out,
                struct bg_error *err)
{
  struct bg_oci_pull_opts opts = *o;
  struct bg_oci_ref *ref = NULL;
  struct bg_platform want;
  struct bg_cache c;
  const char *env;
  char digest[BG_DIGEST_STRLEN], mt[128];
  int rc = -1;

  *out = NULL;
  ref = calloc(1, sizeof(*ref));
  if (ref == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  if (bg_oci_ref_parse(refstr, ref, err) != 0)
    goto out;
  if (bg_platform_parse(opts.platform ? opts.platform : "linux/amd64", &want, err) != 0)
    goto out;
  if (opts.backoff_scale < 0) {
    env = getenv("BANGER_OCI_BACKOFF_SCALE");
    opts.backoff_scale = env ? strtod(env, NULL) : 1.0;
  }
  if (bg_cache_open(opts.cache_dir, &c, err) != 0)
    goto out;
  if (ref->transport != BG_REF_DOCKER) {
    /* local sources are copied in through the same checks, then read back like a pull */
    rc = bg_oci_local_import(ref, &c, &want, digest, mt, sizeof(mt), err);
    if (rc == 0) {
      rc = from_cache(&c, ref->name, &want, out, err);
      if (rc > 0)
        rc = bg_error_set(err, BG_EMISMATCH, "the imported image is incomplete");
    }
    goto out;
  }
  if (opts.policy != BG_PULL_ALWAYS) {
    rc = from_cache(&c, ref->name, &want, out, err);
    if (rc <= 0)
      goto out;
    if (opts.policy == BG_PULL_NEVER) {
      rc = bg_error_set(err, BG_ENOTFOUND, "not in the cache %s and pull is \"never\"", c.dir);
      goto out;
    }
  }
  rc = from_registry(&c, ref, &want, &opts, out, err);
out:
  if (rc != 0)
    bg_error_prefix(err, "pulling %s", ref->name[0] ? ref->name : refstr);
  free(ref);
  return rc;
}
