/* Replaying layers into the tree: each layer read on threads of its own (decode.c), up to
 * policy->parallel at once, each writing a spool of its own, and applied in order on the
 * caller's thread (apply.c). A reader done with its layer takes the next one, a few layers at
 * most ahead of the one being applied, so a small layer read beside a large one leaves no core
 * idle and a few are ever in flight, whatever the image holds. */
#include "layer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "stream.h"

#define DEFAULT_MAX_BYTES ((uint64_t)64 << 30)
#define DEFAULT_MAX_ENTRIES 8000000u
#define DEFAULT_PARALLEL 2
/* batches a reader may be ahead of the tree: what a layer read ahead of its turn holds */
#define AHEAD_BATCHES 32
/* layers taken by the workers and not yet applied, the one being applied included */
#define AHEAD_LAYERS 4

int bg_layer_compression_of(const char *media_type)
{
  static const struct {
    const char *type;
    int compression;
  } types[] = {
      {"application/vnd.oci.image.layer.v1.tar", BG_LAYER_PLAIN},
      {"application/vnd.oci.image.layer.v1.tar+gzip", BG_LAYER_GZIP},
      {"application/vnd.oci.image.layer.v1.tar+zstd", BG_LAYER_ZSTD},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar", BG_LAYER_PLAIN},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", BG_LAYER_GZIP},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", BG_LAYER_ZSTD},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", BG_LAYER_GZIP},
      {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", BG_LAYER_GZIP},
      {"application/vnd.docker.image.rootfs.diff.tar", BG_LAYER_PLAIN},
  };
  size_t i;

  if (media_type == NULL)
    return -1;
  for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    if (strcmp(media_type, types[i].type) == 0)
      return types[i].compression;
  return -1;
}

/* A layer taken by a worker: what its reader sends, and whether the reader is done with it. */
struct job {
  struct bg_decode d;
  struct bg_chan out;
  int chan_live;
  atomic_int cancel;
  char diff_id[BG_DIGEST_STRLEN]; /* expected, "" when not asked */
  char blob_hex[BG_SHA256_HEXLEN + 1];
  struct bg_error early; /* what failed before its reader could start */
  int taken;             /* set up by a worker (under the flatten's mutex) */
  int done;              /* its reader returned: the worker touches it no more */
};

struct flatten;

/* A reader thread: it writes a spool of its own, one layer after another. */
struct worker {
  struct flatten *f;
  struct bg_spool *spool;
  pthread_t thread;
};

struct flatten {
  struct bg_tree *t;
  const struct bg_layer_src *layers;
  size_t n;
  const struct bg_layer_policy *policy;
  uint64_t max_bytes, max_entries;
  struct job *jobs;
  struct worker workers[BG_TREE_SPOOLS];
  size_t nworkers;
  /* under mu; cv says that a job was taken or done, a layer applied, or that all stops */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t next;    /* the next layer a worker takes */
  size_t applied; /* layers applied to the tree */
  int stopping;
  uint64_t below_bytes, below_content; /* the tree's totals after the layers applied */
};

/* Checks layer k's description and sets up what its reader needs (under f->mu); what fails is
 * kept for its turn. */
static void take(struct flatten *f, size_t k, struct bg_spool *spool)
{
  const struct bg_layer_src *src = &f->layers[k];
  struct job *j = &f->jobs[k];
  struct bg_digest want;

  j->d.compression = bg_layer_compression_of(src->media_type);
  if (j->d.compression < 0) {
    bg_error_set(&j->early, BG_EINVAL, "unsupported layer media type %s",
                 src->media_type ? src->media_type : "(none)");
    return;
  }
  if (src->diff_id != NULL) {
    if (bg_digest_parse(src->diff_id, &want, &j->early) != 0) {
      bg_error_prefix(&j->early, "DiffID");
      return;
    }
    bg_digest_format(want.raw, j->diff_id);
  }
  if (src->blob_digest != NULL) {
    if (bg_digest_parse(src->blob_digest, &want, &j->early) != 0) {
      bg_error_prefix(&j->early, "blob digest");
      return;
    }
    memcpy(j->blob_hex, want.hex, sizeof(j->blob_hex));
    j->d.blob_hex = j->blob_hex;
  }
  if (bg_chan_init(&j->out, AHEAD_BATCHES) != 0) {
    bg_error_set(&j->early, BG_ENOMEM, "out of memory");
    return;
  }
  j->chan_live = 1;
  j->d.path = src->path;
  j->d.policy = f->policy;
  j->d.max_bytes = f->max_bytes;
  j->d.max_entries = f->max_entries;
  j->d.used_bytes = f->below_bytes;
  j->d.used_content = f->below_content;
  j->d.spool = spool;
  j->d.out = &j->out;
  j->d.cancel = &j->cancel;
}

/* A worker: takes the next layer, at most AHEAD_LAYERS past the first one not yet applied, and
 * reads it into the worker's spool; then the next, until none is left or all stops. A worker
 * that is done with a small layer so starts the one after it while a large one is still being
 * read, and one spool is written by one thread at a time. */
static void *work(void *arg)
{
  struct worker *w = arg;
  struct flatten *f = w->f;
  struct job *j;
  size_t k;

  for (;;) {
    pthread_mutex_lock(&f->mu);
    while (!f->stopping && f->next < f->n && f->next >= f->applied + AHEAD_LAYERS)
      pthread_cond_wait(&f->cv, &f->mu);
    if (f->stopping || f->next >= f->n) {
      pthread_mutex_unlock(&f->mu);
      return NULL;
    }
    k = f->next++;
    j = &f->jobs[k];
    take(f, k, w->spool);
    j->taken = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (j->chan_live)
      bg_layer_decode(&j->d); /* closes j->out when it returns */
    pthread_mutex_lock(&f->mu);
    j->done = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
  }
}

/* Stops job k's reader if it still runs, waits until it is done with the job, and frees what
 * it sent. */
static void release(struct flatten *f, struct job *j)
{
  struct bg_batch *b;

  atomic_store(&j->cancel, 1);
  if (j->chan_live)
    bg_chan_close(&j->out);
  pthread_mutex_lock(&f->mu);
  while (j->taken && !j->done)
    pthread_cond_wait(&f->cv, &f->mu);
  pthread_mutex_unlock(&f->mu);
  if (j->chan_live) {
    while ((b = bg_chan_get(&j->out)) != NULL)
      bg_batch_free(b);
    bg_chan_destroy(&j->out);
    j->chan_live = 0;
  }
}

/* Replays job k's records as they come, once a worker has taken it. */
static int replay(struct flatten *f, size_t k, struct bg_error *err)
{
  struct job *j = &f->jobs[k];
  struct bg_apply ap;
  struct bg_batch *b;
  int rc = 0;

  pthread_mutex_lock(&f->mu);
  while (!j->taken)
    pthread_cond_wait(&f->cv, &f->mu);
  pthread_mutex_unlock(&f->mu);
  if (j->early.code != 0)
    return bg_error_set(err, j->early.code, "%s", j->early.msg);
  memset(&ap, 0, sizeof(ap));
  ap.t = f->t;
  ap.policy = f->policy;
  ap.label = f->layers[k].label ? f->layers[k].label : "layer";
  ap.layer = k;
  ap.diff_id = j->diff_id[0] ? j->diff_id : NULL;
  ap.max_bytes = f->max_bytes;
  ap.max_entries = f->max_entries;
  ap.totals = bg_tree_layer_totals(f->t);
  ap.bytes_below = ap.totals->bytes;
  bg_tree_begin_layer(f->t);
  while (rc == 0 && !ap.ended && (b = bg_chan_get(&j->out)) != NULL) {
    rc = bg_apply_batch(&ap, b, err);
    bg_batch_free(b);
  }
  if (rc == 0 && !ap.ended)
    rc = bg_error_set(err, BG_EIO, "the layer's reader stopped early");
  return rc;
}

/* The workers and their spools; 0, or -1 when not one could start. */
static int start_workers(struct flatten *f, size_t width, struct bg_error *err)
{
  struct worker *w;
  size_t i;

  for (i = 0; i < width; i++) {
    w = &f->workers[i];
    w->f = f;
    w->spool = bg_tree_spool(f->t, (unsigned)i, err);
    if (w->spool == NULL)
      break;
    if (pthread_create(&w->thread, NULL, work, w) != 0) {
      bg_error_set(err, BG_ENOMEM, "cannot start a thread to read the layers");
      break;
    }
    f->nworkers++;
  }
  if (f->nworkers == 0)
    return -1;
  bg_error_clear(err); /* fewer workers than asked for: slower, not wrong */
  return 0;
}

int bg_layer_apply_all(struct bg_tree *t, const struct bg_layer_src *layers, size_t n,
                       const struct bg_layer_policy *policy, struct bg_error *err)
{
  static const struct bg_layer_policy defaults;
  struct bg_tree_layer_totals *tot = bg_tree_layer_totals(t);
  struct flatten f;
  size_t k, width, i;
  int rc = 0;

  memset(&f, 0, sizeof(f));
  f.t = t;
  f.layers = layers;
  f.n = n;
  f.policy = policy != NULL ? policy : &defaults;
  f.max_bytes = f.policy->max_bytes ? f.policy->max_bytes : DEFAULT_MAX_BYTES;
  f.max_entries = f.policy->max_entries ? f.policy->max_entries : DEFAULT_MAX_ENTRIES;
  if (n == 0)
    return 0;
  f.jobs = calloc(n, sizeof(*f.jobs));
  if (f.jobs == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  for (k = 0; k < n; k++)
    atomic_init(&f.jobs[k].cancel, 0);
  f.below_bytes = tot->bytes;
  f.below_content = tot->content;
  pthread_mutex_init(&f.mu, NULL);
  pthread_cond_init(&f.cv, NULL);
  width = f.policy->parallel ? f.policy->parallel : DEFAULT_PARALLEL;
  if (width > BG_TREE_SPOOLS)
    width = BG_TREE_SPOOLS;
  if (width > AHEAD_LAYERS)
    width = AHEAD_LAYERS;
  if (width > n)
    width = n;
  if (start_workers(&f, width, err) != 0) {
    bg_error_prefix(err, "%s", layers[0].label ? layers[0].label : "layer");
    rc = -1;
  }
  for (k = 0; rc == 0 && k < n; k++) {
    rc = replay(&f, k, err);
    release(&f, &f.jobs[k]);
    if (rc != 0) {
      bg_error_prefix(err, "%s", layers[k].label ? layers[k].label : "layer");
      break;
    }
    pthread_mutex_lock(&f.mu);
    f.applied = k + 1;
    f.below_bytes = tot->bytes;
    f.below_content = tot->content;
    pthread_cond_broadcast(&f.cv);
    pthread_mutex_unlock(&f.mu);
    if (f.policy->layer_done != NULL)
      f.policy->layer_done(f.policy->progress_ctx, k);
  }
  /* on failure: no layer more is taken, and what was taken stops */
  pthread_mutex_lock(&f.mu);
  f.stopping = 1;
  pthread_cond_broadcast(&f.cv);
  pthread_mutex_unlock(&f.mu);
  for (i = 0; i < n; i++)
    if (f.jobs[i].chan_live || f.jobs[i].taken)
      release(&f, &f.jobs[i]);
  for (i = 0; i < f.nworkers; i++)
    pthread_join(f.workers[i].thread, NULL);
  pthread_cond_destroy(&f.cv);
  pthread_mutex_destroy(&f.mu);
  free(f.jobs);
  return rc;
}

int bg_layer_apply(struct bg_tree *t, const char *path, const char *media_type,
                   const char *expected_diff_id, const struct bg_layer_policy *policy,
                   const char *label, struct bg_error *err)
{
  struct bg_layer_src src;

  memset(&src, 0, sizeof(src));
  src.path = path;
  src.media_type = media_type;
  src.diff_id = expected_diff_id;
  src.label = label;
  return bg_layer_apply_all(t, &src, 1, policy, err);
}

int bg_layer_diff_id(const char *path, const char *media_type, char *out, struct bg_error *err)
{
  struct bg_lstream_opts o;
  struct bg_lstream *s;
  int rc;

  memset(&o, 0, sizeof(o));
  o.compression = bg_layer_compression_of(media_type);
  if (o.compression < 0)
    return bg_error_set(err, BG_EINVAL, "unsupported layer media type %s",
                        media_type ? media_type : "(none)");
  o.max_bytes = UINT64_MAX;
  s = bg_lstream_open(path, &o, err);
  if (s == NULL)
    return -1;
  rc = bg_lstream_finish(s, out, err);
  bg_lstream_close(s);
  return rc;
}
