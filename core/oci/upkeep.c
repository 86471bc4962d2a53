/* Cache upkeep: verify (rehash every blob, repair index.json) and gc (remove what no entry
 * reaches). blobs/sha256 is read through one descriptor opened without following a symlink, and
 * every removal is relative to it, so nothing outside the cache can be touched. */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "manifest.h"
#include "../util/escape.h"
#include "../util/json.h"

#define STALE_TMP_SECONDS (24 * 3600)
#define MARK_DEPTH 8

static int is_hex64(const char *s)
{
  size_t i;

  for (i = 0; i < BG_SHA256_HEXLEN; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return s[i] == '\0';
}

typedef int (*blob_fn)(const struct bg_cache *c, int dfd, const char *name, void *ctx,
                       struct bg_error *err);

/* Calls fn for each entry of blobs/sha256 that is not a dot file; temp files of a writer that
 * is gone were swept before, and those of an older naming are removed once a day old. */
static int each_blob(const struct bg_cache *c, blob_fn fn, void *ctx, struct bg_error *err)
{
  char dir[PATH_MAX];
  struct dirent *de;
  struct stat st;
  int dfd, rc = 0;
  DIR *d;

  bg_cache_sweep(c);
  snprintf(dir, sizeof(dir), "%s/blobs/sha256", c->dir);
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return bg_error_errno(err, errno, "cannot open %s", dir);
  d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    return bg_error_errno(err, errno, "cannot read %s", dir);
  }
  while (rc == 0 && (de = readdir(d)) != NULL) {
    if (de->d_name[0] != '.') {
      rc = fn(c, dfd, de->d_name, ctx, err);
    } else if (strncmp(de->d_name, BG_BLOB_TMP_PREFIX, strlen(BG_BLOB_TMP_PREFIX)) == 0 &&
               fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               st.st_mtime + STALE_TMP_SECONDS < time(NULL)) {
      unlinkat(dfd, de->d_name, 0);
    }
  }
  closedir(d);
  return rc;
}

struct sweep {
  bg_cache_removed_fn fn;
  void *ctx;
  char **keep; /* sorted hex digests reachable from index.json (gc) */
  size_t nkeep, cap;
};

static int verify_one(const struct bg_cache *c, int dfd, const char *name, void *ctx,
                      struct bg_error *err)
{
  struct sweep *s = ctx;
  char digest[BG_DIGEST_STRLEN], shown[300];
  struct bg_digest d;
  struct bg_error e2;
  int rc;

  snprintf(digest, sizeof(digest), "sha256:%.64s", name);
  bg_error_clear(&e2);
  if (!is_hex64(name) || bg_digest_parse(digest, &d, &e2) != 0) {
    /* not a blob name at all: nothing refers to it */
    if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
      return bg_error_errno(err, errno, "cannot remove %s/blobs/sha256/%s", c->dir,
                            bg_escape_str(name, shown, sizeof(shown)));
    return s->fn ? s->fn(s->ctx, bg_escape_str(name, shown, sizeof(shown))) : 0;
  }
  rc = bg_cache_check(c, &d, BG_SIZE_UNKNOWN, err);
  if (rc < 0)
    return -1;
  if (rc == 2 && s->fn)
    return s->fn(s->ctx, digest);
  return 0;
}

int bg_cache_verify(const struct bg_cache *c, bg_cache_removed_fn removed,
                    bg_cache_removed_fn repaired, void *ctx, struct bg_error *err)
{
  struct sweep s = {removed, ctx, NULL, 0, 0};

  if (each_blob(c, verify_one, &s, err) != 0)
    return -1;
  return bg_cache_index_repair(c, repaired, ctx, err);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int keep_add(struct sweep *s, const char *hex, struct bg_error *err)
{
  char **n;

  if (s->nkeep == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    n = realloc(s->keep, s->cap * sizeof(char *));
    if (n == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
    s->keep = n;
  }
  s->keep[s->nkeep] = strdup(hex);
  if (s->keep[s->nkeep] == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  s->nkeep++;
  return 0;
}

struct marker {
  const struct bg_cache *c;
  struct sweep *s;
  struct bg_error *err;
  int depth;
};

static int mark(void *ctx, const char *ds, const char *mt);

static int mark_desc(struct marker *k, const json_t *desc)
{
  const char *ds = bg_json_getstr(desc, "digest");

  return ds != NULL ? mark(k, ds, bg_json_getstr(desc, "mediaType")) : 0;
}

/* Keeps the blob ds and, for manifests and indexes, everything they reference. A manifest
 * that is missing or unreadable keeps only itself: gc never guesses. */
static int mark(void *ctx, const char *ds, const char *mt)
{
  struct marker *k = ctx;
  json_t *root = NULL, *x;
  struct bg_digest d;
  struct bg_error e2;
  struct bg_buf b;
  size_t i;
  int rc = 0;

  bg_error_clear(&e2);
  if (bg_digest_parse(ds, &d, &e2) != 0)
    return 0;
  if (keep_add(k->s, d.hex, k->err) != 0)
    return -1;
  if (k->depth > MARK_DEPTH || mt == NULL ||
      (strstr(mt, "manifest") == NULL && strstr(mt, "index") == NULL))
    return 0;
  bg_buf_init(&b, BG_MANIFEST_MAX);
  if (bg_cache_read(k->c, &d, BG_MANIFEST_MAX, &b, &e2) == 0 &&
      bg_json_parse(b.data ? b.data : "", b.len, &root, &e2) == 0) {
    k->depth++;
    if (json_object_get(root, "config") != NULL)
      rc = mark_desc(k, json_object_get(root, "config"));
    json_array_foreach(json_object_get(root, "layers"), i, x) {
      if (rc == 0)
        rc = mark_desc(k, x);
    }
    json_array_foreach(json_object_get(root, "manifests"), i, x) {
      if (rc == 0)
        rc = mark_desc(k, x);
    }
    k->depth--;
  }
  if (root != NULL)
    json_decref(root);
  bg_buf_free(&b);
  return rc;
}

static int gc_one(const struct bg_cache *c, int dfd, const char *name, void *ctx,
                  struct bg_error *err)
{
  struct sweep *s = ctx;
  char digest[BG_DIGEST_STRLEN + 300], shown[300];
  const char *key = name;

  if (bsearch(&key, s->keep, s->nkeep, sizeof(char *), cmp_str) != NULL)
    return 0;
  bg_escape_str(name, shown, sizeof(shown));
  if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
    return bg_error_errno(err, errno, "cannot remove %s/blobs/sha256/%s", c->dir, shown);
  snprintf(digest, sizeof(digest), "%s%s", is_hex64(name) ? "sha256:" : "", shown);
  return s->fn ? s->fn(s->ctx, digest) : 0;
}

int bg_cache_gc(const struct bg_cache *c, bg_cache_removed_fn fn, void *ctx,
                struct bg_error *err)
{
  struct sweep s = {fn, ctx, NULL, 0, 0};
  struct marker k = {c, &s, err, 0};
  size_t i;
  int lockfd, rc = -1;

  /* under the lock, so a pull cannot add an entry between mark and sweep */
  lockfd = bg_cache_lock(c, err);
  if (lockfd < 0)
    return -1;
  if (bg_cache_index_roots(c, mark, &k, err) != 0)
    goto out;
  if (s.nkeep > 0)
    qsort(s.keep, s.nkeep, sizeof(char *), cmp_str);
  rc = each_blob(c, gc_one, &s, err);
out:
  for (i = 0; i < s.nkeep; i++)
    free(s.keep[i]);
  free(s.keep);
  close(lockfd);
  return rc;
}
