#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/escape.h"
#include "../util/json.h"
#include "../util/log.h"

#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"

int bg_cache_lock(const struct bg_cache *c, struct bg_error *err)
{
  char path[PATH_MAX];
  int fd, tries;

  snprintf(path, sizeof(path), "%s/.lock", c->dir);
  for (tries = 0;; tries++) {
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != ELOOP || tries > 0)
      break;
    /* a symlink planted as the lock: removed, never followed */
    unlink(path);
  }
  if (fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", path);
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      bg_error_errno(err, errno, "cannot lock %s", path);
      close(fd);
      return -1;
    }
  }
  return fd;
}

static json_t *empty_index(void)
{
  return json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                   "manifests");
}

/* Reads index.json into *root. A file that is missing gives an empty index; one that is not a
 * regular file, too big, not JSON or not an index gives an empty index too, with *damaged set
 * and the reason in why. -1 only when the file cannot be read at all (or no memory). */
static int load_index(const struct bg_cache *c, json_t **root, int *damaged,
                      struct bg_error *why, struct bg_error *err)
{
  char path[PATH_MAX];
  struct bg_buf b;
  struct stat st;
  const json_t *m;
  int fd, rc = -1;

  *root = NULL;
  *damaged = 0;
  bg_buf_init(&b, BG_INDEX_MAX);
  snprintf(path, sizeof(path), "%s/index.json", c->dir);
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    goto fresh;
  if (fd < 0 && errno != ELOOP) {
    bg_error_errno(err, errno, "cannot open %s", path);
    goto out;
  }
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    bg_error_set(why, BG_EINVAL, "not a regular file");
    goto damaged;
  }
  if ((uint64_t)st.st_size > BG_INDEX_MAX) {
    bg_error_set(why, BG_ETOOBIG, "larger than %d bytes", BG_INDEX_MAX);
    goto damaged;
  }
  if (bg_buf_read_fd(&b, fd, path, err) != 0)
    goto out;
  if (bg_json_parse(b.data ? b.data : "", b.len, root, why) != 0)
    goto damaged;
  m = json_object_get(*root, "manifests");
  if (!json_is_object(*root) || (m != NULL && !json_is_array(m))) {
    bg_error_set(why, BG_EINVAL, "not an OCI index");
    goto damaged;
  }
  if (m == NULL && json_object_set_new(*root, "manifests", json_array()) != 0)
    goto nomem;
  rc = 0;
  goto out;
damaged:
  *damaged = 1;
  if (*root != NULL)
    json_decref(*root);
fresh:
  *root = empty_index();
  if (*root == NULL)
    goto nomem;
  rc = 0;
  goto out;
nomem:
  bg_error_set(err, BG_ENOMEM, "out of memory");
out:
  if (fd >= 0)
    close(fd);
  bg_buf_free(&b);
  return rc;
}

/* The index as it is written: schemaVersion, mediaType and manifests first, then any other
 * top-level member another tool wrote (annotations). */
static int save_index(const struct bg_cache *c, json_t *root, struct bg_error *err)
{
  json_t *out = empty_index(), *v;
  const char *key;
  struct bg_buf b;
  int rc = -1;

  bg_buf_init(&b, BG_INDEX_MAX);
  if (out == NULL ||
      json_object_set(out, "manifests", json_object_get(root, "manifests")) != 0) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto done;
  }
  json_object_foreach(root, key, v) {
    if (strcmp(key, "schemaVersion") != 0 && strcmp(key, "mediaType") != 0 &&
        strcmp(key, "manifests") != 0 && json_object_set(out, key, v) != 0) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto done;
    }
  }
  if (bg_json_dump(&b, out, err) != 0 || bg_buf_add(&b, "\n", 1, err) != 0 ||
      bg_cache_write_file(c, "index.json", b.data, b.len, err) != 0)
    goto done;
  rc = 0;
done:
  if (out != NULL)
    json_decref(out);
  bg_buf_free(&b);
  return rc;
}

int bg_cache_index_init(const struct bg_cache *c, struct bg_error *err)
{
  json_t *root = empty_index();
  int rc;

  if (root == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  rc = save_index(c, root, err);
  json_decref(root);
  return rc;
}

/* Takes the lock and reads the index (see load_index): the lock's descriptor, or -1. */
static int lock_and_load(const struct bg_cache *c, json_t **root, int *damaged,
                         struct bg_error *why, struct bg_error *err)
{
  int lockfd = bg_cache_lock(c, err);

  if (lockfd < 0)
    return -1;
  bg_error_clear(why);
  if (load_index(c, root, damaged, why, err) != 0) {
    close(lockfd);
    return -1;
  }
  return lockfd;
}

static const char *entry_name(const json_t *e)
{
  return bg_json_getstr(json_object_get(e, "annotations"), BG_ANNOT_REF_NAME);
}

static int entry_matches(const json_t *e, const char *name, const struct bg_platform *p)
{
  const json_t *pl = json_object_get(e, "platform");
  const char *n = entry_name(e), *os, *arch, *v;

  if (n == NULL || strcmp(n, name) != 0)
    return 0;
  os = bg_json_getstr(pl, "os");
  arch = bg_json_getstr(pl, "architecture");
  v = bg_json_getstr(pl, "variant");
  return os != NULL && strcmp(os, p->os) == 0 && arch != NULL && strcmp(arch, p->arch) == 0 &&
         strcmp(v ? v : "", p->variant) == 0;
}

struct entry {
  const char *name, *media_type, *digest;
  uint64_t size;
  const struct bg_platform *platform;            /* NULL for an artifact of no platform */
  const char *source_digest, *source_media_type; /* NULL unless a conversion */
  const char *artifact_type, *key;               /* NULL unless a rootfs artifact */
};

static int set_new(json_t *o, const char *k, json_t *v)
{
  return v == NULL ? -1 : json_object_set_new(o, k, v);
}

/* {"mediaType","digest","size"[,"artifactType"],"annotations":{...}[,"platform":{...}]} */
static json_t *make_entry(const struct entry *e)
{
  json_t *j = json_object(), *an = json_object(), *pl = NULL;
  int bad = j == NULL || an == NULL;

  bad = bad || set_new(an, BG_ANNOT_REF_NAME, json_string(e->name)) != 0;
  if (e->source_digest != NULL)
    bad = bad || set_new(an, BG_ANNOT_SOURCE_DIGEST, json_string(e->source_digest)) != 0 ||
          set_new(an, BG_ANNOT_SOURCE_TYPE, json_string(e->source_media_type)) != 0;
  if (e->key != NULL)
    bad = bad || set_new(an, BG_ANNOT_ENTRY_KEY, json_string(e->key)) != 0;
  if (e->platform != NULL) {
    pl = json_pack("{s:s,s:s}", "architecture", e->platform->arch, "os", e->platform->os);
    bad = bad || pl == NULL;
    if (!bad && e->platform->variant[0] != '\0')
      bad = set_new(pl, "variant", json_string(e->platform->variant)) != 0;
  }
  bad = bad || set_new(j, "mediaType", json_string(e->media_type)) != 0 ||
        set_new(j, "digest", json_string(e->digest)) != 0 ||
        set_new(j, "size", json_integer((json_int_t)e->size)) != 0;
  if (e->artifact_type != NULL)
    bad = bad || set_new(j, "artifactType", json_string(e->artifact_type)) != 0;
  if (!bad) {
    bad = json_object_set_new(j, "annotations", an) != 0;
    an = NULL;
  }
  if (!bad && pl != NULL) {
    bad = json_object_set_new(j, "platform", pl) != 0;
    pl = NULL;
  }
  if (an != NULL)
    json_decref(an);
  if (pl != NULL)
    json_decref(pl);
  if (bad && j != NULL) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

/* The entry e replaces: the same name and platform; an artifact's name alone. */
static int same_slot(const json_t *x, const struct entry *e)
{
  const char *n = entry_name(x);

  if (e->artifact_type != NULL || e->platform == NULL)
    return n != NULL && strcmp(n, e->name) == 0;
  return entry_matches(x, e->name, e->platform);
}

static int index_set(const struct bg_cache *c, const struct entry *e, struct bg_error *err)
{
  json_t *root = NULL, *list, *entry = NULL;
  struct bg_error why;
  char reason[BG_ERROR_MAX];
  size_t i;
  int lockfd, damaged, rc = -1;

  lockfd = lock_and_load(c, &root, &damaged, &why, err);
  if (lockfd < 0)
    return bg_error_prefix(err, "updating the cache index");
  if (damaged)
    bg_log(BG_LOG_WARN, "%s/index.json was damaged (%s): writing a new one", c->dir,
           bg_escape_str(why.msg, reason, sizeof(reason)));
  list = json_object_get(root, "manifests");
  for (i = json_array_size(list); i > 0; i--)
    if (same_slot(json_array_get(list, i - 1), e))
      json_array_remove(list, i - 1);
  entry = make_entry(e);
  if (entry == NULL || json_array_append_new(list, entry) != 0) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  rc = save_index(c, root, err);
out:
  if (rc != 0)
    bg_error_prefix(err, "updating the cache index");
  if (root != NULL)
    json_decref(root);
  close(lockfd); /* releases the lock */
  return rc;
}

static const char *oci_layer_type(const char *mt)
{
  static const char *const map[][2] = {
    {"application/vnd.docker.image.rootfs.diff.tar.gzip",
     "application/vnd.oci.image.layer.v1.tar+gzip"},
    {"application/vnd.docker.image.rootfs.diff.tar", "application/vnd.oci.image.layer.v1.tar"},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
     "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"},
  };
  size_t i;

  for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(mt, map[i][0]) == 0)
      return map[i][1];
  return mt;
}

static json_t *descriptor(const char *mt, const struct bg_digest *d, uint64_t size)
{
  char ds[BG_DIGEST_STRLEN];

  bg_digest_format(d->raw, ds);
  return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", ds, "size", (json_int_t)size);
}

/* The OCI manifest with the same config and layers as a Docker schema 2 one. */
static int oci_conversion(const struct bg_manifest *m, struct bg_buf *b, struct bg_error *err)
{
  json_t *doc, *layers;
  size_t i;
  int rc = -1;

  layers = json_array();
  doc = json_pack("{s:i,s:s,s:o,s:o}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
                  "config", descriptor(MT_OCI_CONFIG, &m->config.digest, m->config.size),
                  "layers", layers);
  if (doc == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  for (i = 0; i < m->n; i++)
    if (json_array_append_new(layers, descriptor(oci_layer_type(m->items[i].media_type),
                                                 &m->items[i].digest, m->items[i].size)) != 0) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
  rc = bg_json_dump(b, doc, err);
out:
  json_decref(doc);
  return rc;
}

int bg_cache_index_record(const struct bg_cache *c, const char *name,
                          const struct bg_platform *want, const struct bg_manifest *m,
                          const char *digest, uint64_t size, struct bg_error *err)
{
  struct entry e = {name, m->media_type, digest, size, want, NULL, NULL, NULL, NULL};
  char conv_digest[BG_DIGEST_STRLEN];
  struct bg_digest d;
  struct bg_buf b;
  int rc = -1;

  if (strcmp(m->media_type, MT_DOCKER_MANIFEST) != 0)
    return index_set(c, &e, err);
  bg_buf_init(&b, BG_MANIFEST_MAX);
  if (oci_conversion(m, &b, err) != 0 || bg_sha256_buf(b.data, b.len, d.raw, err) != 0)
    goto out;
  bg_hex(d.raw, BG_SHA256_LEN, d.hex);
  if (bg_cache_put(c, &d, b.data, b.len, err) != 0)
    goto out;
  bg_digest_format(d.raw, conv_digest);
  e.media_type = MT_OCI_MANIFEST;
  e.digest = conv_digest;
  e.size = b.len;
  e.source_digest = digest;
  e.source_media_type = m->media_type;
  rc = index_set(c, &e, err);
out:
  bg_buf_free(&b);
  return rc;
}

int bg_cache_index_find(const struct bg_cache *c, const char *name,
                        const struct bg_platform *p, struct bg_index_hit *hit,
                        struct bg_error *err)
{
  json_t *root = NULL, *x;
  const json_t *found = NULL, *an;
  struct bg_digest d;
  struct bg_error e2;
  const char *ds, *mt;
  size_t i;
  int damaged, rc;

  if (load_index(c, &root, &damaged, err, err) != 0)
    return -1;
  if (damaged) {
    json_decref(root);
    bg_error_prefix(err, "%s/index.json is damaged", c->dir);
    return 2;
  }
  json_array_foreach(json_object_get(root, "manifests"), i, x) {
    if (entry_matches(x, name, p))
      found = x;
  }
  rc = 1;
  if (found != NULL) {
    an = json_object_get(found, "annotations");
    ds = bg_json_getstr(an, BG_ANNOT_SOURCE_DIGEST);
    mt = ds ? bg_json_getstr(an, BG_ANNOT_SOURCE_TYPE) : bg_json_getstr(found, "mediaType");
    hit->size = BG_SIZE_UNKNOWN;
    if (ds == NULL) {
      ds = bg_json_getstr(found, "digest");
      bg_json_uint(json_object_get(found, "size"), &hit->size);
    }
    bg_error_clear(&e2);
    if (ds == NULL || bg_digest_parse(ds, &d, &e2) != 0) {
      rc = 2;
      bg_error_set(err, BG_EINVAL, "its index entry has no valid digest");
    } else {
      bg_digest_format(d.raw, hit->digest);
      snprintf(hit->media_type, sizeof(hit->media_type), "%s", mt ? mt : "");
      rc = 0;
    }
  }
  json_decref(root);
  return rc;
}

int bg_cache_index_record_artifact(const struct bg_cache *c, const char *name,
                                   const char *artifact_type, const char *key,
                                   const char *digest, uint64_t size,
                                   const struct bg_platform *p, struct bg_error *err)
{
  struct entry e = {name, MT_OCI_MANIFEST, digest, size, p, NULL, NULL, artifact_type, key};

  return index_set(c, &e, err);
}

int bg_cache_index_find_artifact(const struct bg_cache *c, const char *artifact_type,
                                 const char *key, struct bg_index_hit *hit,
                                 struct bg_error *err)
{
  json_t *root = NULL, *x;
  const json_t *found = NULL;
  struct bg_digest d;
  struct bg_error e2;
  const char *ds, *at, *k;
  size_t i;
  int damaged, rc = 1;

  if (load_index(c, &root, &damaged, err, err) != 0)
    return -1;
  if (damaged) {
    json_decref(root);
    bg_error_prefix(err, "%s/index.json is damaged", c->dir);
    return 2;
  }
  json_array_foreach(json_object_get(root, "manifests"), i, x) {
    at = bg_json_getstr(x, "artifactType");
    k = bg_json_getstr(json_object_get(x, "annotations"), BG_ANNOT_ENTRY_KEY);
    if (at != NULL && strcmp(at, artifact_type) == 0 && k != NULL && strcmp(k, key) == 0)
      found = x;
  }
  if (found != NULL) {
    ds = bg_json_getstr(found, "digest");
    hit->size = BG_SIZE_UNKNOWN;
    bg_json_uint(json_object_get(found, "size"), &hit->size);
    bg_error_clear(&e2);
    if (ds == NULL || bg_digest_parse(ds, &d, &e2) != 0) {
      rc = 2;
      bg_error_set(err, BG_EINVAL, "its index entry has no valid digest");
    } else {
      bg_digest_format(d.raw, hit->digest);
      snprintf(hit->media_type, sizeof(hit->media_type), "%s", MT_OCI_MANIFEST);
      rc = 0;
    }
  }
  json_decref(root);
  return rc;
}

int bg_cache_index_trim_artifacts(const struct bg_cache *c, size_t keep, bg_cache_note_fn fn,
                                  void *ctx, struct bg_error *err)
{
  json_t *root = NULL, *list, *e;
  struct bg_error why;
  char name[300], line[400];
  size_t i, seen = 0;
  int lockfd, damaged, rc = -1, changed = 0;

  lockfd = lock_and_load(c, &root, &damaged, &why, err);
  if (lockfd < 0)
    return -1;
  if (damaged) {
    bg_error_set(err, BG_EINVAL, "%s/index.json is damaged (%s): run verify first", c->dir,
                 why.msg);
    goto out;
  }
  /* the last entries are the most recently used: kept; the older ones go */
  list = json_object_get(root, "manifests");
  for (i = json_array_size(list); i > 0; i--) {
    e = json_array_get(list, i - 1);
    if (bg_json_getstr(e, "artifactType") == NULL || ++seen <= keep)
      continue;
    bg_escape_str(entry_name(e) ? entry_name(e) : "(no name)", name, sizeof(name));
    snprintf(line, sizeof(line), "artifact %s", name);
    json_array_remove(list, i - 1);
    changed = 1;
    if (fn != NULL && fn(ctx, line) != 0)
      goto out;
  }
  rc = changed ? save_index(c, root, err) : 0;
out:
  if (root != NULL)
    json_decref(root);
  close(lockfd);
  return rc;
}

/* ---- verify ---- */

/* 0 when every blob of the artifact manifest m is in the cache; 2 naming the first missing. */
static int artifact_blobs(const struct bg_cache *c, const struct bg_manifest *m, char *why,
                          size_t cap, struct bg_error *err)
{
  char path[PATH_MAX];
  struct stat st;
  size_t i;

  for (i = 0; i <= m->n; i++) {
    const struct bg_descriptor *d = i < m->n ? &m->items[i] : &m->config;
    bg_cache_blob_path(c, d->digest.hex, path, sizeof(path));
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == d->size)
      continue;
    if (errno != ENOENT && lstat(path, &st) != 0)
      return bg_error_errno(err, errno, "cannot stat %s", path);
    snprintf(why, cap, "its %s sha256:%.64s is missing", i < m->n ? "layer" : "config",
             d->digest.hex);
    return 2;
  }
  return 0;
}

/* What is wrong with one entry: 0 fine, 1 fixed in place, 2 to be dropped; why says it. */
static int check_entry(const struct bg_cache *c, json_t *e, char *why, size_t cap,
                       struct bg_error *err)
{
  const char *ds = bg_json_getstr(e, "digest"), *mt = bg_json_getstr(e, "mediaType");
  const json_t *an = json_object_get(e, "annotations");
  const char *src = bg_json_getstr(an, BG_ANNOT_SOURCE_DIGEST);
  struct bg_manifest m;
  struct bg_digest d;
  struct bg_error e2;
  struct bg_buf b;
  uint64_t size = 0;
  int rc, fixed = 0;

  bg_error_clear(&e2);
  if (ds == NULL || bg_digest_parse(ds, &d, &e2) != 0) {
    snprintf(why, cap, "its digest is not valid");
    return 2;
  }
  bg_buf_init(&b, BG_MANIFEST_MAX);
  rc = bg_cache_read(c, &d, BG_MANIFEST_MAX, &b, &e2);
  if (rc != 0) {
    bg_buf_free(&b);
    if (rc < 0 && e2.code != BG_ETOOBIG) {
      *err = e2;
      return -1;
    }
    snprintf(why, cap, "manifest %s is %s", ds, rc == 1 ? "missing" : rc == 2 ? "corrupt" :
             "too big");
    return 2;
  }
  if (bg_manifest_parse(b.data, b.len, mt, &m, &e2) != 0) {
    bg_error_clear(&e2);
    if (bg_manifest_parse(b.data, b.len, NULL, &m, &e2) != 0) {
      bg_buf_free(&b);
      snprintf(why, cap, "%s is not a manifest", ds);
      return 2;
    }
    snprintf(why, cap, "mediaType corrected to %s", m.media_type);
    json_object_set_new(e, "mediaType", json_string(m.media_type));
    fixed = 1;
  }
  /* an artifact cannot be pulled again: all its blobs must be there (verify has rehashed them,
   * so a blob present is a good one) */
  if (bg_json_getstr(e, "artifactType") != NULL &&
      (rc = artifact_blobs(c, &m, why, cap, err)) != 0) {
    bg_manifest_free(&m);
    bg_buf_free(&b);
    return rc;
  }
  bg_manifest_free(&m);
  if (bg_json_uint(json_object_get(e, "size"), &size) != 0 || size != b.len) {
    if (!fixed)
      snprintf(why, cap, "size corrected to %zu", b.len);
    json_object_set_new(e, "size", json_integer((json_int_t)b.len));
    fixed = 1;
  }
  bg_buf_free(&b);
  if (src != NULL) {
    /* the manifest it was pulled as must be whole, or a pull could not use the entry */
    bg_error_clear(&e2);
    rc = bg_digest_parse(src, &d, &e2) != 0 ? 2 : bg_cache_check(c, &d, BG_SIZE_UNKNOWN, &e2);
    if (rc < 0) {
      *err = e2;
      return -1;
    }
    if (rc != 0) {
      snprintf(why, cap, "the manifest it was pulled as (%.80s) is missing or corrupt", src);
      return 2;
    }
  }
  return fixed;
}

static void describe(const json_t *e, char *out, size_t cap)
{
  const json_t *pl = json_object_get(e, "platform");
  const char *os = bg_json_getstr(pl, "os"), *arch = bg_json_getstr(pl, "architecture");
  const char *v = bg_json_getstr(pl, "variant");
  char raw[300], name[300], plat[200];

  bg_escape_str(entry_name(e) ? entry_name(e) : "(no name)", name, sizeof(name));
  snprintf(raw, sizeof(raw), "%.60s/%.60s%s%.60s", os ? os : "?", arch ? arch : "?",
           v ? "/" : "", v ? v : "");
  bg_escape_str(raw, plat, sizeof(plat));
  snprintf(out, cap, "index.json entry %s (%s)", name, plat);
}

int bg_cache_index_repair(const struct bg_cache *c, bg_cache_note_fn fn, void *ctx,
                          struct bg_error *err)
{
  json_t *root = NULL, *list, *e;
  struct bg_error why;
  char what[600], reason[400], line[1100];
  size_t i;
  int lockfd, damaged, rc = -1, changed = 0, r;

  lockfd = lock_and_load(c, &root, &damaged, &why, err);
  if (lockfd < 0)
    return -1;
  if (damaged) {
    snprintf(line, sizeof(line), "index.json was damaged (%s): replaced by an empty index",
             bg_escape_str(why.msg, reason, sizeof(reason)));
    changed = 1;
    if (fn != NULL && fn(ctx, line) != 0)
      goto out;
  }
  list = json_object_get(root, "manifests");
  for (i = json_array_size(list); i > 0; i--) {
    e = json_array_get(list, i - 1);
    reason[0] = '\0';
    r = json_is_object(e) ? check_entry(c, e, reason, sizeof(reason), err) : 2;
    if (r < 0)
      goto out;
    if (r == 0)
      continue;
    changed = 1;
    if (!json_is_object(e))
      snprintf(what, sizeof(what), "index.json entry %zu", i - 1);
    else
      describe(e, what, sizeof(what));
    snprintf(line, sizeof(line), "%s: %s%s", what, reason, r == 2 ? "; entry removed" : "");
    if (r == 2)
      json_array_remove(list, i - 1);
    if (fn != NULL && fn(ctx, line) != 0)
      goto out;
  }
  rc = changed ? save_index(c, root, err) : 0;
out:
  if (root != NULL)
    json_decref(root);
  close(lockfd);
  return rc;
}

int bg_cache_index_roots(const struct bg_cache *c,
                         int (*fn)(void *ctx, const char *digest, const char *media_type),
                         void *ctx, struct bg_error *err)
{
  json_t *root = NULL, *x;
  const json_t *an;
  struct bg_error why;
  char reason[400];
  const char *ds;
  size_t i;
  int damaged, rc = 0;

  bg_error_clear(&why);
  if (load_index(c, &root, &damaged, &why, err) != 0)
    return -1;
  if (damaged) {
    json_decref(root);
    return bg_error_set(err, BG_EINVAL, "%s/index.json is damaged (%s): run verify first, gc "
                        "cannot tell which blobs are in use", c->dir,
                        bg_escape_str(why.msg, reason, sizeof(reason)));
  }
  json_array_foreach(json_object_get(root, "manifests"), i, x) {
    if (rc != 0)
      break;
    an = json_object_get(x, "annotations");
    ds = bg_json_getstr(x, "digest");
    if (ds != NULL)
      rc = fn(ctx, ds, bg_json_getstr(x, "mediaType"));
    ds = bg_json_getstr(an, BG_ANNOT_SOURCE_DIGEST);
    if (rc == 0 && ds != NULL)
      rc = fn(ctx, ds, bg_json_getstr(an, BG_ANNOT_SOURCE_TYPE));
  }
  json_decref(root);
  return rc;
}
