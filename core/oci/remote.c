/* Artifacts and registries: a manifest of the cache pushed with its blobs (then listed under
 * its subject: the registry's referrers API when it has one, else the referrers tag schema of
 * distribution-spec 1.1, an index tagged sha256-<hex> kept up to date by read, add, write and
 * read again); the manifest a tag names asked for with one HEAD; a rootfs artifact fetched
 * into the cache with every digest checked. The blobs go first and the manifest last, so a
 * registry never holds a manifest whose blobs it lacks, whenever a push is cut short. */
#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "registry.h"
#include "../util/escape.h"
#include "../util/json.h"
#include "../util/log.h"

#define REFERRERS_ROUNDS 4
#define REQ_PATH_MAX (BG_REF_TAG_MAX + BG_DIGEST_STRLEN + 32)
#define ACCEPT_MANIFESTS                                                                        \
  MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST

static int open_reg(const char *refstr, const struct bg_remote_opts *o, const char *actions,
                    struct bg_oci_ref *ref, struct bg_reg **r, struct bg_error *err)
{
  struct bg_reg_opts ro = {o->insecure, o->backoff_scale, o->timeout_scale, o->max_attempts, 3,
                           actions, o->mount_from};

  if (bg_oci_ref_parse(refstr, ref, err) != 0)
    return -1;
  if (ref->transport != BG_REF_DOCKER)
    return bg_error_set(err, BG_EINVAL, "%s is not in a registry", ref->name);
  if (ro.backoff_scale < 0)
    ro.backoff_scale = 1.0;
  return bg_reg_open(ref, &ro, r, err);
}

static const char *reference_of(const struct bg_oci_ref *ref)
{
  return ref->digest[0] != '\0' ? ref->digest : ref->tag;
}

/* ---- push ---- */

static json_t *descriptor_of(const char *mt, const char *digest, uint64_t size,
                             const json_t *doc)
{
  const json_t *at = json_object_get(doc, "artifactType"), *an;
  json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size",
                        (json_int_t)size);

  /* an image without an artifactType is listed by its config's type, as the spec says */
  if (!json_is_string(at))
    at = json_object_get(json_object_get(doc, "config"), "mediaType");
  an = json_object_get(doc, "annotations");
  if (d != NULL && ((json_is_string(at) && json_object_set(d, "artifactType", (json_t *)at)) ||
                    (json_is_object(an) && json_object_set(d, "annotations", (json_t *)an)))) {
    json_decref(d);
    d = NULL;
  }
  return d;
}

static int listed(const json_t *index, const char *digest)
{
  const json_t *x;
  const char *ds;
  size_t i;

  json_array_foreach(json_object_get(index, "manifests"), i, x) {
    ds = bg_json_getstr(x, "digest");
    if (ds != NULL && strcmp(ds, digest) == 0)
      return 1;
  }
  return 0;
}

/* The referrers index under tag, parsed (a new empty one when the tag does not exist). */
static int get_referrers(struct bg_reg *r, const char *tag, json_t **index,
                         struct bg_error *err)
{
  char path[REQ_PATH_MAX], what[160];
  struct bg_reg_req q = {what, "GET", path, MT_OCI_INDEX, NULL, NULL, 0};
  struct bg_reg_reply rep;
  const char *mt;
  struct bg_buf b;
  int rc;

  *index = NULL;
  snprintf(path, sizeof(path), "manifests/%s", tag);
  snprintf(what, sizeof(what), "referrers index %s", tag);
  bg_buf_init(&b, BG_MANIFEST_MAX);
  rc = bg_reg_request(r, &q, &b, &rep, err);
  if (rc == 1) {
    *index = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                       "manifests");
    rc = *index == NULL ? bg_error_set(err, BG_ENOMEM, "out of memory") : 0;
  } else if (rc == 0) {
    rc = bg_json_parse(b.data ? b.data : "", b.len, index, err);
    mt = rc == 0 ? bg_json_getstr(*index, "mediaType") : NULL;
    if (rc == 0 && (mt == NULL || strcmp(mt, MT_OCI_INDEX) != 0 ||
                    !json_is_array(json_object_get(*index, "manifests")))) {
      json_decref(*index);
      *index = NULL;
      rc = bg_error_set(err, BG_EINVAL, "tag %s holds something other than an OCI index: "
                        "not overwritten", tag);
    } else if (rc != 0) {
      bg_error_prefix(err, "%s", what);
    }
  }
  bg_buf_free(&b);
  return rc;
}

/* The referrers tag schema: read, add, write, read again (another pusher may have written the
 * tag between), a few rounds at most. */
static int tag_referrer(struct bg_reg *r, const struct bg_digest *subject, const char *mt,
                        const char *digest, uint64_t size, const json_t *doc,
                        struct bg_error *err)
{
  char tag[BG_SHA256_HEXLEN + 8], path[REQ_PATH_MAX], what[160];
  struct bg_reg_req q = {what, "PUT", path, NULL, MT_OCI_INDEX, NULL, 0};
  struct bg_reg_reply rep;
  json_t *index = NULL;
  struct bg_buf b, resp;
  int round, rc = -1;

  snprintf(tag, sizeof(tag), "sha256-%s", subject->hex);
  snprintf(path, sizeof(path), "manifests/%s", tag);
  snprintf(what, sizeof(what), "referrers index %s", tag);
  bg_buf_init(&b, BG_MANIFEST_MAX);
  bg_buf_init(&resp, BG_ERROR_BODY_MAX);
  for (round = 0; round < REFERRERS_ROUNDS; round++) {
    if (get_referrers(r, tag, &index, err) != 0)
      goto out;
    if (listed(index, digest)) {
      rc = 0;
      goto out;
    }
    if (round == REFERRERS_ROUNDS - 1)
      break;
    if (json_array_size(json_object_get(index, "manifests")) >= BG_MAX_INDEX_ENTRIES) {
      bg_error_set(err, BG_ETOOBIG, "referrers index %s already lists %d manifests", tag,
                   BG_MAX_INDEX_ENTRIES);
      goto out;
    }
    if (json_array_append_new(json_object_get(index, "manifests"),
                              descriptor_of(mt, digest, size, doc)) != 0) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
    bg_buf_reset(&b);
    if (bg_json_dump(&b, index, err) != 0)
      goto out;
    json_decref(index);
    index = NULL;
    q.body = b.data;
    q.len = b.len;
    if (bg_reg_request(r, &q, &resp, &rep, err) != 0)
      goto out;
  }
  bg_error_set(err, BG_ENET, "referrers index %s kept changing under %d updates", tag,
               REFERRERS_ROUNDS);
out:
  if (index != NULL)
    json_decref(index);
  bg_buf_free(&b);
  bg_buf_free(&resp);
  return rc;
}

/* Lists the manifest under its subject: "api" when the registry does it, "tag" when the
 * referrers tag schema had to. */
static int link_subject(struct bg_reg *r, const struct bg_reg_reply *put, const json_t *doc,
                        const char *mt, const char *digest, uint64_t size, const char **how,
                        struct bg_error *err)
{
  const char *sd = bg_json_getstr(json_object_get(doc, "subject"), "digest");
  char path[REQ_PATH_MAX];
  struct bg_reg_req q = {"referrers API", "GET", path, MT_OCI_INDEX, NULL, NULL, 0};
  struct bg_reg_reply rep;
  struct bg_digest subject;
  struct bg_buf b;
  int rc;

  *how = "";
  if (sd == NULL)
    return 0;
  if (bg_digest_parse(sd, &subject, err) != 0)
    return bg_error_prefix(err, "the manifest's subject");
  *how = "api";
  if (put->oci_subject)
    return 0;
  snprintf(path, sizeof(path), "referrers/sha256:%s", subject.hex);
  bg_buf_init(&b, BG_MANIFEST_MAX);
  rc = bg_reg_request(r, &q, &b, &rep, err);
  bg_buf_free(&b);
  if (rc < 0)
    return -1;
  if (rc == 0)
    return 0;
  *how = "tag";
  return tag_referrer(r, &subject, mt, digest, size, doc, err);
}

int bg_remote_push(const struct bg_cache *c, const char *digest, const char *dest,
                   const struct bg_remote_opts *o, struct bg_remote_push_result *res,
                   struct bg_error *err)
{
  struct bg_oci_ref *ref = calloc(1, sizeof(*ref));
  struct bg_reg *r = NULL;
  struct bg_manifest m = {0};
  struct bg_push_blob *blobs = NULL;
  struct bg_progress prog;
  struct bg_reg_reply rep;
  struct bg_digest d;
  struct bg_buf body, resp;
  json_t *doc = NULL;
  char (*paths)[PATH_MAX] = NULL, path[REQ_PATH_MAX], what[200], ds[BG_DIGEST_STRLEN];
  struct bg_reg_req q = {what, "PUT", path, NULL, NULL, NULL, 0};
  const char *how;
  size_t i, n;
  int rc = -1;

  memset(res, 0, sizeof(*res));
  memset(&prog, 0, sizeof(prog));
  bg_buf_init(&body, BG_MANIFEST_MAX);
  bg_buf_init(&resp, BG_ERROR_BODY_MAX);
  if (ref == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  if (bg_digest_parse(digest, &d, err) != 0)
    goto out;
  rc = bg_cache_read(c, &d, BG_MANIFEST_MAX, &body, err);
  if (rc != 0) {
    if (rc > 0)
      bg_error_set(err, BG_ENOTFOUND, "manifest %s is not in the cache %s", digest, c->dir);
    rc = -1;
    goto out;
  }
  rc = -1;
  if (bg_manifest_parse(body.data, body.len, NULL, &m, err) != 0 ||
      bg_json_parse(body.data, body.len, &doc, err) != 0)
    goto out;
  if (m.kind != BG_MANIFEST_IMAGE) {
    bg_error_set(err, BG_EINVAL, "%s is an index: only image manifests are pushed", digest);
    goto out;
  }
  n = m.n + 1;
  blobs = calloc(n, sizeof(*blobs));
  paths = calloc(n, sizeof(*paths));
  if (blobs == NULL || paths == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  for (i = 0; i < n; i++) {
    const struct bg_descriptor *x = i < m.n ? &m.items[i] : &m.config;
    blobs[i].digest = x->digest;
    blobs[i].size = x->size;
    bg_cache_blob_path(c, x->digest.hex, paths[i], sizeof(paths[i]));
    blobs[i].path = paths[i];
    blobs[i].progress_slot = i < m.n ? (int)i : -1;
  }
  if (open_reg(dest, o, "pull,push", ref, &r, err) != 0)
    goto out;
  if (ref->digest[0] != '\0' && strcmp(ref->digest, digest) != 0) {
    bg_error_set(err, BG_EINVAL, "%s names another digest than the manifest's %s", ref->name,
                 digest);
    goto out;
  }
  bg_progress_init(&prog, o->progress, ref->name, m.n);
  for (i = 0; i < m.n; i++) {
    bg_digest_format(m.items[i].digest.raw, ds);
    bg_progress_item(&prog, i, ds, m.items[i].size);
  }
  if (bg_reg_push_blobs(r, blobs, n, o->mount_from, o->chunk, &prog, err) != 0)
    goto out;
  for (i = 0; i < n; i++) {
    res->existed += blobs[i].existed;
    res->mounted += blobs[i].mounted;
    res->uploaded += blobs[i].uploaded;
    if (i < m.n)
      bg_progress_done(&prog, i, !blobs[i].uploaded);
  }
  /* every blob is there: now the manifest, the one write that makes the push visible */
  snprintf(path, sizeof(path), "manifests/%s", reference_of(ref));
  snprintf(what, sizeof(what), "manifest %.120s", reference_of(ref));
  q.content_type = m.media_type;
  q.body = body.data;
  q.len = body.len;
  if (bg_reg_request(r, &q, &resp, &rep, err) != 0)
    goto out;
  if (rep.digest[0] != '\0' && strcmp(rep.digest, digest) != 0) {
    bg_error_set(err, BG_EMISMATCH, "the registry stored the manifest as %s, not %s",
                 rep.digest, digest);
    goto out;
  }
  if (link_subject(r, &rep, doc, m.media_type, digest, body.len, &how, err) != 0) {
    bg_error_prefix(err, "listing %s under its subject", digest);
    goto out;
  }
  snprintf(res->referrers, sizeof(res->referrers), "%s", how);
  snprintf(res->pushed, sizeof(res->pushed), "%s/%s%s%s@%s", ref->registry, ref->repository,
           ref->tag[0] ? ":" : "", ref->tag, digest);
  rc = 0;
out:
  bg_progress_free(&prog);
  if (doc != NULL)
    json_decref(doc);
  bg_manifest_free(&m);
  free(blobs);
  free(paths);
  bg_buf_free(&body);
  bg_buf_free(&resp);
  bg_reg_close(r);
  if (rc != 0)
    bg_error_prefix(err, "pushing to %s", ref && ref->name[0] ? ref->name : dest);
  free(ref);
  return rc;
}

/* ---- lookup and fetch ---- */

/* The digest of what the reference names, asked for with one HEAD (a GET when the registry
 * does not say): 0, 1 when it names nothing, -1. */
static int resolve(struct bg_reg *r, const struct bg_oci_ref *ref, const char *accept,
                   char *digest, struct bg_error *err)
{
  char path[REQ_PATH_MAX], what[200];
  struct bg_reg_req q = {what, "HEAD", path, accept, NULL, NULL, 0};
  struct bg_reg_reply rep;
  struct bg_digest d;
  struct bg_buf b;
  int rc;

  if (ref->digest[0] != '\0') {
    snprintf(digest, BG_DIGEST_STRLEN, "%s", ref->digest);
    return 0;
  }
  snprintf(path, sizeof(path), "manifests/%s", ref->tag);
  snprintf(what, sizeof(what), "manifest %s", ref->tag);
  bg_buf_init(&b, BG_MANIFEST_MAX);
  rc = bg_reg_request(r, &q, &b, &rep, err);
  if (rc == 0 && rep.digest[0] == '\0') {
    q.method = "GET";
    rc = bg_reg_request(r, &q, &b, &rep, err);
    if (rc == 0 && bg_sha256_buf(b.data ? b.data : "", b.len, d.raw, err) != 0)
      rc = -1;
    if (rc == 0)
      bg_digest_format(d.raw, rep.digest);
  }
  if (rc == 0)
    memcpy(digest, rep.digest, BG_DIGEST_STRLEN);
  bg_buf_free(&b);
  return rc;
}

int bg_remote_lookup(const char *refstr, const struct bg_remote_opts *o, char *digest,
                     struct bg_error *err)
{
  struct bg_oci_ref *ref = calloc(1, sizeof(*ref));
  struct bg_reg *r = NULL;
  int rc = -1;

  if (ref == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  if (open_reg(refstr, o, NULL, ref, &r, err) == 0)
    rc = resolve(r, ref, MT_OCI_MANIFEST, digest, err);
  bg_reg_close(r);
  if (rc < 0)
    bg_error_prefix(err, "looking up %s", ref->name[0] ? ref->name : refstr);
  free(ref);
  return rc;
}

static int fetch_manifest(struct bg_reg *r, const char *digest, struct bg_buf *b,
                          struct bg_error *err)
{
  char path[REQ_PATH_MAX], what[200], got[BG_DIGEST_STRLEN];
  struct bg_reg_req q = {what, "GET", path, MT_OCI_MANIFEST, NULL, NULL, 0};
  struct bg_reg_reply rep;
  struct bg_digest d;
  int rc;

  snprintf(path, sizeof(path), "manifests/%s", digest);
  snprintf(what, sizeof(what), "manifest %s", digest);
  rc = bg_reg_request(r, &q, b, &rep, err);
  if (rc == 1)
    return bg_error_set(err, BG_ENOTFOUND, "manifest %s vanished from the registry", digest);
  if (rc != 0)
    return -1;
  if (bg_sha256_buf(b->data ? b->data : "", b->len, d.raw, err) != 0)
    return -1;
  bg_digest_format(d.raw, got);
  if (strcmp(got, digest) != 0)
    return bg_error_set(err, BG_EMISMATCH, "manifest digest mismatch: expected %s, got %s",
                        digest, got);
  if (rep.content_type[0] != '\0' && strcmp(rep.content_type, MT_OCI_MANIFEST) != 0) {
    char shown[200];
    return bg_error_set(err, BG_EINVAL, "manifest %s served as %s, not an OCI manifest", digest,
                        bg_escape_str(rep.content_type, shown, sizeof(shown)));
  }
  return 0;
}

int bg_remote_fetch_rootfs(const struct bg_cache *c, const char *refstr, const char *want_key,
                           const char *platform, const struct bg_remote_opts *o,
                           struct bg_rootfs *a, struct bg_error *err)
{
  struct bg_oci_ref *ref = calloc(1, sizeof(*ref));
  struct bg_reg *r = NULL;
  struct bg_blob_req req;
  struct bg_progress prog;
  struct bg_digest d;
  struct bg_buf b;
  char digest[BG_DIGEST_STRLEN], ds[BG_DIGEST_STRLEN];
  int rc = -1, have;

  memset(&prog, 0, sizeof(prog));
  bg_buf_init(&b, BG_MANIFEST_MAX);
  if (ref == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  if (open_reg(refstr, o, NULL, ref, &r, err) != 0)
    goto out;
  rc = resolve(r, ref, MT_OCI_MANIFEST, digest, err);
  if (rc != 0)
    goto out;
  rc = -1;
  if (fetch_manifest(r, digest, &b, err) != 0)
    goto out;
  if (bg_rootfs_parse(b.data, b.len, a, err) != 0) {
    bg_error_prefix(err, "%s", digest);
    goto out;
  }
  memcpy(a->digest, digest, sizeof(digest));
  a->size = b.len;
  if (want_key != NULL && strcmp(a->key, want_key) != 0) {
    bg_error_set(err, BG_EMISMATCH, "%s is the artifact of key %s, not %s", digest, a->key,
                 want_key);
    goto out;
  }
  bg_cache_sweep(c);
  have = bg_cache_check(c, &a->layer.digest, a->layer.size, err);
  if (have < 0)
    goto out;
  if (have != 0) {
    if (bg_cache_check_space(c, a->layer.size, err) != 0)
      goto out;
    req.digest = a->layer.digest;
    req.size = a->layer.size;
    req.progress_slot = 0;
    bg_progress_init(&prog, o->progress, ref->name, 1);
    bg_digest_format(a->layer.digest.raw, ds);
    bg_progress_item(&prog, 0, ds, a->layer.size);
    if (bg_reg_fetch_blobs(r, c, &req, 1, &prog, err) != 0)
      goto out;
  }
  /* the empty config is known by heart: no request for two bytes */
  if (bg_digest_parse("sha256:" BG_EMPTY_HEX, &d, err) != 0 ||
      bg_cache_put(c, &d, "{}", 2, err) != 0)
    goto out;
  if (bg_digest_parse(digest, &d, err) != 0 || bg_cache_put(c, &d, b.data, b.len, err) != 0 ||
      bg_rootfs_record(c, a, platform, err) != 0)
    goto out;
  rc = 0;
out:
  bg_progress_free(&prog);
  bg_buf_free(&b);
  bg_reg_close(r);
  if (rc < 0)
    bg_error_prefix(err, "fetching %s", ref && ref->name[0] ? ref->name : refstr);
  free(ref);
  return rc;
}
