/* An image written back out of a rootfs artifact. Two threads share the work: this one reads
 * the layer, hashes it and decompresses it into a ring of buffers; the other hashes the image
 * and writes its blocks, leaving all-zero ones as holes (the two halves cost about the same).
 * The output is a temp file beside the target (util/tmpfile.h), renamed only when the layer's
 * digest, the image's size and its sha256 all agree with the manifest. */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "../util/sparse.h"

#define RING 4
#define SLOT (4u << 20) /* a multiple of the block size: every slot but the last is full */
#define BLOCK 4096
#define IN_CHUNK (1u << 20)

struct ring {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *buf[RING];
  size_t len[RING];
  size_t tail, count;  /* filled slots start at tail; the writer owns buf[tail] while busy */
  int eof, failed;
  /* the writer's */
  struct bg_sha256 *h; /* the image's */
  int fd;
  const char *path;
  uint64_t at;
  struct bg_error err;
};

static int write_all_at(int fd, const char *p, size_t n, uint64_t at, const char *path,
                        struct bg_error *err)
{
  ssize_t w;

  while (n > 0) {
    w = pwrite(fd, p, n, (off_t)at);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return bg_error_errno(err, errno, "cannot write %s", path);
    p += w;
    n -= (size_t)w;
    at += (uint64_t)w;
  }
  return 0;
}

/* The runs of blocks that are not all zero; the rest stays a hole of the new file. */
static int write_sparse(struct ring *g, const char *p, size_t n)
{
  size_t i = 0, start;

  /* a last slot that is not whole blocks is the stream's mistake, found by the size check */
  while (i < n) {
    while (i < n && bg_all_zero(p + i, n - i < BLOCK ? n - i : BLOCK))
      i += n - i < BLOCK ? n - i : BLOCK;
    start = i;
    while (i < n && !bg_all_zero(p + i, n - i < BLOCK ? n - i : BLOCK))
      i += n - i < BLOCK ? n - i : BLOCK;
    if (i > start && write_all_at(g->fd, p + start, i - start, g->at + start, g->path,
                                  &g->err) != 0)
      return -1;
  }
  /* the writeback starts now, while the rest is decompressed, so the closing fsync has
   * little left to wait for (through the page cache: the disk gets many requests at once,
   * where O_DIRECT's one write at a time took twice as long) */
  sync_file_range(g->fd, (off_t)g->at, (off_t)n, SYNC_FILE_RANGE_WRITE);
  g->at += n;
  return 0;
}

static void *writer(void *arg)
{
  struct ring *g = arg;
  size_t slot, n;
  int rc;

  for (;;) {
    pthread_mutex_lock(&g->mu);
    while (g->count == 0 && !g->eof && !g->failed)
      pthread_cond_wait(&g->cv, &g->mu);
    if (g->count == 0 || g->failed) {
      pthread_mutex_unlock(&g->mu);
      return NULL;
    }
    slot = g->tail;
    n = g->len[slot];
    pthread_mutex_unlock(&g->mu);
    rc = bg_sha256_update(g->h, g->buf[slot], n, &g->err);
    if (rc == 0)
      rc = write_sparse(g, g->buf[slot], n);
    pthread_mutex_lock(&g->mu);
    if (rc != 0)
      g->failed = 1;
    g->tail = (g->tail + 1) % RING;
    g->count--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (rc != 0)
      return NULL;
  }
}

/* Waits for a free slot: its index, or -1 when the writer failed. */
static long free_slot(struct ring *g)
{
  long slot;

  pthread_mutex_lock(&g->mu);
  while (g->count == RING && !g->failed)
    pthread_cond_wait(&g->cv, &g->mu);
  slot = g->failed ? -1 : (long)((g->tail + g->count) % RING);
  pthread_mutex_unlock(&g->mu);
  return slot;
}

/* Gives a filled slot to the writer. */
static void hand_over(struct ring *g, size_t slot, size_t n)
{
  pthread_mutex_lock(&g->mu);
  g->len[slot] = n;
  g->count++;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void finish_ring(struct ring *g, int failed)
{
  pthread_mutex_lock(&g->mu);
  g->eof = 1;
  if (failed)
    g->failed = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* Reads and decompresses the layer into the ring: 0, or -1 with err. *seen gets the layer's
 * digest and *out the image bytes made. */
static int decompress(struct ring *g, int in_fd, const char *in_path, uint64_t in_size,
                      uint64_t max_out, unsigned char seen[BG_SHA256_LEN], uint64_t *out,
                      struct bg_error *err)
{
  ZSTD_DCtx *z = ZSTD_createDCtx();
  struct bg_sha256 *h = bg_sha256_new(err);
  char *in = malloc(IN_CHUNK);
  ZSTD_inBuffer ib;
  ZSTD_outBuffer ob = {NULL, SLOT, 0};
  uint64_t read_total = 0;
  size_t left = 1;
  ssize_t got;
  long slot = -1;
  int rc = -1;

  *out = 0;
  if (z == NULL || h == NULL || in == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  for (;;) {
    got = read(in_fd, in, IN_CHUNK);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      bg_error_errno(err, errno, "cannot read %s", in_path);
      goto out;
    }
    if (got == 0)
      break;
    read_total += (uint64_t)got;
    if (read_total > in_size) {
      bg_error_set(err, BG_EMISMATCH, "%s is larger than its %" PRIu64 " bytes", in_path,
                   in_size);
      goto out;
    }
    if (bg_sha256_update(h, in, (size_t)got, err) != 0)
      goto out;
    ib.src = in;
    ib.size = (size_t)got;
    ib.pos = 0;
    while (ib.pos < ib.size) {
      if (slot < 0) {
        slot = free_slot(g);
        if (slot < 0) {
          *err = g->err;
          goto out;
        }
        ob.dst = g->buf[slot];
        ob.pos = 0;
      }
      left = ZSTD_decompressStream(z, &ob, &ib);
      if (ZSTD_isError(left)) {
        bg_error_set(err, BG_EMISMATCH, "the layer is not a valid zstd stream: %s",
                     ZSTD_getErrorName(left));
        goto out;
      }
      if (*out + ob.pos > max_out) {
        bg_error_set(err, BG_EMISMATCH, "the layer holds more than the %" PRIu64 " bytes the "
                     "manifest gives the image", max_out);
        goto out;
      }
      if (ob.pos == ob.size) {
        *out += ob.pos;
        hand_over(g, (size_t)slot, ob.pos);
        slot = -1;
      }
    }
  }
  if (slot >= 0 && ob.pos > 0) {
    *out += ob.pos;
    hand_over(g, (size_t)slot, ob.pos);
  }
  if (left != 0) {
    bg_error_set(err, BG_EMISMATCH, "the layer's zstd stream is truncated");
    goto out;
  }
  if (read_total != in_size) {
    bg_error_set(err, BG_EMISMATCH, "the layer is %" PRIu64 " bytes, its descriptor gives %"
                 PRIu64, read_total, in_size);
    goto out;
  }
  rc = bg_sha256_final(h, seen, err);
out:
  ZSTD_freeDCtx(z);
  bg_sha256_free(h);
  free(in);
  return rc;
}

static int split(const char *path, char *dir, size_t cap, const char **base,
                 struct bg_error *err)
{
  const char *slash = strrchr(path, '/');
  size_t n;

  *base = slash ? slash + 1 : path;
  if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
    return bg_error_set(err, BG_EINVAL, "%s: not a file name", path);
  n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
  if (n + 1 > cap)
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
  if (n == 0)
    snprintf(dir, cap, ".");
  else
    snprintf(dir, cap, "%.*s", (int)n, path);
  return 0;
}

static int open_layer(const struct bg_cache *c, const struct bg_rootfs *a, char *path,
                      size_t cap, struct bg_error *err)
{
  struct stat st;
  int fd;

  bg_cache_blob_path(c, a->layer.digest.hex, path, cap);
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return bg_error_set(err, BG_ENOTFOUND, "its layer sha256:%s is not in the cache",
                        a->layer.digest.hex);
  if (fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", path);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return bg_error_set(err, BG_EMISMATCH, "%s is not a regular file", path);
  }
  return fd;
}

int bg_rootfs_restore(const struct bg_cache *c, const struct bg_rootfs *a, const char *out,
                      struct bg_error *err)
{
  struct ring g;
  struct bg_tmpfile t = {.fd = -1, .slot = -1};
  struct bg_error e2;
  unsigned char seen[BG_SHA256_LEN], image[BG_SHA256_LEN];
  char dir[PATH_MAX], prefix[PATH_MAX], layer[PATH_MAX], hex[BG_SHA256_HEXLEN + 1];
  const char *base;
  pthread_t th;
  uint64_t made = 0;
  size_t i;
  int in = -1, started = 0, rc = -1, dec;

  memset(&g, 0, sizeof(g));
  pthread_mutex_init(&g.mu, NULL);
  pthread_cond_init(&g.cv, NULL);
  bg_error_clear(&g.err);
  if (split(out, dir, sizeof(dir), &base, err) != 0)
    goto out;
  in = open_layer(c, a, layer, sizeof(layer), err);
  if (in < 0)
    goto out;
  for (i = 0; i < RING; i++) {
    g.buf[i] = malloc(SLOT);
    if (g.buf[i] == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
  }
  g.h = bg_sha256_new(err);
  if (g.h == NULL)
    goto out;
  snprintf(prefix, sizeof(prefix), ".%s.tmp-", base);
  bg_tmpfile_sweep(dir, NULL);
  if (bg_tmpfile_open(&t, dir, prefix, 0666, err) != 0)
    goto out;
  g.fd = t.fd;
  g.path = t.path;
  if (pthread_create(&th, NULL, writer, &g) != 0) {
    bg_error_set(err, BG_ENOMEM, "cannot start a thread");
    goto out;
  }
  started = 1;
  dec = decompress(&g, in, layer, a->layer.size, a->image_size, seen, &made, err);
  finish_ring(&g, dec != 0);
  pthread_join(th, NULL);
  started = 0;
  if (dec != 0) {
    /* a stream that does not decompress may be a blob damaged in the cache: then it goes */
    bg_error_clear(&e2);
    if (bg_cache_check(c, &a->layer.digest, a->layer.size, &e2) == 2) {
      bg_error_clear(err);
      bg_error_set(err, BG_EMISMATCH, "layer sha256:%s does not match its digest (removed "
                   "from the cache)", a->layer.digest.hex);
    }
    goto out;
  }
  if (g.failed) {
    *err = g.err;
    goto out;
  }
  if (memcmp(seen, a->layer.digest.raw, sizeof(seen)) != 0) {
    /* the cache's copy is bad: it goes, so the next pull fetches it again */
    unlink(layer);
    bg_hex(seen, sizeof(seen), hex);
    bg_error_set(err, BG_EMISMATCH, "layer digest mismatch: expected sha256:%s, got sha256:%s "
                 "(removed from the cache)", a->layer.digest.hex, hex);
    goto out;
  }
  if (bg_sha256_final(g.h, image, err) != 0)
    goto out;
  bg_hex(image, sizeof(image), hex);
  if (made != a->image_size || memcmp(image, a->image.raw, sizeof(image)) != 0) {
    bg_error_set(err, BG_EMISMATCH, "the image made is %" PRIu64 " bytes with sha256:%s; the "
                 "manifest gives %" PRIu64 " bytes with sha256:%s", made, hex, a->image_size,
                 a->image.hex);
    goto out;
  }
  if (ftruncate(t.fd, (off_t)a->image_size) != 0 || fsync(t.fd) != 0) {
    bg_error_errno(err, errno, "cannot finish %s", t.path);
    goto out;
  }
  if (bg_tmpfile_commit(&t, out, err) != 0 || bg_tmpfile_close(&t, err) != 0 ||
      bg_fsync_dir(dir, err) != 0)
    goto out;
  rc = 0;
out:
  if (started) {
    finish_ring(&g, 1);
    pthread_join(th, NULL);
  }
  bg_tmpfile_discard(&t);
  if (in >= 0)
    close(in);
  for (i = 0; i < RING; i++)
    free(g.buf[i]);
  bg_sha256_free(g.h);
  pthread_cond_destroy(&g.cv);
  pthread_mutex_destroy(&g.mu);
  if (rc != 0)
    bg_error_prefix(err, "restoring %s from artifact %s", out, a->digest);
  return rc;
}
