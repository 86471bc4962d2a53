/* Rootfs artifacts in the cache: the manifest as specified (made and checked here), the image
 * compressed into a blob with zstd, the index.json entry under the key. restore.c writes an
 * image back out of one. */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "index.h"
#include "../util/escape.h"
#include "../util/json.h"
#include "../util/log.h"
#include "../util/sparse.h"

#define ZSTD_LEVEL 3
#define ZSTD_WORKERS 4
#define IO_CHUNK (1 << 20)

int bg_rootfs_key_tag(const char *key, char *out, size_t cap, struct bg_error *err)
{
  struct bg_digest d;

  if (bg_digest_parse(key, &d, err) != 0)
    return bg_error_prefix(err, "build key");
  if (cap < BG_KEY_TAG_MAX)
    return bg_error_set(err, BG_ETOOBIG, "no room for the key's tag");
  snprintf(out, cap, "%s%s", BG_KEY_TAG_PREFIX, d.hex);
  return 0;
}

/* ---- the manifest ---- */

static json_t *desc_json(const char *mt, const char *digest, uint64_t size)
{
  return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size",
                   (json_int_t)size);
}

/* The manifest, members in the order the spec lists them, annotations sorted by name. */
static int make_manifest(const struct bg_rootfs *a, struct bg_buf *b, struct bg_error *err)
{
  char layer[BG_DIGEST_STRLEN], image[BG_DIGEST_STRLEN], subject[BG_DIGEST_STRLEN], size[32];
  json_t *doc, *config;
  int rc;

  bg_digest_format(a->layer.digest.raw, layer);
  bg_digest_format(a->image.raw, image);
  bg_digest_format(a->subject.digest.raw, subject);
  snprintf(size, sizeof(size), "%" PRIu64, a->image_size);
  config = desc_json(MT_OCI_EMPTY, "sha256:" BG_EMPTY_HEX, 2);
  if (config != NULL && json_object_set_new(config, "data", json_string("e30=")) != 0) {
    json_decref(config);
    config = NULL;
  }
  doc = json_pack("{s:i,s:s,s:s,s:o,s:[o],s:o,s:{s:s,s:s,s:s,s:s,s:s}}", "schemaVersion", 2,
                  "mediaType", MT_OCI_MANIFEST, "artifactType", MT_ROOTFS, "config", config,
                  "layers", desc_json(MT_ROOTFS_LAYER, layer, a->layer.size), "subject",
                  desc_json(a->subject.media_type, subject, a->subject.size), "annotations",
                  BG_ANNOT_KEY, a->key, BG_ANNOT_RECIPE, a->recipe, BG_ANNOT_IMAGE_SHA, image,
                  BG_ANNOT_IMAGE_SIZE, size, BG_ANNOT_CREATED, a->created);
  if (doc == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  rc = bg_json_dump(b, doc, err);
  json_decref(doc);
  return rc;
}

static int digest_string(const json_t *an, const char *name, char *out, struct bg_digest *d,
                         struct bg_error *err)
{
  const char *s = bg_json_getstr(an, name);

  if (s == NULL)
    return bg_error_set(err, BG_EINVAL, "annotation %s is missing", name);
  if (bg_digest_parse(s, d, err) != 0)
    return bg_error_prefix(err, "annotation %s", name);
  if (out != NULL)
    bg_digest_format(d->raw, out);
  return 0;
}

int bg_rootfs_parse(const char *body, size_t len, struct bg_rootfs *a, struct bg_error *err)
{
  json_t *root = NULL;
  const json_t *an, *layers, *sub;
  const char *s;
  struct bg_digest d;
  char shown[200], *end;
  int rc = -1;

  memset(a, 0, sizeof(*a));
  if (bg_json_parse(body, len, &root, err) != 0)
    return bg_error_prefix(err, "artifact manifest");
  if (!json_is_object(root)) {
    bg_error_set(err, BG_EINVAL, "artifact manifest is not a JSON object");
    goto out;
  }
  s = bg_json_getstr(root, "mediaType");
  if (s == NULL || strcmp(s, MT_OCI_MANIFEST) != 0) {
    bg_error_set(err, BG_EINVAL, "not an OCI image manifest (mediaType %s)",
                 s ? bg_escape_str(s, shown, sizeof(shown)) : "missing");
    goto out;
  }
  s = bg_json_getstr(root, "artifactType");
  if (s == NULL || strcmp(s, MT_ROOTFS) != 0) {
    bg_error_set(err, BG_EINVAL, "not a rootfs artifact (artifactType %s, expected %s)",
                 s ? bg_escape_str(s, shown, sizeof(shown)) : "missing", MT_ROOTFS);
    goto out;
  }
  if (bg_descriptor_parse(json_object_get(root, "config"), &a->config, "config", 0, err) != 0)
    goto out;
  if (strcmp(a->config.media_type, MT_OCI_EMPTY) != 0 ||
      strcmp(a->config.digest.hex, BG_EMPTY_HEX) != 0 || a->config.size != 2) {
    bg_error_set(err, BG_EINVAL, "the artifact's config is not the empty descriptor");
    goto out;
  }
  layers = json_object_get(root, "layers");
  if (!json_is_array(layers) || json_array_size(layers) != 1) {
    bg_error_set(err, BG_EINVAL, "a rootfs artifact has exactly one layer");
    goto out;
  }
  if (bg_descriptor_parse(json_array_get(layers, 0), &a->layer, "layer", 0, err) != 0)
    goto out;
  if (strcmp(a->layer.media_type, MT_ROOTFS_LAYER) != 0) {
    bg_error_set(err, BG_EINVAL, "the artifact's layer is %s, expected %s",
                 bg_escape_str(a->layer.media_type, shown, sizeof(shown)), MT_ROOTFS_LAYER);
    goto out;
  }
  sub = json_object_get(root, "subject");
  if (sub != NULL && bg_descriptor_parse(sub, &a->subject, "subject", 0, err) != 0)
    goto out;
  an = json_object_get(root, "annotations");
  if (digest_string(an, BG_ANNOT_KEY, a->key, &d, err) != 0 ||
      digest_string(an, BG_ANNOT_RECIPE, a->recipe, &d, err) != 0 ||
      digest_string(an, BG_ANNOT_IMAGE_SHA, NULL, &a->image, err) != 0)
    goto out;
  s = bg_json_getstr(an, BG_ANNOT_IMAGE_SIZE);
  errno = 0;
  if (s == NULL || *s < '0' || *s > '9' || (a->image_size = strtoull(s, &end, 10), *end) ||
      errno != 0 || a->image_size == 0 || a->image_size % 4096 != 0 ||
      a->image_size > BG_ROOTFS_MAX_SIZE) {
    bg_error_set(err, BG_EINVAL, "annotation %s is not a size of whole 4 KiB blocks up to "
                 "64 TiB", BG_ANNOT_IMAGE_SIZE);
    goto out;
  }
  s = bg_json_getstr(an, BG_ANNOT_CREATED);
  if (s != NULL)
    bg_escape_str(s, a->created, sizeof(a->created));
  rc = 0;
out:
  json_decref(root);
  return rc;
}

/* ---- compressing an image into the cache ---- */

struct squeeze {
  ZSTD_CCtx *z;
  struct bg_blob_writer *w;
  struct bg_sha256 *h;  /* of the uncompressed image */
  char *out;
  size_t out_cap;
};

static int feed(struct squeeze *q, const void *p, size_t n, ZSTD_EndDirective how,
                struct bg_error *err)
{
  ZSTD_inBuffer in = {p, n, 0};
  ZSTD_outBuffer ob;
  size_t left;

  if (n > 0 && q->h != NULL && bg_sha256_update(q->h, p, n, err) != 0)
    return -1;
  do {
    ob.dst = q->out;
    ob.size = q->out_cap;
    ob.pos = 0;
    left = ZSTD_compressStream2(q->z, &ob, &in, how);
    if (ZSTD_isError(left))
      return bg_error_set(err, BG_EIO, "zstd: %s", ZSTD_getErrorName(left));
    if (ob.pos > 0 && bg_blob_writer_write(q->w, q->out, ob.pos, err) != 0)
      return -1;
  } while (how == ZSTD_e_end ? left != 0 : in.pos < in.size);
  return 0;
}

static int feed_piece(void *q, const void *p, size_t n, struct bg_error *err)
{
  return feed(q, p, n, ZSTD_e_continue, err);
}

/* Every byte of the image through zstd; holes are read as the zeros they are, without
 * reading them from the disk. */
static int squeeze_file(struct squeeze *q, int fd, const char *path, uint64_t size,
                        struct bg_error *err)
{
  if (bg_sparse_walk(fd, path, size, IO_CHUNK, NULL, feed_piece, q, err) != 0)
    return -1;
  return feed(q, "", 0, ZSTD_e_end, err);
}

static long workers(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);

  return n < 1 ? 1 : n > ZSTD_WORKERS ? ZSTD_WORKERS : n;
}

/* The compressed image as a blob of the cache: its descriptor, and the image's sha256 and
 * size. zstd's output with workers does not depend on how many there are, so every host makes
 * the same bytes from the same image. */
static int compress_image(const struct bg_cache *c, const char *path, const char *known,
                          struct bg_rootfs *a, struct bg_error *err)
{
  struct squeeze q = {NULL, NULL, NULL, NULL, 0};
  struct bg_blob_writer w;
  struct bg_digest given;
  unsigned char raw[BG_SHA256_LEN];
  struct stat st;
  int fd, open_w = 0, rc = -1;
  size_t zr;

  if (known != NULL && bg_digest_parse(known, &given, err) != 0)
    return -1;

  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", path);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    bg_error_set(err, BG_EINVAL, "%s is not a regular file", path);
    goto out;
  }
  a->image_size = (uint64_t)st.st_size;
  q.z = ZSTD_createCCtx();
  q.out_cap = ZSTD_CStreamOutSize();
  q.out = malloc(q.out_cap);
  q.h = known != NULL ? NULL : bg_sha256_new(err);
  if (q.z == NULL || q.out == NULL || (known == NULL && q.h == NULL)) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  zr = ZSTD_CCtx_setParameter(q.z, ZSTD_c_compressionLevel, ZSTD_LEVEL);
  /* no frame checksum: the layer's sha256 and the image's are checked on every restore */
  if (!ZSTD_isError(zr))
    zr = ZSTD_CCtx_setParameter(q.z, ZSTD_c_checksumFlag, 0);
  if (!ZSTD_isError(zr))
    zr = ZSTD_CCtx_setParameter(q.z, ZSTD_c_nbWorkers, (int)workers());
  if (ZSTD_isError(zr)) {
    bg_error_set(err, BG_EIO, "zstd: %s", ZSTD_getErrorName(zr));
    goto out;
  }
  ZSTD_CCtx_setPledgedSrcSize(q.z, a->image_size);
  if (bg_blob_writer_open(c, NULL, BG_SIZE_UNKNOWN, &w, err) != 0)
    goto out;
  open_w = 1;
  q.w = &w;
  if (squeeze_file(&q, fd, path, a->image_size, err) != 0 ||
      (q.h != NULL && bg_sha256_final(q.h, raw, err) != 0))
    goto out;
  if (q.h == NULL)
    memcpy(raw, given.raw, sizeof(raw));
  a->layer.size = w.have;
  open_w = 0;
  if (bg_blob_writer_commit(c, &w, err) != 0)
    goto out;
  memcpy(a->image.raw, raw, sizeof(raw));
  bg_hex(raw, sizeof(raw), a->image.hex);
  if (bg_digest_parse(w.final_digest, &a->layer.digest, err) != 0)
    goto out;
  snprintf(a->layer.media_type, sizeof(a->layer.media_type), "%s", MT_ROOTFS_LAYER);
  rc = 0;
out:
  if (open_w)
    bg_blob_writer_abort(&w);
  ZSTD_freeCCtx(q.z);
  free(q.out);
  bg_sha256_free(q.h);
  close(fd);
  if (rc != 0)
    bg_error_prefix(err, "storing %s as an artifact", path);
  return rc;
}

static int put_doc(const struct bg_cache *c, const void *p, size_t n, char *digest,
                   struct bg_error *err)
{
  struct bg_digest d;

  if (bg_sha256_buf(p, n, d.raw, err) != 0)
    return -1;
  bg_hex(d.raw, BG_SHA256_LEN, d.hex);
  bg_digest_format(d.raw, digest);
  return bg_cache_put(c, &d, p, n, err);
}

int bg_rootfs_record(const struct bg_cache *c, const struct bg_rootfs *a, const char *platform,
                     struct bg_error *err)
{
  struct bg_platform p;
  char tag[BG_KEY_TAG_MAX];

  if (bg_rootfs_key_tag(a->key, tag, sizeof(tag), err) != 0)
    return -1;
  if (platform != NULL && bg_platform_parse(platform, &p, err) != 0)
    return -1;
  return bg_cache_index_record_artifact(c, tag, MT_ROOTFS, a->key, a->digest, a->size,
                                        platform ? &p : NULL, err);
}

int bg_rootfs_store(const struct bg_cache *c, const char *path, const struct bg_rootfs_meta *m,
                    struct bg_rootfs *a, struct bg_error *err)
{
  char digest[BG_DIGEST_STRLEN];
  struct bg_digest d;
  struct bg_buf b;
  int rc = -1;

  memset(a, 0, sizeof(*a));
  bg_buf_init(&b, BG_MANIFEST_MAX);
  if (bg_digest_parse(m->key, &d, err) != 0 || bg_digest_parse(m->recipe, &d, err) != 0 ||
      bg_digest_parse(m->subject_digest, &a->subject.digest, err) != 0)
    goto out;
  if (strlen(m->subject_type) >= sizeof(a->subject.media_type) ||
      strlen(m->created) >= sizeof(a->created)) {
    bg_error_set(err, BG_EINVAL, "subject media type or creation time too long");
    goto out;
  }
  snprintf(a->key, sizeof(a->key), "%s", m->key);
  snprintf(a->recipe, sizeof(a->recipe), "%s", m->recipe);
  snprintf(a->created, sizeof(a->created), "%s", m->created);
  snprintf(a->subject.media_type, sizeof(a->subject.media_type), "%s", m->subject_type);
  a->subject.size = m->subject_size;
  if (compress_image(c, path, m->image_sha256, a, err) != 0)
    goto out;
  if (put_doc(c, "{}", 2, digest, err) != 0 || make_manifest(a, &b, err) != 0 ||
      put_doc(c, b.data, b.len, digest, err) != 0)
    goto out;
  /* a holds what any reader of the manifest gets */
  if (bg_rootfs_parse(b.data, b.len, a, err) != 0)
    goto out;
  memcpy(a->digest, digest, sizeof(digest));
  a->size = b.len;
  rc = bg_rootfs_record(c, a, m->platform, err);
out:
  bg_buf_free(&b);
  return rc;
}

int bg_rootfs_load(const struct bg_cache *c, const char *digest, struct bg_rootfs *a,
                   struct bg_error *err)
{
  struct bg_digest d;
  struct bg_buf b;
  int rc;

  if (bg_digest_parse(digest, &d, err) != 0)
    return 2;
  bg_buf_init(&b, BG_MANIFEST_MAX);
  rc = bg_cache_read(c, &d, BG_MANIFEST_MAX, &b, err);
  if (rc == 0 && bg_rootfs_parse(b.data ? b.data : "", b.len, a, err) != 0)
    rc = 2;
  if (rc == 0) {
    bg_digest_format(d.raw, a->digest);
    a->size = b.len;
  } else if (rc < 0 && err->code == BG_ETOOBIG) {
    rc = 2;
  }
  bg_buf_free(&b);
  return rc;
}

int bg_rootfs_find(const struct bg_cache *c, const char *key, struct bg_rootfs *a,
                   struct bg_error *err)
{
  struct bg_index_hit hit;
  struct bg_digest d;
  int rc;

  if (bg_digest_parse(key, &d, err) != 0)
    return -1;
  rc = bg_cache_index_find_artifact(c, MT_ROOTFS, key, &hit, err);
  if (rc != 0)
    return rc;
  rc = bg_rootfs_load(c, hit.digest, a, err);
  if (rc == 1) {
    bg_error_set(err, BG_ENOTFOUND, "its manifest %s is missing", hit.digest);
    return 2;
  }
  if (rc == 0 && strcmp(a->key, key) != 0) {
    bg_error_set(err, BG_EMISMATCH, "its manifest %s is the artifact of another key",
                 hit.digest);
    return 2;
  }
  return rc;
}
