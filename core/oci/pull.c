/* The pull: resolve the reference to one image manifest for the platform, make sure the
 * manifest, config and every layer are verified blobs in the cache, record the name. */
#include "oci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "local.h"
#include "manifest.h"
#include "progress.h"
#include "ref.h"
#include "registry.h"
#include "../util/log.h"

#define MAX_INDEX_DEPTH 4
#define MIRROR_ATTEMPTS 2 /* a mirror that fails twice is passed over: the next one waits */

void bg_oci_image_free(struct bg_oci_image *img)
{
  if (img == NULL)
    return;
  if (img->config != NULL)
    json_decref(img->config);
  free(img->layers);
  free(img);
}

/* Builds the result from a manifest whose blobs are all in the cache (config already read).
 * An image whose config names another platform than want is refused: a single-platform
 * manifest is not chosen by platform, so this is where a wrong one shows. */
static int fill_image(const struct bg_cache *c, const struct bg_manifest *m, const char *digest,
                      uint64_t msize, const char *name, const struct bg_platform *want,
                      const struct bg_buf *config, int with_layers, struct bg_oci_image **out,
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
  if (bg_config_parse(config->data ? config->data : "", config->len, m->n, ids, &plat,
                      &img->config, err))
    goto fail;
  if (plat.os[0] != '\0' && plat.arch[0] != '\0' && !bg_platform_fits(&plat, want)) {
    char have[100], asked[100];
    bg_platform_format(&plat, have, sizeof(have));
    bg_platform_format(want, asked, sizeof(asked));
    bg_error_set(err, BG_ENOTFOUND, "the image is for %s, not %s (it offers no other platform)",
                 have, asked);
    goto fail;
  }
  snprintf(img->name, sizeof(img->name), "%s", name);
  snprintf(img->digest, sizeof(img->digest), "%s", digest);
  img->manifest_size = msize;
  snprintf(img->media_type, sizeof(img->media_type), "%s", m->media_type);
  bg_platform_format(&plat, img->platform, sizeof(img->platform));
  img->nlayers = m->n;
  for (i = 0; i < m->n; i++) {
    struct bg_oci_layer *l = &img->layers[i];
    bg_digest_format(m->items[i].digest.raw, l->digest);
    snprintf(l->media_type, sizeof(l->media_type), "%s", m->items[i].media_type);
    l->size = m->items[i].size;
    memcpy(l->diff_id, ids[i], BG_DIGEST_STRLEN);
    if (with_layers)
      bg_cache_blob_path(c, m->items[i].digest.hex, l->path, sizeof(l->path));
  }
  free(ids);
  *out = img;
  return 0;
fail:
  free(ids);
  bg_oci_image_free(img);
  return -1;
}

/* An error that says the cache's copy is bad, not that the machine is (I/O, memory). */
static int is_damage(const struct bg_error *e)
{
  return e->code == BG_EINVAL || e->code == BG_EMISMATCH || e->code == BG_ETOOBIG ||
         e->code == BG_ENOTFOUND;
}

/* The manifest an index entry names: 0 with *m parsed, 1 when its blob is missing or bad, 2
 * when the entry does not fit it (why in err), -1 on error. */
static int cached_manifest(const struct bg_cache *c, const struct bg_index_hit *hit,
                           struct bg_manifest *m, uint64_t *size, struct bg_error *err)
{
  struct bg_digest d;
  struct bg_buf b;
  int rc;

  if (bg_digest_parse(hit->digest, &d, err) != 0)
    return 2;
  bg_buf_init(&b, BG_MANIFEST_MAX);
  rc = bg_cache_read(c, &d, BG_MANIFEST_MAX, &b, err);
  if (rc == 0 && hit->size != BG_SIZE_UNKNOWN && hit->size != b.len) {
    rc = 2;
    bg_error_set(err, BG_EINVAL, "its index entry gives %llu bytes for a manifest of %zu",
                 (unsigned long long)hit->size, b.len);
  } else if (rc == 0) {
    *size = b.len;
    rc = bg_manifest_parse(b.data ? b.data : "", b.len, hit->media_type, m, err);
    if (rc == 0 && m->kind != BG_MANIFEST_IMAGE) {
      bg_manifest_free(m);
      rc = bg_error_set(err, BG_EINVAL, "its index entry names an index, not an image");
    }
    if (rc != 0)
      rc = is_damage(err) ? 2 : -1;
  } else if (rc == 2) {
    rc = 1;
  } else if (rc < 0 && is_damage(err)) {
    rc = 2;
  }
  bg_buf_free(&b);
  return rc;
}

/* Every blob of m in the cache, rehashed? Marks what is missing in need[] (n+1 entries,
 * the config last); without layers only the config is looked at. Returns the number missing,
 * or -1. */
static long check_blobs(const struct bg_cache *c, const struct bg_manifest *m, int layers,
                        char *need, struct bg_error *err)
{
  long missing = 0;
  size_t i;
  int rc;

  for (i = 0; i <= m->n; i++) {
    const struct bg_descriptor *d = i < m->n ? &m->items[i] : &m->config;
    if (i < m->n && !layers) {
      need[i] = 0; /* the manifest and config only: what a build key needs */
      continue;
    }
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
  int rc = bg_cache_read(c, &m->config.digest, BG_CONFIG_MAX, b, err);

  if (rc > 0)
    return bg_error_set(err, BG_EMISMATCH, "config blob sha256:%s vanished from the cache",
                        m->config.digest.hex);
  return rc;
}

/* pull = missing/never: the image as the cache has it; 1 if anything is absent, 2 if its
 * index entry is damaged (why in err). */
static int from_cache(const struct bg_cache *c, const char *name, const struct bg_platform *p,
                      int layers, struct bg_oci_image **out, struct bg_error *err)
{
  struct bg_index_hit hit;
  struct bg_manifest m;
  struct bg_buf config;
  uint64_t msize = 0;
  char *need = NULL;
  long missing;
  int rc;

  rc = bg_cache_index_find(c, name, p, &hit, err);
  if (rc != 0)
    return rc;
  rc = cached_manifest(c, &hit, &m, &msize, err);
  if (rc != 0)
    return rc;
  bg_buf_init(&config, BG_CONFIG_MAX);
  need = calloc(m.n + 1, 1);
  rc = -1;
  if (need == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  missing = check_blobs(c, &m, layers, need, err);
  if (missing < 0)
    goto out;
  if (missing > 0) {
    rc = 1;
    goto out;
  }
  if (read_config(c, &m, &config, err) != 0)
    goto out;
  rc = fill_image(c, &m, hit.digest, msize, name, p, &config, layers, out, err);
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

/* A descriptor's size against a cap, before a byte of it is fetched. */
static int check_size(const struct bg_descriptor *d, const char *what, uint64_t cap,
                      struct bg_error *err)
{
  char have[32], max[32];

  if (d->size <= cap)
    return 0;
  bg_human_bytes((double)d->size, have, sizeof(have));
  bg_human_bytes((double)cap, max, sizeof(max));
  return bg_error_set(err, BG_ETOOBIG, "%s sha256:%s is %llu bytes (%s), over the %s cap", what,
                      d->digest.hex, (unsigned long long)d->size, have, max);
}

/* The blobs to fetch, each digest once however often the manifest lists it (need[i] becomes 2
 * for a repeat). */
static size_t plan(const struct bg_manifest *m, char *need, struct bg_blob_req *reqs,
                   uint64_t *bytes)
{
  size_t i, k, n = 0;

  *bytes = 0;
  for (i = 0; i <= m->n; i++) {
    const struct bg_descriptor *d = i < m->n ? &m->items[i] : &m->config;
    if (!need[i])
      continue;
    for (k = 0; k < n; k++)
      if (memcmp(reqs[k].digest.raw, d->digest.raw, BG_SHA256_LEN) == 0)
        break;
    if (k < n) {
      need[i] = 2;
      continue;
    }
    reqs[n].digest = d->digest;
    reqs[n].size = d->size;
    reqs[n].progress_slot = i < m->n ? (int)i : -1;
    *bytes += d->size;
    n++;
  }
  return n;
}

/* Where a pull's content comes from: the mirrors in order, then the registry itself. */
struct source {
  struct bg_oci_ref ref;          /* the mirror's registry and repository, or the origin's */
  const struct bg_mirror *mirror; /* NULL for the origin */
  struct bg_reg *r;               /* opened when first needed */
  int dead;                       /* a mirror that failed is not asked again in this pull */
};

static int source_open(struct source *s, const struct bg_oci_pull_opts *o, struct bg_error *err)
{
  struct bg_reg_opts ro = {o->insecure || (s->mirror != NULL && s->mirror->insecure),
                           o->backoff_scale, o->timeout_scale,
                           s->mirror != NULL ? MIRROR_ATTEMPTS : o->max_attempts, o->parallel,
                           NULL, NULL};

  if (s->r != NULL)
    return 0;
  return bg_reg_open(&s->ref, &ro, &s->r, err);
}

/* A mirror's failure falls through to the next source; one of this machine does not. */
static int falls_through(const struct source *s, const struct bg_error *e)
{
  return s->mirror != NULL && e->code != BG_EIO && e->code != BG_ENOSPC && e->code != BG_ENOMEM;
}

static void drop_mirror(struct source *s, const char *what, const struct bg_error *e)
{
  bg_log(BG_LOG_WARN, "mirror %s: %s: %s; trying the next source", s->ref.registry, what,
         e->msg);
  s->dead = 1;
}

/* A manifest by digest (want) from the first source that serves it right, or by tag from the
 * mirrors allowed to resolve tags and then the origin. */
static int manifest_from(struct source *src, size_t n, const char *reference,
                         const struct bg_digest *want, const struct bg_oci_pull_opts *o,
                         struct bg_buf *body, struct bg_manifest *m, struct bg_digest *got,
                         struct bg_error *err)
{
  struct bg_error e;
  size_t i;

  for (i = 0; i < n; i++) {
    struct source *s = &src[i];
    if (s->dead || (s->mirror != NULL && want == NULL && !s->mirror->resolve))
      continue;
    bg_error_clear(&e);
    if (source_open(s, o, &e) == 0 &&
        fetch_manifest(s->r, reference, want, body, m, got, &e) == 0)
      return 0;
    if (!falls_through(s, &e)) {
      *err = e;
      return -1;
    }
    drop_mirror(s, "manifest", &e);
  }
  return bg_error_set(err, BG_ENET, "no source served manifest %s", reference);
}

/* The digest a tag names at the origin, with one HEAD, so that the mirrors serve only content
 * named by digest: 0, or 1 when the origin does not say (then its GET decides). */
static int origin_digest(struct source *origin, const char *tag,
                         const struct bg_oci_pull_opts *o, struct bg_digest *d,
                         struct bg_error *err)
{
  char path[BG_REF_TAG_MAX + 16];
  struct bg_reg_req q = {"manifest", "HEAD", path, MT_OCI_INDEX ", " MT_DOCKER_LIST ", "
                         MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST, NULL, NULL, 0};
  struct bg_reg_reply rep;
  struct bg_buf b;
  int rc;

  snprintf(path, sizeof(path), "manifests/%s", tag);
  if (source_open(origin, o, err) != 0)
    return -1;
  bg_buf_init(&b, BG_ERROR_BODY_MAX);
  rc = bg_reg_request(origin->r, &q, &b, &rep, err);
  bg_buf_free(&b);
  if (rc == 1)
    return bg_error_set(err, BG_ENOTFOUND, "manifest unknown (HTTP 404)");
  if (rc != 0)
    return -1;
  if (rep.digest[0] == '\0')
    return 1;
  return bg_digest_parse(rep.digest, d, err);
}

/* Fetches the blobs from the first source that can; after a mirror fails, the blobs it did
 * not finish go to the next. */
static int blobs_from(struct source *src, size_t n, const struct bg_cache *c,
                      struct bg_blob_req *reqs, size_t nreq, struct bg_progress *p,
                      const struct bg_oci_pull_opts *o, struct bg_error *err)
{
  struct bg_error e;
  size_t i, j, k;
  int rc;

  for (i = 0; i < n && nreq > 0; i++) {
    struct source *s = &src[i];
    if (s->dead)
      continue;
    bg_error_clear(&e);
    if (source_open(s, o, &e) == 0 && bg_reg_fetch_blobs(s->r, c, reqs, nreq, p, &e) == 0)
      return 0;
    if (!falls_through(s, &e)) {
      *err = e;
      return -1;
    }
    drop_mirror(s, "blobs", &e);
    for (j = k = 0; j < nreq; j++) {
      rc = bg_cache_check(c, &reqs[j].digest, reqs[j].size, err);
      if (rc < 0)
        return -1;
      if (rc != 0)
        reqs[k++] = reqs[j];
    }
    nreq = k;
  }
  return nreq == 0 ? 0 : bg_error_set(err, BG_ENET, "no source served every blob");
}

static int any_resolves(const struct bg_oci_pull_opts *o)
{
  size_t i;

  for (i = 0; i < o->nmirrors; i++)
    if (o->mirrors[i].resolve)
      return 1;
  return 0;
}

/* The sources of a pull: each mirror as a reference of its own (its host, its prefix before
 * the repository), then the origin. */
static int make_sources(const struct bg_oci_ref *ref, const struct bg_oci_pull_opts *o,
                        struct source **out, size_t *n, struct bg_error *err)
{
  struct source *src = calloc(o->nmirrors + 1, sizeof(*src));
  char name[2 * BG_REF_NAME_MAX + 8];
  size_t i;

  if (src == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  for (i = 0; i < o->nmirrors; i++) {
    const struct bg_mirror *m = &o->mirrors[i];
    snprintf(name, sizeof(name), "%s/%s", m->location, ref->repository);
    if (bg_oci_ref_parse(name, &src[i].ref, err) != 0 ||
        strncmp(m->location, src[i].ref.registry, strlen(src[i].ref.registry)) != 0) {
      bg_error_clear(err);
      free(src);
      return bg_error_set(err, BG_EINVAL, "mirror '%.200s' is not HOST[:PORT][/PREFIX] of a "
                          "registry (a host with a dot or a port, or localhost)", m->location);
    }
    src[i].mirror = m;
  }
  src[o->nmirrors].ref = *ref;
  *out = src;
  *n = o->nmirrors + 1;
  return 0;
}

static int from_registry(const struct bg_cache *c, const struct bg_oci_ref *ref,
                         const struct bg_platform *want, const struct bg_oci_pull_opts *o,
                         struct bg_oci_image **out, struct bg_error *err)
{
  struct source *src = NULL;
  struct bg_manifest m = {0};
  struct bg_buf body, config;
  struct bg_digest d, pinned;
  struct bg_blob_req *reqs = NULL;
  struct bg_progress prog;
  char digest[BG_DIGEST_STRLEN], ref_s[BG_DIGEST_STRLEN];
  const char *reference = ref->digest[0] ? ref->digest : ref->tag;
  char *need = NULL;
  size_t i, nreq, depth, nsrc = 0;
  uint64_t bytes;
  long missing;
  int rc = -1, pin = 0;

  memset(&prog, 0, sizeof(prog));
  bg_buf_init(&body, BG_MANIFEST_MAX);
  bg_buf_init(&config, BG_CONFIG_MAX);
  bg_cache_sweep(c);
  if (make_sources(ref, o, &src, &nsrc, err) != 0)
    goto out;
  if (ref->digest[0] != '\0' || o->pin != NULL) {
    if (bg_digest_parse(ref->digest[0] ? ref->digest : o->pin, &pinned, err) != 0)
      goto out;
    pin = 1;
    bg_digest_format(pinned.raw, ref_s);
    reference = ref_s;
  } else if (nsrc > 1 && !any_resolves(o)) {
    /* with mirrors, the origin says what the tag names and they serve it by digest */
    rc = origin_digest(&src[nsrc - 1], ref->tag, o, &pinned, err);
    if (rc < 0)
      goto out;
    pin = rc == 0;
    rc = -1;
    if (pin) {
      bg_digest_format(pinned.raw, ref_s);
      reference = ref_s;
    }
  }
  if (manifest_from(src, nsrc, reference, pin ? &pinned : NULL, o, &body, &m, &d, err) != 0)
    goto out;
  for (depth = 0; m.kind == BG_MANIFEST_INDEX; depth++) {
    if (depth >= MAX_INDEX_DEPTH) {
      bg_error_set(err, BG_EINVAL, "indexes nested more than %d deep", MAX_INDEX_DEPTH);
      goto out;
    }
    if (bg_manifest_select(&m, want, &i, err) != 0 ||
        check_size(&m.items[i], "manifest", BG_MANIFEST_MAX, err) != 0)
      goto out;
    pinned = m.items[i].digest;
    bg_digest_format(pinned.raw, ref_s);
    bg_manifest_free(&m);
    if (manifest_from(src, nsrc, ref_s, &pinned, o, &body, &m, &d, err) != 0)
      goto out;
  }
  if (check_size(&m.config, "config", BG_CONFIG_MAX, err) != 0)
    goto out;
  bg_digest_format(d.raw, digest);
  if (bg_cache_put(c, &d, body.data, body.len, err) != 0)
    goto out;
  need = calloc(m.n + 1, 1);
  reqs = calloc(m.n + 1, sizeof(*reqs));
  if (need == NULL || reqs == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  missing = check_blobs(c, &m, !o->manifest_only, need, err);
  if (missing < 0)
    goto out;
  nreq = plan(&m, need, reqs, &bytes);
  if (bg_cache_check_space(c, bytes, err) != 0)
    goto out;
  if (!o->manifest_only) {
    bg_progress_init(&prog, o->progress, ref->name, m.n);
    for (i = 0; i < m.n; i++) {
      char ds[BG_DIGEST_STRLEN];
      bg_digest_format(m.items[i].digest.raw, ds);
      bg_progress_item(&prog, i, ds, m.items[i].size);
      if (!need[i])
        bg_progress_done(&prog, i, 1);
    }
  }
  if (blobs_from(src, nsrc, c, reqs, nreq, &prog, o, err) != 0)
    goto out;
  for (i = 0; i < m.n && !o->manifest_only; i++)
    if (need[i] == 2)
      bg_progress_done(&prog, i, 1); /* listed again: fetched once, under its first place */
  if (read_config(c, &m, &config, err) != 0)
    goto out;
  if (fill_image(c, &m, digest, body.len, ref->name, want, &config, !o->manifest_only, out,
                 err) != 0)
    goto out;
  if (bg_cache_index_record(c, ref->name, want, &m, digest, body.len, err) != 0) {
    bg_oci_image_free(*out);
    *out = NULL;
    goto out;
  }
  rc = 0;
out:
  bg_progress_free(&prog);
  free(need);
  free(reqs);
  bg_manifest_free(&m);
  bg_buf_free(&body);
  bg_buf_free(&config);
  for (i = 0; i < nsrc; i++)
    bg_reg_close(src[i].r);
  free(src);
  return rc;
}

double bg_oci_env_scale(const char *name)
{
  const char *env = getenv(name);
  double v = env ? strtod(env, NULL) : 1.0;

  return v > 0 ? v : 1.0;
}

int bg_oci_pull(const char *refstr, const struct bg_oci_pull_opts *o, struct bg_oci_image **out,
                struct bg_error *err)
{
  struct bg_oci_pull_opts opts = *o;
  struct bg_oci_ref *ref = NULL;
  struct bg_platform want;
  struct bg_cache c;
  struct bg_error why;
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
  if (opts.backoff_scale < 0)
    opts.backoff_scale = bg_oci_env_scale("BANGER_OCI_BACKOFF_SCALE");
  if (!(opts.timeout_scale > 0))
    opts.timeout_scale = bg_oci_env_scale("BANGER_OCI_TIMEOUT_SCALE");
  if (bg_cache_open(opts.cache_dir, &c, err) != 0)
    goto out;
  if (ref->transport != BG_REF_DOCKER) {
    /* local sources are copied in through the same checks, then read back like a pull */
    bg_cache_sweep(&c);
    rc = bg_oci_local_import(ref, &c, &want, digest, mt, sizeof(mt), err);
    if (rc == 0) {
      rc = from_cache(&c, ref->name, &want, 1, out, err);
      if (rc > 0)
        rc = bg_error_set(err, BG_EMISMATCH, "the imported image is incomplete");
    }
    goto out;
  }
  if (opts.policy != BG_PULL_ALWAYS) {
    bg_error_clear(&why);
    rc = from_cache(&c, ref->name, &want, !opts.manifest_only, out, &why);
    if (rc < 0)
      *err = why;
    if (rc <= 0)
      goto out;
    if (opts.policy == BG_PULL_NEVER) {
      rc = bg_error_set(err, BG_ENOTFOUND, "not in the cache %s%s%s%s and pull is \"never\"",
                        c.dir, rc == 2 ? " (" : "", rc == 2 ? why.msg : "", rc == 2 ? ")" : "");
      goto out;
    }
    if (rc == 2)
      bg_log(BG_LOG_WARN, "%s: the cache's copy is damaged (%s): resolving it again",
             ref->name, why.msg);
  }
  rc = from_registry(&c, ref, &want, &opts, out, err);
out:
  if (rc != 0)
    bg_error_prefix(err, "pulling %s", ref->name[0] ? ref->name : refstr);
  free(ref);
  return rc;
}
