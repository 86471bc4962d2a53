#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "index.h"
#include "../util/escape.h"
#include "../util/json.h"

#define DOC_MAX BG_MANIFEST_MAX
#define MAX_ENTRIES 100000
#define MAX_DEPTH 4
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_OCI_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

/* Copies src (a file in a layout directory) into the cache as digest d of the given size;
 * with src NULL the blob must already be in the cache (an archive's blobs were imported). */
static int import_blob(const struct bg_cache *c, const char *dir, const struct bg_digest *d,
                       uint64_t size, struct bg_error *err)
{
  struct bg_blob_writer w;
  char path[PATH_MAX], block[1 << 16];
  struct stat st;
  ssize_t n;
  int fd, rc;

  rc = bg_cache_check(c, d, size, err);
  if (rc <= 0)
    return rc;
  if (dir == NULL)
    return bg_error_set(err, BG_ENOTFOUND, "blob sha256:%s is not in the archive or does not "
                        "match its digest", d->hex);
  snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, d->hex);
  /* O_NONBLOCK: a FIFO planted in the layout must not block the open */
  fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", path);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return bg_error_set(err, BG_EINVAL, "%s is not a regular file", path);
  }
  if (bg_blob_writer_open(c, d, size, &w, err) != 0) {
    close(fd);
    return -1;
  }
  for (;;) {
    n = read(fd, block, sizeof(block));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      bg_error_errno(err, errno, "cannot read %s", path);
      break;
    }
    if (n == 0) {
      close(fd);
      if (bg_blob_writer_commit(c, &w, err) != 0)
        return bg_error_prefix(err, "%s", path);
      return 0;
    }
    if (bg_blob_writer_write(&w, block, (size_t)n, err) != 0) {
      bg_error_prefix(err, "%s", path);
      break;
    }
  }
  close(fd);
  bg_blob_writer_abort(&w);
  return -1;
}

static int read_small(const char *path, struct bg_buf *b, struct bg_error *err)
{
  int rc = bg_buf_read_file(b, path, err);

  if (rc == 1)
    return bg_error_set(err, BG_ENOTFOUND, "cannot open %s: No such file or directory", path);
  return rc;
}

/* From an index.json (of a directory or an archive) to an image manifest for the platform,
 * importing every blob it needs. */
static int import_layout(const struct bg_oci_ref *ref, const struct bg_cache *c,
                         const char *dir, const char *index_json, size_t index_len,
                         const struct bg_platform *want, char digest[BG_DIGEST_STRLEN],
                         char *media_type, size_t mtcap, struct bg_error *err)
{
  json_t *doc = NULL, *x;
  const json_t *found = NULL;
  struct bg_manifest m = {0};
  struct bg_descriptor top;
  struct bg_buf body;
  size_t i, count = 0, depth;
  char shown[300];
  int rc = -1;

  bg_buf_init(&body, DOC_MAX);
  if (bg_json_parse(index_json, index_len, &doc, err) != 0) {
    bg_error_prefix(err, "index.json");
    goto out;
  }
  json_array_foreach(json_object_get(doc, "manifests"), i, x) {
    const char *name = bg_json_getstr(json_object_get(x, "annotations"), BG_ANNOT_REF_NAME);
    count++;
    if (ref->tag[0] == '\0' || (name != NULL && strcmp(name, ref->tag) == 0))
      found = x;
  }
  if (found == NULL || (ref->tag[0] == '\0' && count != 1)) {
    if (ref->tag[0] != '\0')
      bg_error_set(err, BG_ENOTFOUND, "no image named '%s' in the layout",
                   bg_escape_str(ref->tag, shown, sizeof(shown)));
    else
      bg_error_set(err, BG_ENOTFOUND, "the layout holds %zu images; name one as %s:%s:NAME",
                   count, bg_oci_transport_name(ref->transport), ref->path);
    goto out;
  }
  if (bg_descriptor_parse(found, &top, "index.json entry", 0, err) != 0)
    goto out;
  for (depth = 0;; depth++) {
    if (depth > MAX_DEPTH) {
      bg_error_set(err, BG_EINVAL, "indexes nested more than %d deep", MAX_DEPTH);
      goto out;
    }
    if (top.size > DOC_MAX) {
      bg_error_set(err, BG_ETOOBIG, "manifest sha256:%s is larger than 4 MiB", top.digest.hex);
      goto out;
    }
    if (import_blob(c, dir, &top.digest, top.size, err) != 0)
      goto out;
    if (bg_cache_read(c, &top.digest, DOC_MAX, &body, err) != 0) {
      bg_error_set(err, BG_EMISMATCH, "manifest sha256:%s vanished", top.digest.hex);
      goto out;
    }
    if (bg_manifest_parse(body.data ? body.data : "", body.len, top.media_type, &m, err) != 0)
      goto out;
    if (m.kind == BG_MANIFEST_IMAGE)
      break;
    if (bg_manifest_select(&m, want, &i, err) != 0)
      goto out;
    top = m.items[i];
    bg_manifest_free(&m);
  }
  if (import_blob(c, dir, &m.config.digest, m.config.size, err) != 0)
    goto out;
  for (i = 0; i < m.n; i++)
    if (import_blob(c, dir, &m.items[i].digest, m.items[i].size, err) != 0)
      goto out;
  bg_digest_format(top.digest.raw, digest);
  snprintf(media_type, mtcap, "%s", m.media_type);
  rc = bg_cache_index_record(c, ref->name, want, &m, digest, body.len, err);
out:
  bg_manifest_free(&m);
  bg_buf_free(&body);
  if (doc != NULL)
    json_decref(doc);
  return rc;
}

/* ---- archives ---- */

struct member {
  char *name;
  char digest[BG_DIGEST_STRLEN];
  uint64_t size;
  unsigned char magic[4];
};

struct archive_import {
  struct member *m;
  size_t n;
  struct bg_buf index_json, manifest_json;
};

static const char *clean_name(const char *s)
{
  while (s[0] == '.' && s[1] == '/')
    s += 2;
  while (s[0] == '/')
    s++;
  return s;
}

/* Streams one entry into the cache, hashed (and checked when want is given). */
static int stream_entry(struct archive *a, const struct bg_cache *c, const struct bg_digest *want,
                        uint64_t size, struct member *mem, struct bg_error *err)
{
  struct bg_blob_writer w;
  char block[1 << 16];
  la_ssize_t n;

  if (bg_blob_writer_open(c, want, size, &w, err) != 0)
    return -1;
  for (;;) {
    n = archive_read_data(a, block, sizeof(block));
    if (n < 0) {
      bg_error_set(err, BG_EIO, "%s", archive_error_string(a));
      bg_blob_writer_abort(&w);
      return -1;
    }
    if (n == 0)
      break;
    if (w.have < 4)
      memcpy(mem->magic + w.have, block, (size_t)(4 - w.have) < (size_t)n ? 4 - w.have : (size_t)n);
    if (bg_blob_writer_write(&w, block, (size_t)n, err) != 0) {
      bg_blob_writer_abort(&w);
      return -1;
    }
  }
  mem->size = w.have;
  if (bg_blob_writer_commit(c, &w, err) != 0)
    return -1;
  memcpy(mem->digest, w.final_digest, BG_DIGEST_STRLEN);
  return 0;
}

static int read_entry(struct archive *a, struct bg_buf *b, struct bg_error *err)
{
  char block[1 << 16];
  la_ssize_t n;

  bg_buf_reset(b);
  for (;;) {
    n = archive_read_data(a, block, sizeof(block));
    if (n < 0)
      return bg_error_set(err, BG_EIO, "%s", archive_error_string(a));
    if (n == 0)
      return 0;
    if (bg_buf_add(b, block, (size_t)n, err) != 0)
      return -1;
  }
}

/* One pass over the tar: blobs into the cache, index.json / manifest.json into memory.
 * docker=1 hashes every regular file (docker-archive names them by path). */
static int read_archive(const char *path, const struct bg_cache *c, int docker,
                        struct archive_import *im, struct bg_error *err)
{
  struct archive *a = archive_read_new();
  struct archive_entry *ent;
  struct bg_digest d;
  struct bg_error e2;
  const char *name;
  char ds[BG_DIGEST_STRLEN + 8];
  int r, rc = -1;

  if (a == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
    bg_error_set(err, BG_EIO, "cannot open %s: %s", path, archive_error_string(a));
    goto out;
  }
  for (;;) {
    r = archive_read_next_header(a, &ent);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      bg_error_set(err, BG_EIO, "%s: %s", path, archive_error_string(a));
      goto out;
    }
    if (archive_entry_filetype(ent) != AE_IFREG)
      continue;
    name = clean_name(archive_entry_pathname(ent) ? archive_entry_pathname(ent) : "");
    if (strcmp(name, "index.json") == 0 && !docker) {
      if (read_entry(a, &im->index_json, err) != 0)
        goto fail_entry;
      continue;
    }
    if (strcmp(name, "manifest.json") == 0 && docker) {
      if (read_entry(a, &im->manifest_json, err) != 0)
        goto fail_entry;
      continue;
    }
    bg_error_clear(&e2);
    snprintf(ds, sizeof(ds), "sha256:%.70s", name + (strncmp(name, "blobs/sha256/", 13) ? 0 : 13));
    if (!docker && (strncmp(name, "blobs/sha256/", 13) != 0 || bg_digest_parse(ds, &d, &e2)))
      continue;
    if (im->n >= MAX_ENTRIES) {
      bg_error_set(err, BG_ETOOBIG, "%s has more than %d files", path, MAX_ENTRIES);
      goto out;
    }
    memset(&im->m[im->n], 0, sizeof(im->m[im->n]));
    im->m[im->n].name = strdup(name);
    if (im->m[im->n].name == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
    im->n++;
    if (stream_entry(a, c, docker ? NULL : &d,
                     archive_entry_size_is_set(ent) && !docker ? (uint64_t)archive_entry_size(ent)
                                                               : BG_SIZE_UNKNOWN,
                     &im->m[im->n - 1], err) != 0)
      goto fail_entry;
  }
  rc = 0;
  goto out;
fail_entry:
  bg_error_prefix(err, "%s: %s", path, name);
out:
  archive_read_free(a);
  return rc;
}

static const struct member *find_member(const struct archive_import *im, const char *name)
{
  size_t i;

  name = clean_name(name);
  for (i = 0; i < im->n; i++)
    if (strcmp(im->m[i].name, name) == 0)
      return &im->m[i];
  return NULL;
}

static const char *layer_type(const unsigned char *m)
{
  if (m[0] == 0x1f && m[1] == 0x8b)
    return MT_DOCKER_GZIP;
  if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
    return MT_OCI_ZSTD;
  return MT_DOCKER_TAR;
}

/* "x/a:1" and "docker.io/x/a:1" name the same image. */
static int same_image_name(const char *a, const char *b)
{
  struct bg_oci_ref *ra = calloc(2, sizeof(*ra));
  struct bg_error e2;
  int same;

  if (ra == NULL)
    return 0;
  bg_error_clear(&e2);
  same = strcmp(a, b) == 0 || (bg_oci_ref_parse(a, &ra[0], &e2) == 0 &&
                               bg_oci_ref_parse(b, &ra[1], &e2) == 0 &&
                               strcmp(ra[0].name, ra[1].name) == 0);
  free(ra);
  return same;
}

static json_t *layer_descriptor(const char *mt, const struct member *mem)
{
  return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", mem->digest, "size",
                   (json_int_t)mem->size);
}

/* docker save's manifest.json: pick the image, write a schema 2 manifest for it. */
static int import_docker(const struct bg_oci_ref *ref, const struct bg_cache *c,
                         const struct archive_import *im, const struct bg_platform *want,
                         char digest[BG_DIGEST_STRLEN], char *media_type, size_t mtcap,
                         struct bg_error *err)
{
  json_t *doc = NULL, *out = NULL, *layers, *x, *t;
  const json_t *found = NULL;
  const struct member *mem;
  struct bg_buf man;
  struct bg_digest d;
  struct bg_manifest m = {0};
  char shown[300];
  size_t count = 0, i, k;
  int rc = -1;

  bg_buf_init(&man, DOC_MAX);
  if (im->manifest_json.len == 0) {
    bg_error_set(err, BG_EINVAL, "no manifest.json in the archive");
    goto out;
  }
  if (bg_json_parse(im->manifest_json.data, im->manifest_json.len, &doc, err) != 0) {
    bg_error_prefix(err, "manifest.json");
    goto out;
  }
  json_array_foreach(doc, i, x) {
    count++;
    if (ref->tag[0] == '\0')
      found = x;
    json_array_foreach(json_object_get(x, "RepoTags"), k, t) {
      if (ref->tag[0] != '\0' && json_string_value(t) &&
          same_image_name(json_string_value(t), ref->tag))
        found = x;
    }
  }
  if (found == NULL || (ref->tag[0] == '\0' && count != 1)) {
    if (ref->tag[0] != '\0')
      bg_error_set(err, BG_ENOTFOUND, "no image tagged '%s' in the archive",
                   bg_escape_str(ref->tag, shown, sizeof(shown)));
    else
      bg_error_set(err, BG_ENOTFOUND, "the archive holds %zu images; name one as "
                   "docker-archive:%s:NAME:TAG", count, ref->path);
    goto out;
  }
  mem = bg_json_getstr(found, "Config") ? find_member(im, bg_json_getstr(found, "Config")) : NULL;
  if (mem == NULL) {
    bg_error_set(err, BG_EINVAL, "manifest.json names a Config the archive does not hold");
    goto out;
  }
  layers = json_array();
  out = json_pack("{s:i,s:s,s:o,s:o}", "schemaVersion", 2, "mediaType", MT_DOCKER_MANIFEST,
                  "config", layer_descriptor(MT_DOCKER_CONFIG, mem), "layers", layers);
  if (out == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  json_array_foreach(json_object_get(found, "Layers"), i, x) {
    mem = json_string_value(x) ? find_member(im, json_string_value(x)) : NULL;
    if (mem == NULL) {
      bg_error_set(err, BG_EINVAL, "manifest.json names a layer the archive does not hold: %s",
                   json_string_value(x) ? bg_escape_str(json_string_value(x), shown,
                                                        sizeof(shown)) : "(not a string)");
      goto out;
    }
    if (json_array_append_new(layers, layer_descriptor(layer_type(mem->magic), mem)) != 0) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
  }
  if (bg_json_dump(&man, out, err) != 0)
    goto out;
  if (bg_sha256_buf(man.data, man.len, d.raw, err) != 0)
    goto out;
  bg_hex(d.raw, BG_SHA256_LEN, d.hex);
  if (bg_cache_put(c, &d, man.data, man.len, err) != 0)
    goto out;
  bg_digest_format(d.raw, digest);
  snprintf(media_type, mtcap, "%s", MT_DOCKER_MANIFEST);
  if (bg_manifest_parse(man.data, man.len, NULL, &m, err) != 0)
    goto out;
  rc = bg_cache_index_record(c, ref->name, want, &m, digest, man.len, err);
out:
  bg_manifest_free(&m);
  bg_buf_free(&man);
  if (out != NULL)
    json_decref(out);
  if (doc != NULL)
    json_decref(doc);
  return rc;
}

int bg_oci_local_import(const struct bg_oci_ref *ref, const struct bg_cache *c,
                        const struct bg_platform *want, char digest[BG_DIGEST_STRLEN],
                        char *media_type, size_t mtcap, struct bg_error *err)
{
  struct archive_import im;
  char path[BG_REF_PATH_MAX + 16];
  struct bg_buf b;
  size_t i;
  int rc = -1;

  memset(&im, 0, sizeof(im));
  bg_buf_init(&im.index_json, DOC_MAX);
  bg_buf_init(&im.manifest_json, DOC_MAX);
  bg_buf_init(&b, DOC_MAX);
  if (ref->transport == BG_REF_OCI_DIR) {
    snprintf(path, sizeof(path), "%s/index.json", ref->path);
    if (read_small(path, &b, err) == 0)
      rc = import_layout(ref, c, ref->path, b.data ? b.data : "", b.len, want, digest,
                         media_type, mtcap, err);
    goto out;
  }
  im.m = calloc(MAX_ENTRIES, sizeof(*im.m));
  if (im.m == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  if (read_archive(ref->path, c, ref->transport == BG_REF_DOCKER_ARCHIVE, &im, err) != 0)
    goto out;
  if (ref->transport == BG_REF_DOCKER_ARCHIVE) {
    rc = import_docker(ref, c, &im, want, digest, media_type, mtcap, err);
  } else if (im.index_json.len == 0) {
    bg_error_set(err, BG_EINVAL, "%s has no index.json: not an OCI archive", ref->path);
  } else {
    rc = import_layout(ref, c, NULL, im.index_json.data, im.index_json.len, want, digest,
                       media_type, mtcap, err);
  }
out:
  for (i = 0; i < im.n; i++)
    free(im.m[i].name);
  free(im.m);
  bg_buf_free(&im.index_json);
  bg_buf_free(&im.manifest_json);
  bg_buf_free(&b);
  return rc;
}
