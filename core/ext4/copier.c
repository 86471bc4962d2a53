/* The writer's file data, copied from the tree's spool into the image on a thread of its own
 * while the writer goes on with the next inodes and directories: on two cores the data of a
 * layer costs the build little more than its metadata. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "ext4_internal.h"
#include "../util/chan.h"

#define QUEUED 256 /* copies the writer may be ahead */

struct job {
  const struct bg_inode *ti;
  uint64_t off, n, dst;
};

struct bg_ext4_copier {
  struct bg_tree *tree;
  int fd;
  struct bg_chan jobs;
  pthread_t thread;
  int live;
  atomic_int failed;
  struct bg_error err; /* the thread's first error, read once it is joined */
};

static void *run(void *arg)
{
  struct bg_ext4_copier *c = arg;
  struct job *j;

  pthread_setname_np(pthread_self(), "bg-copy");
  while ((j = bg_chan_get(&c->jobs)) != NULL) {
    if (!atomic_load(&c->failed) &&
        bg_tree_copy(c->tree, j->ti, j->off, j->n, c->fd, j->dst, &c->err) != 0)
      atomic_store(&c->failed, 1);
    free(j);
  }
  return NULL;
}

struct bg_ext4_copier *bg_ext4_copier_start(struct bg_tree *tree, int fd, struct bg_error *err)
{
  struct bg_ext4_copier *c = calloc(1, sizeof(*c));

  if (c == NULL || bg_chan_init(&c->jobs, QUEUED) != 0) {
    free(c);
    bg_error_set(err, BG_ENOMEM, "out of memory");
    return NULL;
  }
  c->tree = tree;
  c->fd = fd;
  atomic_init(&c->failed, 0);
  bg_error_clear(&c->err);
  if (pthread_create(&c->thread, NULL, run, c) != 0) {
    bg_chan_destroy(&c->jobs);
    free(c);
    bg_error_set(err, BG_ENOMEM, "cannot start a thread to copy file data");
    return NULL;
  }
  c->live = 1;
  return c;
}

int bg_ext4_copier_add(struct bg_ext4_copier *c, const struct bg_inode *ti, uint64_t off,
                       uint64_t n, uint64_t dst, struct bg_error *err)
{
  struct job *j;

  if (atomic_load(&c->failed))
    return bg_error_set(err, BG_EIO, "copying file data failed before");
  j = malloc(sizeof(*j));
  if (j == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  j->ti = ti;
  j->off = off;
  j->n = n;
  j->dst = dst;
  if (bg_chan_put(&c->jobs, j) != 0) {
    free(j);
    return bg_error_set(err, BG_EIO, "copying file data stopped");
  }
  return 0;
}

int bg_ext4_copier_finish(struct bg_ext4_copier *c, struct bg_error *err)
{
  int rc = 0;

  if (c == NULL)
    return 0;
  if (c->live) {
    bg_chan_close(&c->jobs);
    pthread_join(c->thread, NULL);
    c->live = 0;
  }
  if (atomic_load(&c->failed))
    rc = bg_error_set(err, c->err.code ? c->err.code : BG_EIO, "writing file data: %s",
                      c->err.msg);
  return rc;
}

void bg_ext4_copier_free(struct bg_ext4_copier *c)
{
  struct job *j;

  if (c == NULL)
    return;
  if (c->live) { /* a build that failed: what is queued is not copied */
    atomic_store(&c->failed, 1);
    bg_chan_close(&c->jobs);
    pthread_join(c->thread, NULL);
  }
  while ((j = bg_chan_get(&c->jobs)) != NULL)
    free(j);
  bg_chan_destroy(&c->jobs);
  free(c);
}
