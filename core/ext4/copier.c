/* The writer's file data, copied from the tree's spool into the image on a thread of its own,
 * owned by the image's handle from the build to its close. The copies wait: they run when the
 * close comes, with the image's hash right behind them (bg_ext4_copier_ready), or when the
 * queue is full (half of it, while the writer goes on), or when something needs their blocks
 * first: whatever would read or write blocks still to be copied waits for those copies
 * (bg_ext4_copier_settle, from the handle's I/O channel). So the metadata is written first,
 * alone, and the data at the close, on one core beside the hash on the other. Copies are
 * queued in the order of their places in the image, and the spools are read through
 * descriptors of the copier's own, so the tree may go before the copies are done. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext4_internal.h"
#include "../util/copy.h"

#define RING 65536      /* copies queued at most: 2 MiB of jobs */
#define PIECE (1 << 20) /* a copy's largest piece: how far the hash may wait behind the copier */
#define WRITEBACK (8 << 20) /* once sealed, the disk gets the image's bytes in runs of this much */

struct job {
  uint64_t at, n, dst;
  unsigned src;
};

/* A spool the copies come from: the tree's descriptor (to know it again), the copier's, and
 * whether copy_file_range goes from there to the image (the tree's own flag goes with it). */
struct source {
  int theirs, fd;
  atomic_int no_range;
  char from[64 + 4096];
};

struct bg_ext4_copier {
  int out;
  pthread_mutex_t mu;
  pthread_cond_t more; /* a job was queued, the queue sealed, or a waiter let jobs run */
  pthread_cond_t done; /* a job was done, or the copier failed */
  struct job *ring;
  uint64_t head, tail; /* jobs queued and jobs done, ever: the ring holds tail..head */
  uint64_t last_end;   /* where the last job queued ends in the image */
  uint64_t allowed;    /* until sealed, jobs below this one may run */
  int sealed, failed;
  struct source src[BG_TREE_SPOOLS];
  unsigned nsrc;
  struct bg_error err; /* the first failure */
  pthread_t thread;
  int live;
};

static int may_run(const struct bg_ext4_copier *c)
{
  return c->tail < c->head && (c->sealed || c->tail < c->allowed);
}

static void *run(void *arg)
{
  struct bg_ext4_copier *c = arg;
  struct bg_error e;
  struct job j;
  uint64_t from = 0; /* where the writeback not yet started begins */
  int rc, sealed;

  pthread_setname_np(pthread_self(), "bg-copy");
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (!c->failed && !may_run(c) && !(c->sealed && c->tail == c->head))
      pthread_cond_wait(&c->more, &c->mu);
    if (c->failed || c->tail == c->head)
      break;
    j = c->ring[c->tail % RING];
    sealed = c->sealed;
    pthread_mutex_unlock(&c->mu);
    bg_error_clear(&e);
    rc = bg_copy_range(c->src[j.src].fd, j.at, c->out, j.dst, j.n, &c->src[j.src].no_range,
                       c->src[j.src].from, &e);
    /* sealed, the fsync comes next: the disk starts on what is done (the metadata before the
     * copies too) instead of waiting for the last copy; its errors come back from the fsync */
    if (rc == 0 && sealed && j.dst + j.n - from >= WRITEBACK) {
      sync_file_range(c->out, (off_t)from, (off_t)(j.dst + j.n - from), SYNC_FILE_RANGE_WRITE);
      from = j.dst + j.n;
    }
    pthread_mutex_lock(&c->mu);
    if (rc != 0) {
      c->failed = 1;
      c->err = e;
    } else {
      c->tail++;
    }
    pthread_cond_broadcast(&c->done);
  }
  pthread_cond_broadcast(&c->done);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

struct bg_ext4_copier *bg_ext4_copier_start(int out, struct bg_error *err)
{
  struct bg_ext4_copier *c = calloc(1, sizeof(*c));

  if (c != NULL)
    c->ring = malloc(RING * sizeof(*c->ring));
  if (c == NULL || c->ring == NULL) {
    free(c);
    bg_error_set(err, BG_ENOMEM, "out of memory");
    return NULL;
  }
  c->out = out;
  bg_error_clear(&c->err);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->more, NULL);
  pthread_cond_init(&c->done, NULL);
  if (pthread_create(&c->thread, NULL, run, c) != 0) {
    bg_ext4_copier_free(c);
    bg_error_set(err, BG_ENOMEM, "cannot start a thread to copy file data");
    return NULL;
  }
  c->live = 1;
  return c;
}

static int failure(struct bg_ext4_copier *c, struct bg_error *err)
{
  return bg_error_set(err, c->err.code ? c->err.code : BG_EIO, "writing file data: %s",
                      c->err.msg);
}

/* Waits, locked, until the job numbered upto - 1 and every one before it is done. */
static int wait_done(struct bg_ext4_copier *c, uint64_t upto, struct bg_error *err)
{
  if (c->allowed < upto) {
    c->allowed = upto;
    pthread_cond_signal(&c->more);
  }
  while (!c->failed && c->tail < upto)
    pthread_cond_wait(&c->done, &c->mu);
  return c->failed ? failure(c, err) : 0;
}

static struct source *source_of(struct bg_ext4_copier *c, const struct bg_tree_range *r,
                                struct bg_error *err)
{
  struct source *s;
  unsigned i;

  for (i = 0; i < c->nsrc; i++)
    if (c->src[i].theirs == r->fd)
      return &c->src[i];
  if (c->nsrc == BG_TREE_SPOOLS) {
    bg_error_set(err, BG_EINVAL, "file data from more than %d spools", BG_TREE_SPOOLS);
    return NULL;
  }
  s = &c->src[c->nsrc];
  s->fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
  if (s->fd < 0) {
    bg_error_errno(err, errno, "cannot keep the spool file in %s open", r->dir);
    return NULL;
  }
  s->theirs = r->fd;
  atomic_init(&s->no_range, atomic_load(r->no_range));
  snprintf(s->from, sizeof(s->from), "the spool file in %.4000s", r->dir);
  c->nsrc++;
  return s;
}

/* Whether the copy of n bytes from at to dst could join the last job queued: from the same
 * spool, right after it in both files once its last block is rounded up (the spool's bytes
 * there are zeros, which is what the image's block holds past the file's end), within a piece,
 * and not the job the copier may be running. Small files copied one by one cost the copier a
 * read and a write each, and a sha256 right behind it a wait at every one. */
static int extend(struct bg_ext4_copier *c, unsigned src, uint64_t at, uint64_t dst, uint64_t n)
{
  struct job *j;
  uint64_t len;

  if (c->head <= c->tail + 1)
    return 0;
  j = &c->ring[(c->head - 1) % RING];
  len = (j->n + BG_EXT4_BLOCK_SIZE - 1) / BG_EXT4_BLOCK_SIZE * BG_EXT4_BLOCK_SIZE;
  if (j->src != src || j->at + len != at || j->dst + len != dst || len + n > PIECE)
    return 0;
  j->n = len + n;
  c->last_end = dst + n;
  return 1;
}

int bg_ext4_copier_add(struct bg_ext4_copier *c, const struct bg_tree_range *r, uint64_t n,
                       uint64_t dst, struct bg_error *err)
{
  struct source *s;
  uint64_t at = r->at, k;
  int rc = 0;

  pthread_mutex_lock(&c->mu);
  if (c->failed) {
    rc = failure(c, err);
    goto out;
  }
  s = source_of(c, r, err);
  if (s == NULL) {
    rc = -1;
    goto out;
  }
  /* the queue stays in image order: a copy that goes before the last waits for the rest */
  if (dst < c->last_end && (rc = wait_done(c, c->head, err)) != 0)
    goto out;
  for (; n > 0; n -= k, at += k, dst += k) {
    k = n < PIECE ? n : PIECE;
    if (extend(c, (unsigned)(s - c->src), at, dst, k))
      continue;
    if (c->head - c->tail == RING) { /* full: half of it goes, this waits for one */
      c->allowed = c->tail + RING / 2;
      pthread_cond_signal(&c->more);
      if ((rc = wait_done(c, c->tail + 1, err)) != 0)
        goto out;
    }
    c->ring[c->head % RING] = (struct job){at, k, dst, (unsigned)(s - c->src)};
    c->head++;
    c->last_end = dst + k;
    if (may_run(c)) /* a copier that may not run yet is not woken for nothing */
      pthread_cond_signal(&c->more);
  }
out:
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int bg_ext4_copier_settle(struct bg_ext4_copier *c, uint64_t start, uint64_t end,
                          struct bg_error *err)
{
  uint64_t lo, hi, mid;
  const struct job *j;
  int rc = 0;

  if (c == NULL || end <= start)
    return 0;
  pthread_mutex_lock(&c->mu);
  if (c->failed) {
    rc = failure(c, err);
    goto out;
  }
  /* the last job queued that starts before end: the only one that can reach start..end */
  lo = c->tail;
  hi = c->head;
  while (lo < hi) {
    mid = lo + (hi - lo) / 2;
    if (c->ring[mid % RING].dst < end)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > c->tail) {
    j = &c->ring[(lo - 1) % RING];
    if (j->dst + j->n > start)
      rc = wait_done(c, lo, err);
  }
out:
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void bg_ext4_copier_seal(struct bg_ext4_copier *c)
{
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  c->sealed = 1; /* from now on everything runs */
  pthread_cond_signal(&c->more);
  pthread_mutex_unlock(&c->mu);
}

uint64_t bg_ext4_copier_ready(void *ctx, uint64_t at, struct bg_error *err)
{
  struct bg_ext4_copier *c = ctx;
  uint64_t r = 0;

  pthread_mutex_lock(&c->mu);
  for (;;) {
    if (c->failed) {
      failure(c, err);
      break;
    }
    if (c->tail == c->head && c->sealed) {
      r = UINT64_MAX;
      break;
    }
    if (c->tail < c->head && c->ring[c->tail % RING].dst > at) {
      r = c->ring[c->tail % RING].dst;
      break;
    }
    pthread_cond_wait(&c->done, &c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  return r;
}

/* The spools are read-only here: closing them loses nothing. */
static void drop_sources(struct bg_ext4_copier *c)
{
  unsigned i;

  for (i = 0; i < c->nsrc; i++)
    close(c->src[i].fd);
  c->nsrc = 0;
}

int bg_ext4_copier_finish(struct bg_ext4_copier *c, struct bg_error *err)
{
  int rc;

  if (c == NULL)
    return 0;
  bg_ext4_copier_seal(c);
  if (c->live) {
    pthread_join(c->thread, NULL);
    c->live = 0;
  }
  drop_sources(c); /* the last reference to a spool of a tree gone: its pages go now */
  rc = c->failed ? failure(c, err) : 0;
  return rc;
}

void bg_ext4_copier_free(struct bg_ext4_copier *c)
{
  if (c == NULL)
    return;
  if (c->live) { /* an image given up: what is queued is not copied */
    pthread_mutex_lock(&c->mu);
    c->failed = 1;
    pthread_cond_broadcast(&c->more);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
  }
  drop_sources(c);
  pthread_cond_destroy(&c->more);
  pthread_cond_destroy(&c->done);
  pthread_mutex_destroy(&c->mu);
  free(c->ring);
  free(c);
}
