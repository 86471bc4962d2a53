#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

#define TMP_PREFIX ".tmp-"
#define STALE_TMP_SECONDS (24 * 3600)

static int mkdir_p(const char *path, struct bg_error *err)
{
  char buf[PATH_MAX];
  size_t i, n = strlen(path);

  if (n >= sizeof(buf))
    return bg_error_set(err, BG_EINVAL, "path too long: %.200s", path);
  memcpy(buf, path, n + 1);
  for (i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return bg_error_errno(err, errno, "cannot create directory %s", buf);
    buf[i] = path[i];
  }
  return 0;
}

static int fsync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return -1;
  fsync(fd);
  close(fd);
  return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
  const char *s = p;
  ssize_t w;

  while (n > 0) {
    w = write(fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Writes a small file atomically: temp name, fsync, rename. */
static int write_atomic(const char *dir, const char *name, const void *p, size_t n,
                        struct bg_error *err)
{
  char path[PATH_MAX], tmp[PATH_MAX];
  int fd;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld", dir, name, (long)getpid());
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return bg_error_errno(err, errno, "cannot create %s", tmp);
  if (write_all(fd, p, n) != 0 || fsync(fd) != 0) {
    bg_error_errno(err, errno, "cannot write %s", tmp);
    close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    bg_error_errno(err, errno, "cannot rename %s to %s", tmp, path);
    unlink(tmp);
    return -1;
  }
  fsync_dir(dir);
  return 0;
}

int bg_cache_open(const char *dir, struct bg_cache *c, struct bg_error *err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  static const char index[] = "{\"schemaVersion\":2,\"manifests\":[]}";
  char path[PATH_MAX];
  struct stat st;

  if (strlen(dir) >= sizeof(c->dir))
    return bg_error_set(err, BG_EINVAL, "cache directory path too long");
  snprintf(c->dir, sizeof(c->dir), "%s", dir);
  snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
  if (mkdir_p(path, err) != 0)
    return bg_error_prefix(err, "opening the cache");
  /* layer paths handed out must stay valid whatever the caller's working directory */
  if (realpath(dir, path) == NULL)
    return bg_error_errno(err, errno, "cannot resolve %s", dir);
  if (strlen(path) >= sizeof(c->dir))
    return bg_error_set(err, BG_EINVAL, "cache directory path too long");
  snprintf(c->dir, sizeof(c->dir), "%s", path);
  snprintf(path, sizeof(path), "%s/oci-layout", dir);
  if (stat(path, &st) != 0 && write_atomic(dir, "oci-layout", layout, sizeof(layout) - 1, err))
    return -1;
  snprintf(path, sizeof(path), "%s/index.json", dir);
  if (stat(path, &st) != 0 && write_atomic(dir, "index.json", index, sizeof(index) - 1, err))
    return -1;
  return 0;
}

void bg_cache_blob_path(const struct bg_cache *c, const char *hex, char *out, size_t cap)
{
  snprintf(out, cap, "%s/blobs/sha256/%s", c->dir, hex);
}

int bg_blob_writer_open(const struct bg_cache *c, const struct bg_digest *want, uint64_t size,
                        struct bg_blob_writer *w, struct bg_error *err)
{
  struct timespec ts;

  memset(w, 0, sizeof(*w));
  w->fd = -1;
  w->want_size = size;
  if (want != NULL) {
    w->want = *want;
    w->have_digest = 1;
  }
  w->h = bg_sha256_new(err);
  if (w->h == NULL)
    return -1;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(w->tmp, sizeof(w->tmp), "%s/blobs/sha256/" TMP_PREFIX "%.16s-%ld-%lx", c->dir,
           want ? want->hex : "unknown", (long)getpid(), (unsigned long)ts.tv_nsec);
  w->fd = open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    bg_error_errno(err, errno, "cannot create %s", w->tmp);
    bg_sha256_free(w->h);
    w->h = NULL;
    w->tmp[0] = '\0';
    return -1;
  }
  return 0;
}

int bg_blob_writer_write(struct bg_blob_writer *w, const void *p, size_t n, struct bg_error *err)
{
  if (w->want_size != BG_SIZE_UNKNOWN && n > w->want_size - w->have)
    return bg_error_set(err, BG_EMISMATCH, "blob is larger than the %llu bytes its descriptor "
                        "gives", (unsigned long long)w->want_size);
  if (write_all(w->fd, p, n) != 0)
    return bg_error_errno(err, errno, "cannot write %s", w->tmp);
  if (bg_sha256_update(w->h, p, n, err) != 0)
    return -1;
  w->have += n;
  return 0;
}

int bg_blob_writer_restart(struct bg_blob_writer *w, struct bg_error *err)
{
  unsigned char junk[BG_SHA256_LEN];

  if (ftruncate(w->fd, 0) != 0 || lseek(w->fd, 0, SEEK_SET) != 0)
    return bg_error_errno(err, errno, "cannot truncate %s", w->tmp);
  w->have = 0;
  return bg_sha256_final(w->h, junk, err); /* final resets the hasher */
}

void bg_blob_writer_abort(struct bg_blob_writer *w)
{
  if (w->fd >= 0)
    close(w->fd);
  w->fd = -1;
  if (w->tmp[0] != '\0')
    unlink(w->tmp);
  w->tmp[0] = '\0';
  bg_sha256_free(w->h);
  w->h = NULL;
}

int bg_blob_writer_commit(const struct bg_cache *c, struct bg_blob_writer *w,
                          struct bg_error *err)
{
  unsigned char raw[BG_SHA256_LEN];
  char path[PATH_MAX], dir[PATH_MAX], got[BG_DIGEST_STRLEN], hex[BG_SHA256_HEXLEN + 1];
  int rc = -1;

  if (w->want_size != BG_SIZE_UNKNOWN && w->have != w->want_size) {
    bg_error_set(err, BG_EMISMATCH, "blob is %llu bytes, expected %llu",
                 (unsigned long long)w->have, (unsigned long long)w->want_size);
    goto out;
  }
  if (bg_sha256_final(w->h, raw, err) != 0)
    goto out;
  bg_digest_format(raw, got);
  if (w->have_digest && memcmp(raw, w->want.raw, BG_SHA256_LEN) != 0) {
    bg_error_set(err, BG_EMISMATCH, "digest mismatch: expected sha256:%s, got %s", w->want.hex,
                 got);
    goto out;
  }
  if (fsync(w->fd) != 0) {
    bg_error_errno(err, errno, "cannot fsync %s", w->tmp);
    goto out;
  }
  bg_hex(raw, BG_SHA256_LEN, hex);
  bg_cache_blob_path(c, hex, path, sizeof(path));
  if (rename(w->tmp, path) != 0) {
    bg_error_errno(err, errno, "cannot rename %s to %s", w->tmp, path);
    goto out;
  }
  w->tmp[0] = '\0';
  memcpy(w->final_digest, got, sizeof(got));
  snprintf(dir, sizeof(dir), "%s/blobs/sha256", c->dir);
  fsync_dir(dir);
  rc = 0;
out:
  bg_blob_writer_abort(w);
  return rc;
}

int bg_cache_put(const struct bg_cache *c, const struct bg_digest *d, const void *p, size_t n,
                 struct bg_error *err)
{
  struct bg_blob_writer w;

  if (bg_blob_writer_open(c, d, n, &w, err) != 0)
    return -1;
  if (bg_blob_writer_write(&w, p, n, err) != 0) {
    bg_blob_writer_abort(&w);
    return -1;
  }
  return bg_blob_writer_commit(c, &w, err);
}

int bg_cache_check(const struct bg_cache *c, const struct bg_digest *d, uint64_t size,
                   struct bg_error *err)
{
  unsigned char raw[BG_SHA256_LEN];
  char path[PATH_MAX];
  struct bg_error e2;
  uint64_t got = 0;

  bg_cache_blob_path(c, d->hex, path, sizeof(path));
  bg_error_clear(&e2);
  if (bg_sha256_file(path, raw, &got, &e2) != 0) {
    if (e2.code == BG_ENOTFOUND)
      return 1;
    *err = e2;
    return -1;
  }
  if (memcmp(raw, d->raw, BG_SHA256_LEN) == 0 && (size == BG_SIZE_UNKNOWN || got == size))
    return 0;
  if (unlink(path) != 0 && errno != ENOENT)
    return bg_error_errno(err, errno, "cannot remove corrupt blob %s", path);
  return 2;
}

int bg_cache_read(const struct bg_cache *c, const struct bg_digest *d, size_t cap,
                  struct bg_buf *out, struct bg_error *err)
{
  unsigned char raw[BG_SHA256_LEN];
  char path[PATH_MAX];
  int rc;

  bg_cache_blob_path(c, d->hex, path, sizeof(path));
  bg_buf_reset(out);
  out->max = cap;
  rc = bg_buf_read_file(out, path, err);
  if (rc != 0)
    return rc;
  if (bg_sha256_buf(out->data ? out->data : "", out->len, raw, err) != 0)
    return -1;
  if (memcmp(raw, d->raw, BG_SHA256_LEN) != 0) {
    unlink(path);
    return 2;
  }
  return 0;
}

/* ---- index.json ---- */

static int lock_cache(const struct bg_cache *c, struct bg_error *err)
{
  char path[PATH_MAX];
  int fd;

  snprintf(path, sizeof(path), "%s/.lock", c->dir);
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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

static int load_index(const struct bg_cache *c, struct bg_json_doc **doc, struct bg_error *err)
{
  char path[PATH_MAX];
  struct bg_buf b;
  const struct bg_json *m;
  int rc = -1;

  *doc = NULL;
  bg_buf_init(&b, BG_INDEX_MAX);
  snprintf(path, sizeof(path), "%s/index.json", c->dir);
  rc = bg_buf_read_file(&b, path, err);
  if (rc != 0) {
    if (rc == 1)
      bg_error_set(err, BG_ENOTFOUND, "cannot open %s: No such file or directory", path);
    bg_buf_free(&b);
    return -1;
  }
  rc = -1;
  if (bg_json_parse(b.data ? b.data : "", b.len, doc, err) != 0)
    goto out;
  m = bg_json_get(bg_json_root(*doc), "manifests");
  if (bg_json_root(*doc)->type != BG_JSON_OBJECT || (m != NULL && m->type != BG_JSON_ARRAY)) {
    bg_error_set(err, BG_EINVAL, "not an OCI index");
    goto out;
  }
  rc = 0;
out:
  if (rc != 0) {
    bg_error_prefix(err, "%s", path);
    bg_json_free(*doc);
    *doc = NULL;
  }
  bg_buf_free(&b);
  return rc;
}

static int entry_matches(const struct bg_json *e, const char *name, const char *os,
                         const char *arch, const char *variant)
{
  const struct bg_json *p = bg_json_get(e, "platform");
  const char *n = bg_json_getstr(bg_json_get(e, "annotations"), BG_ANNOT_REF_NAME);
  const char *v;

  if (n == NULL || strcmp(n, name) != 0)
    return 0;
  if (os == NULL)
    return 1;
  v = bg_json_getstr(p, "variant");
  return bg_json_getstr(p, "os") && strcmp(bg_json_getstr(p, "os"), os) == 0 &&
         bg_json_getstr(p, "architecture") && strcmp(bg_json_getstr(p, "architecture"), arch) == 0 &&
         strcmp(v ? v : "", variant ? variant : "") == 0;
}

int bg_cache_index_set(const struct bg_cache *c, const struct bg_index_entry *e,
                       struct bg_error *err)
{
  struct bg_json_doc *doc = NULL;
  const struct bg_json *root, *m, *x;
  struct bg_buf b;
  int lockfd, rc = -1, first = 1;

  bg_buf_init(&b, BG_INDEX_MAX);
  lockfd = lock_cache(c, err);
  if (lockfd < 0)
    return -1;
  if (load_index(c, &doc, err) != 0)
    goto out;
  root = bg_json_root(doc);
  if (bg_buf_addstr(&b, "{\"schemaVersion\":2,\"mediaType\":"
                        "\"application/vnd.oci.image.index.v1+json\",\"manifests\":[", err))
    goto out;
  m = bg_json_get(root, "manifests");
  for (x = m ? m->child : NULL; x != NULL; x = x->next) {
    if (entry_matches(x, e->name, e->os, e->arch, e->variant))
      continue;
    if (!first && bg_buf_add(&b, ",", 1, err) != 0)
      goto out;
    first = 0;
    if (bg_json_write(&b, x, err) != 0)
      goto out;
  }
  if (!first && bg_buf_add(&b, ",", 1, err) != 0)
    goto out;
  if (bg_buf_addstr(&b, "{\"mediaType\":", err) || bg_json_write_str(&b, e->media_type, err) ||
      bg_buf_printf(&b, err, ",\"digest\":\"%s\",\"size\":%llu,\"annotations\":{\"%s\":",
                    e->digest, (unsigned long long)e->size, BG_ANNOT_REF_NAME) ||
      bg_json_write_str(&b, e->name, err))
    goto out;
  if (e->source_digest != NULL &&
      (bg_buf_printf(&b, err, ",\"%s\":\"%s\",\"%s\":", BG_ANNOT_SOURCE_DIGEST,
                     e->source_digest, BG_ANNOT_SOURCE_TYPE) ||
       bg_json_write_str(&b, e->source_media_type, err)))
    goto out;
  if (bg_buf_addstr(&b, "},\"platform\":{", err) ||
      bg_buf_addstr(&b, "\"architecture\":", err) || bg_json_write_str(&b, e->arch, err) ||
      bg_buf_addstr(&b, ",\"os\":", err) || bg_json_write_str(&b, e->os, err))
    goto out;
  if (e->variant && e->variant[0] &&
      (bg_buf_addstr(&b, ",\"variant\":", err) || bg_json_write_str(&b, e->variant, err)))
    goto out;
  /* keep any other top-level fields (annotations) another tool wrote */
  if (bg_buf_addstr(&b, "}}]", err))
    goto out;
  for (x = root->child; x != NULL; x = x->next) {
    if (!strcmp(x->key, "schemaVersion") || !strcmp(x->key, "mediaType") ||
        !strcmp(x->key, "manifests"))
      continue;
    if (bg_buf_add(&b, ",", 1, err) || bg_json_write_str(&b, x->key, err) ||
        bg_buf_add(&b, ":", 1, err) || bg_json_write(&b, x, err))
      goto out;
  }
  if (bg_buf_addstr(&b, "}\n", err) || write_atomic(c->dir, "index.json", b.data, b.len, err))
    goto out;
  rc = 0;
out:
  if (rc != 0)
    bg_error_prefix(err, "updating the cache index");
  bg_json_free(doc);
  bg_buf_free(&b);
  close(lockfd); /* releases the lock */
  return rc;
}

int bg_cache_index_find(const struct bg_cache *c, const char *name, const char *os,
                        const char *arch, const char *variant, char digest[BG_DIGEST_STRLEN],
                        char *media_type, size_t mtcap, struct bg_error *err)
{
  struct bg_json_doc *doc = NULL;
  const struct bg_json *m, *x, *found = NULL;
  struct bg_digest d;
  const char *s;
  int rc = 1;

  if (load_index(c, &doc, err) != 0)
    return -1;
  m = bg_json_get(bg_json_root(doc), "manifests");
  for (x = m ? m->child : NULL; x != NULL; x = x->next)
    if (entry_matches(x, name, os, arch, variant))
      found = x;
  if (found != NULL) {
    const struct bg_json *an = bg_json_get(found, "annotations");
    int src = bg_json_getstr(an, BG_ANNOT_SOURCE_DIGEST) != NULL;
    s = src ? bg_json_getstr(an, BG_ANNOT_SOURCE_DIGEST) : bg_json_getstr(found, "digest");
    if (s != NULL && bg_digest_parse(s, &d, err) == 0) {
      memcpy(digest, s, BG_DIGEST_STRLEN);
      s = src ? bg_json_getstr(an, BG_ANNOT_SOURCE_TYPE) : bg_json_getstr(found, "mediaType");
      snprintf(media_type, mtcap, "%s", s ? s : "");
      rc = 0;
    } else {
      rc = -1;
      bg_error_set(err, BG_EINVAL, "cache index entry for %s has no valid digest", name);
    }
  }
  bg_json_free(doc);
  return rc;
}

/* ---- verify and gc ---- */

static int is_hex64(const char *s)
{
  size_t i;

  for (i = 0; i < BG_SHA256_HEXLEN; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return s[i] == '\0';
}

/* Calls fn(ctx, name) for each entry of blobs/sha256. */
static int each_blob(const struct bg_cache *c, int (*fn)(const struct bg_cache *, const char *,
                                                          void *, struct bg_error *),
                     void *ctx, struct bg_error *err)
{
  char dir[PATH_MAX];
  struct dirent *de;
  DIR *d;
  int rc = 0;

  snprintf(dir, sizeof(dir), "%s/blobs/sha256", c->dir);
  d = opendir(dir);
  if (d == NULL)
    return bg_error_errno(err, errno, "cannot open %s", dir);
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' && strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
      continue;
    rc = fn(c, de->d_name, ctx, err);
    if (rc != 0)
      break;
  }
  closedir(d);
  return rc;
}

struct sweep {
  bg_cache_removed_fn fn;
  void *ctx;
  char **keep; /* sorted hex digests reachable from index.json (gc) */
  size_t nkeep;
};

static int remove_stale_tmp(const struct bg_cache *c, const char *name, struct bg_error *err)
{
  char path[PATH_MAX];
  struct stat st;

  snprintf(path, sizeof(path), "%s/blobs/sha256/%s", c->dir, name);
  if (lstat(path, &st) == 0 && st.st_mtime + STALE_TMP_SECONDS < time(NULL))
    unlink(path);
  return 0;
}

static int verify_one(const struct bg_cache *c, const char *name, void *ctx,
                      struct bg_error *err)
{
  struct sweep *s = ctx;
  char digest[BG_DIGEST_STRLEN], path[PATH_MAX];
  struct bg_digest d;
  struct bg_error e2;
  int rc;

  if (name[0] == '.')
    return remove_stale_tmp(c, name, err);
  snprintf(digest, sizeof(digest), "sha256:%.64s", name);
  bg_error_clear(&e2);
  if (!is_hex64(name) || bg_digest_parse(digest, &d, &e2) != 0) {
    /* not a blob name at all: nothing refers to it */
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", c->dir, name);
    unlink(path);
    return s->fn ? s->fn(s->ctx, name) : 0;
  }
  rc = bg_cache_check(c, &d, BG_SIZE_UNKNOWN, err);
  if (rc < 0)
    return -1;
  if (rc == 2 && s->fn)
    return s->fn(s->ctx, digest);
  return 0;
}

int bg_cache_verify(const struct bg_cache *c, bg_cache_removed_fn fn, void *ctx,
                    struct bg_error *err)
{
  struct sweep s = {fn, ctx, NULL, 0};

  return each_blob(c, verify_one, &s, err);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int keep_add(struct sweep *s, const char *hex, size_t *cap)
{
  char **n;

  if (s->nkeep == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    n = realloc(s->keep, *cap * sizeof(char *));
    if (n == NULL)
      return -1;
    s->keep = n;
  }
  s->keep[s->nkeep] = strdup(hex);
  if (s->keep[s->nkeep] == NULL)
    return -1;
  s->nkeep++;
  return 0;
}

/* Marks d and, for manifests and indexes, everything they reference (bounded depth). */
static int mark(const struct bg_cache *c, const struct bg_json *desc, struct sweep *s,
                size_t *cap, int depth, struct bg_error *err)
{
  const char *mt = bg_json_getstr(desc, "mediaType");
  const char *ds = bg_json_getstr(desc, "digest");
  struct bg_json_doc *doc = NULL;
  const struct bg_json *root, *x;
  struct bg_digest d;
  struct bg_error e2;
  struct bg_buf b;
  int rc = 0;

  bg_error_clear(&e2);
  if (ds == NULL || bg_digest_parse(ds, &d, &e2) != 0)
    return 0;
  if (keep_add(s, d.hex, cap) != 0)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  if (depth > 8 || mt == NULL || (strstr(mt, "manifest") == NULL && strstr(mt, "index") == NULL))
    return 0;
  bg_buf_init(&b, 4 << 20);
  if (bg_cache_read(c, &d, 4 << 20, &b, &e2) == 0 &&
      bg_json_parse(b.data ? b.data : "", b.len, &doc, &e2) == 0) {
    root = bg_json_root(doc);
    if (bg_json_get(root, "config") != NULL)
      rc = mark(c, bg_json_get(root, "config"), s, cap, depth + 1, err);
    x = bg_json_get(root, "layers");
    for (x = x ? x->child : NULL; rc == 0 && x != NULL; x = x->next)
      rc = mark(c, x, s, cap, depth + 1, err);
    x = bg_json_get(root, "manifests");
    for (x = x ? x->child : NULL; rc == 0 && x != NULL; x = x->next)
      rc = mark(c, x, s, cap, depth + 1, err);
  }
  bg_json_free(doc);
  bg_buf_free(&b);
  return rc;
}

static int gc_one(const struct bg_cache *c, const char *name, void *ctx, struct bg_error *err)
{
  struct sweep *s = ctx;
  char path[PATH_MAX], digest[BG_DIGEST_STRLEN + 64];
  const char *key = name;

  if (name[0] == '.')
    return remove_stale_tmp(c, name, err);
  if (bsearch(&key, s->keep, s->nkeep, sizeof(char *), cmp_str) != NULL)
    return 0;
  snprintf(path, sizeof(path), "%s/blobs/sha256/%s", c->dir, name);
  if (unlink(path) != 0 && errno != ENOENT)
    return bg_error_errno(err, errno, "cannot remove %s", path);
  snprintf(digest, sizeof(digest), "sha256:%s", name);
  return s->fn ? s->fn(s->ctx, digest) : 0;
}

int bg_cache_gc(const struct bg_cache *c, bg_cache_removed_fn fn, void *ctx,
                struct bg_error *err)
{
  struct sweep s = {fn, ctx, NULL, 0};
  struct bg_json_doc *doc = NULL;
  const struct bg_json *m, *x;
  size_t cap = 0, i;
  int lockfd, rc = -1;

  /* under the lock, so a pull cannot add an entry between mark and sweep */
  lockfd = lock_cache(c, err);
  if (lockfd < 0)
    return -1;
  if (load_index(c, &doc, err) != 0)
    goto out;
  m = bg_json_get(bg_json_root(doc), "manifests");
  for (x = m ? m->child : NULL; x != NULL; x = x->next) {
    const struct bg_json *an = bg_json_get(x, "annotations");
    if (mark(c, x, &s, &cap, 0, err) != 0)
      goto out;
    if (bg_json_get(an, BG_ANNOT_SOURCE_DIGEST) != NULL) {
      /* the manifest as pulled: a descriptor made of the annotations */
      struct bg_json d = {BG_JSON_OBJECT, NULL, NULL, 0, NULL, NULL};
      struct bg_json dg = *bg_json_get(an, BG_ANNOT_SOURCE_DIGEST);
      struct bg_json mt = {BG_JSON_STRING, "mediaType", "manifest", 8, NULL, NULL};
      dg.key = "digest";
      dg.next = &mt;
      d.child = &dg;
      if (mark(c, &d, &s, &cap, 0, err) != 0)
        goto out;
    }
  }
  if (s.nkeep > 0)
    qsort(s.keep, s.nkeep, sizeof(char *), cmp_str);
  rc = each_blob(c, gc_one, &s, err);
out:
  for (i = 0; i < s.nkeep; i++)
    free(s.keep[i]);
  free(s.keep);
  bg_json_free(doc);
  close(lockfd);
  return rc;
}
