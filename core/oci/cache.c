#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "index.h"
#include "progress.h"
#include "../util/json.h"
#include "../util/tmpfile.h"

int bg_cache_write_file(const struct bg_cache *c, const char *name, const void *p, size_t n,
                        struct bg_error *err)
{
  char path[PATH_MAX], prefix[128];
  struct bg_tmpfile t;

  snprintf(path, sizeof(path), "%s/%s", c->dir, name);
  snprintf(prefix, sizeof(prefix), ".%s.tmp-", name);
  if (bg_tmpfile_open(&t, c->dir, prefix, 0644, err) != 0)
    return -1;
  if (bg_write_all(t.fd, p, n) != 0 || fsync(t.fd) != 0) {
    bg_error_errno(err, errno, "cannot write %s", t.path);
    bg_tmpfile_discard(&t);
    return -1;
  }
  if (bg_tmpfile_commit(&t, path, err) != 0) {
    bg_tmpfile_discard(&t);
    return -1;
  }
  if (bg_tmpfile_close(&t, err) != 0)
    return -1;
  return bg_sync_dir(c->dir, err);
}

static int write_layout(const struct bg_cache *c, struct bg_error *err)
{
  json_t *doc = json_pack("{s:s}", "imageLayoutVersion", "1.0.0");
  struct bg_buf b;
  int rc = -1;

  bg_buf_init(&b, 4096);
  if (doc == NULL)
    bg_error_set(err, BG_ENOMEM, "out of memory");
  else if (bg_json_dump(&b, doc, err) == 0)
    rc = bg_cache_write_file(c, "oci-layout", b.data, b.len, err);
  if (doc != NULL)
    json_decref(doc);
  bg_buf_free(&b);
  return rc;
}

/* blobs/ and blobs/sha256/ must be directories of their own, not symlinks to one: checked
 * before anything is created inside. */
static int make_real_dir(const char *path, struct bg_error *err)
{
  struct stat st;

  if (mkdir(path, 0755) != 0 && errno != EEXIST)
    return bg_error_errno(err, errno, "cannot create directory %s", path);
  if (lstat(path, &st) != 0)
    return bg_error_errno(err, errno, "cannot stat %s", path);
  if (!S_ISDIR(st.st_mode))
    return bg_error_set(err, BG_EUNSAFE, "%s is not a directory (%s): refusing to use the cache",
                        path, S_ISLNK(st.st_mode) ? "a symlink" : "another kind of file");
  return 0;
}

int bg_cache_open(const char *dir, struct bg_cache *c, struct bg_error *err)
{
  char path[PATH_MAX];
  struct stat st;

  if (strlen(dir) >= sizeof(c->dir))
    return bg_error_set(err, BG_EINVAL, "cache directory path too long");
  /* the cache directory itself may be a symlink (a user's choice); what is inside may not */
  if (bg_mkdir_p(dir, 0755, err) != 0)
    return bg_error_prefix(err, "opening the cache");
  /* layer paths handed out must stay valid whatever the caller's working directory */
  if (realpath(dir, path) == NULL)
    return bg_error_errno(err, errno, "cannot resolve %s", dir);
  if (strlen(path) >= sizeof(c->dir) - 32)
    return bg_error_set(err, BG_EINVAL, "cache directory path too long");
  snprintf(c->dir, sizeof(c->dir), "%s", path);
  snprintf(path, sizeof(path), "%s/blobs", c->dir);
  if (make_real_dir(path, err) != 0)
    return -1;
  snprintf(path, sizeof(path), "%s/blobs/sha256", c->dir);
  if (make_real_dir(path, err) != 0)
    return -1;
  snprintf(path, sizeof(path), "%s/oci-layout", c->dir);
  if (lstat(path, &st) != 0 && write_layout(c, err) != 0)
    return -1;
  snprintf(path, sizeof(path), "%s/index.json", c->dir);
  if (lstat(path, &st) != 0 && bg_cache_index_init(c, err) != 0)
    return -1;
  return 0;
}

void bg_cache_blob_path(const struct bg_cache *c, const char *hex, char *out, size_t cap)
{
  snprintf(out, cap, "%s/blobs/sha256/%s", c->dir, hex);
}

void bg_cache_sweep(const struct bg_cache *c)
{
  char dir[PATH_MAX];

  snprintf(dir, sizeof(dir), "%s/blobs/sha256", c->dir);
  bg_tmpfile_sweep(dir, BG_BLOB_TMP_PREFIX);
  bg_tmpfile_sweep(c->dir, ".index.json.tmp-");
}

int bg_blob_writer_open(const struct bg_cache *c, const struct bg_digest *want, uint64_t size,
                        struct bg_blob_writer *w, struct bg_error *err)
{
  char dir[PATH_MAX];

  memset(w, 0, sizeof(*w));
  w->t.fd = -1;
  w->want_size = size;
  if (want != NULL) {
    w->want = *want;
    w->have_digest = 1;
  }
  w->h = bg_sha256_new(err);
  if (w->h == NULL)
    return -1;
  snprintf(dir, sizeof(dir), "%s/blobs/sha256", c->dir);
  if (bg_tmpfile_open(&w->t, dir, BG_BLOB_TMP_PREFIX, 0644, err) != 0) {
    bg_sha256_free(w->h);
    w->h = NULL;
    return -1;
  }
  return 0;
}

int bg_blob_writer_write(struct bg_blob_writer *w, const void *p, size_t n, struct bg_error *err)
{
  if (w->want_size != BG_SIZE_UNKNOWN && n > w->want_size - w->have)
    return bg_error_set(err, BG_EMISMATCH, "blob is larger than the %llu bytes its descriptor "
                        "gives", (unsigned long long)w->want_size);
  if (bg_write_all(w->t.fd, p, n) != 0)
    return bg_error_errno(err, errno, "cannot write %s", w->t.path);
  if (bg_sha256_update(w->h, p, n, err) != 0)
    return -1;
  w->have += n;
  return 0;
}

int bg_blob_writer_restart(struct bg_blob_writer *w, struct bg_error *err)
{
  unsigned char junk[BG_SHA256_LEN];

  if (ftruncate(w->t.fd, 0) != 0 || lseek(w->t.fd, 0, SEEK_SET) != 0)
    return bg_error_errno(err, errno, "cannot truncate %s", w->t.path);
  w->have = 0;
  return bg_sha256_final(w->h, junk, err); /* final resets the hasher */
}

void bg_blob_writer_abort(struct bg_blob_writer *w)
{
  bg_tmpfile_discard(&w->t);
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
  if (fsync(w->t.fd) != 0) {
    bg_error_errno(err, errno, "cannot fsync %s", w->t.path);
    goto out;
  }
  bg_hex(raw, BG_SHA256_LEN, hex);
  bg_cache_blob_path(c, hex, path, sizeof(path));
  if (bg_tmpfile_commit(&w->t, path, err) != 0)
    goto out;
  if (bg_tmpfile_close(&w->t, err) != 0)
    goto out;
  memcpy(w->final_digest, got, sizeof(got));
  snprintf(dir, sizeof(dir), "%s/blobs/sha256", c->dir);
  rc = bg_sync_dir(dir, err);
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

/* Opens a blob for reading without following a symlink or blocking on a FIFO: the fd and its
 * size, 1 when missing, 2 when it is no regular file (then removed), -1 on error. */
static int open_blob(const struct bg_cache *c, const struct bg_digest *d, char *path,
                     size_t cap, int *fd, uint64_t *size, struct bg_error *err)
{
  struct stat st;
  int en;

  bg_cache_blob_path(c, d->hex, path, cap);
  *fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (*fd < 0) {
    en = errno;
    if (en == ENOENT)
      return 1;
    if (en != ELOOP)
      return bg_error_errno(err, en, "cannot open %s", path);
  } else if (fstat(*fd, &st) != 0) {
    en = errno;
    close(*fd);
    *fd = -1;
    return bg_error_errno(err, en, "cannot stat %s", path);
  } else if (S_ISREG(st.st_mode)) {
    *size = (uint64_t)st.st_size;
    return 0;
  } else {
    close(*fd);
    *fd = -1;
  }
  /* a symlink, a FIFO or a device where a blob should be: never read through it */
  if (unlink(path) != 0)
    return bg_error_errno(err, errno, "%s is not a regular file and cannot be removed", path);
  return 2;
}

static int remove_bad(const char *path, struct bg_error *err)
{
  if (unlink(path) != 0 && errno != ENOENT)
    return bg_error_errno(err, errno, "cannot remove corrupt blob %s", path);
  return 2;
}

int bg_cache_check(const struct bg_cache *c, const struct bg_digest *d, uint64_t size,
                   struct bg_error *err)
{
  unsigned char raw[BG_SHA256_LEN];
  char path[PATH_MAX];
  uint64_t have = 0, got = 0;
  int fd, rc;

  rc = open_blob(c, d, path, sizeof(path), &fd, &have, err);
  if (rc != 0)
    return rc;
  if (size != BG_SIZE_UNKNOWN && have != size) {
    close(fd);
    return remove_bad(path, err);
  }
  rc = bg_sha256_fd(fd, path, raw, &got, err);
  close(fd);
  if (rc != 0)
    return -1;
  if (memcmp(raw, d->raw, BG_SHA256_LEN) == 0 && got == have)
    return 0;
  return remove_bad(path, err);
}

int bg_cache_read(const struct bg_cache *c, const struct bg_digest *d, size_t cap,
                  struct bg_buf *out, struct bg_error *err)
{
  unsigned char raw[BG_SHA256_LEN];
  char path[PATH_MAX];
  uint64_t have = 0;
  int fd, rc;

  bg_buf_reset(out);
  out->max = cap;
  rc = open_blob(c, d, path, sizeof(path), &fd, &have, err);
  if (rc != 0)
    return rc;
  if (have > cap) {
    close(fd);
    return bg_error_set(err, BG_ETOOBIG, "%s is larger than %zu bytes", path, cap);
  }
  rc = bg_buf_read_fd(out, fd, path, err);
  close(fd);
  if (rc != 0)
    return -1;
  if (bg_sha256_buf(out->data ? out->data : "", out->len, raw, err) != 0)
    return -1;
  if (memcmp(raw, d->raw, BG_SHA256_LEN) != 0) {
    bg_buf_reset(out);
    return remove_bad(path, err);
  }
  return 0;
}

int bg_cache_check_space(const struct bg_cache *c, uint64_t bytes, struct bg_error *err)
{
  char dir[PATH_MAX], need[32], have[32];
  struct statvfs sv;
  uint64_t avail;

  snprintf(dir, sizeof(dir), "%s/blobs/sha256", c->dir);
  if (statvfs(dir, &sv) != 0)
    return 0; /* nothing known: the writes will tell */
  avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
  if (bytes <= avail)
    return 0;
  bg_human_bytes((double)bytes, need, sizeof(need));
  bg_human_bytes((double)avail, have, sizeof(have));
  return bg_error_set(err, BG_ENOSPC, "the image's blobs need %s and the cache %s has %s free",
                      need, c->dir, have);
}

