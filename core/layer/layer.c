/* Replaying layers into the tree: each layer read on threads of its own (decode.c), up to
 * policy->parallel at once, each writing a spool of its own, and applied in order on the
 * caller's thread (apply.c). A layer is started when one before it is done, so a few are ever
 * in flight, whatever the image holds. */
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

/* A layer in flight: its reader's thread and what it sends. */
struct job {
  struct bg_decode d;
  struct bg_chan out;
  int chan_live;
  pthread_t thread;
  int thread_live;
  atomic_int cancel;
  char diff_id[BG_DIGEST_STRLEN]; /* expected, "" when not asked */
  char blob_hex[BG_SHA256_HEXLEN + 1];
  int spool; /* the tree's spool it writes, -1 before it has one */
  struct bg_error early; /* what failed before its reader could start */
};

struct flatten {
  struct bg_tree *t;
  const struct bg_layer_src *layers;
  size_t n;
  const struct bg_layer_policy *policy;
  uint64_t max_bytes, max_entries;
  struct job *jobs;
  int free_spools[BG_TREE_SPOOLS];
  int nfree;
};

/* Checks a layer's description and starts its reader; what fails is kept for its turn. */
static void start(struct flatten *f, size_t k)
{
  const struct bg_layer_src *src = &f->layers[k];
  struct bg_tree_layer_totals *tot = bg_tree_layer_totals(f->t);
  struct job *j = &f->jobs[k];
  struct bg_digest want;
  struct bg_spool *s;

  bg_error_clear(&j->early);
  atomic_init(&j->cancel, 0);
  j->spool = -1;
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
  j->spool = f->free_spools[--f->nfree];
  s = bg_tree_spool(f->t, (unsigned)j->spool, &j->early);
  if (s == NULL)
    return;
  if (bg_chan_init(&j->out, AHEAD_BATCHES) != 0) {
    bg_error_set(&j->early, BG_ENOMEM, "out of memory");
    return;
  }
  j->chan_live = 1;
  j->d.path = src->path;
  j->d.policy = f->policy;
  j->d.max_bytes = f->max_bytes;
  j->d.max_entries = f->max_entries;
  j->d.used_bytes = tot->bytes;
  j->d.used_content = tot->content;
  j->d.spool = s;
  j->d.out = &j->out;
  j->d.cancel = &j->cancel;
  if (pthread_create(&j->thread, NULL, bg_layer_decode, &j->d) != 0) {
    bg_error_set(&j->early, BG_ENOMEM, "cannot start a thread to read the layer");
    return;
  }
  j->thread_live = 1;
}

/* Stops a job's reader if it still runs and frees what it sent. */
static void stop(struct flatten *f, struct job *j)
{
  struct bg_batch *b;

  atomic_store(&j->cancel, 1);
  if (j->chan_live)
    bg_chan_close(&j->out);
  if (j->thread_live) {
    pthread_join(j->thread, NULL);
    j->thread_live = 0;
  }
  if (j->chan_live) {
    while ((b = bg_chan_get(&j->out)) != NULL)
      bg_batch_free(b);
    bg_chan_destroy(&j->out);
    j->chan_live = 0;
  }
  if (j->spool >= 0) {
    f->free_spools[f->nfree++] = j->spool;
    j->spool = -1;
  }
}

/* Replays job k's records as they come. */
static int replay(struct flatten *f, size_t k, struct bg_error *err)
{
  struct job *j = &f->jobs[k];
  struct bg_apply ap;
  struct bg_batch *b;
  int rc = 0;

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

int bg_layer_apply_all(struct bg_tree *t, const struct bg_layer_src *layers, size_t n,
                       const struct bg_layer_policy *policy, struct bg_error *err)
{
  static const struct bg_layer_policy defaults;
  struct flatten f;
  size_t k, next, width, i;
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
  width = f.policy->parallel ? f.policy->parallel : DEFAULT_PARALLEL;
  if (width > BG_TREE_SPOOLS)
    width = BG_TREE_SPOOLS;
  if (width > n)
    width = n;
  for (i = width; i > 0; i--)
    f.free_spools[f.nfree++] = (int)(i - 1);
  for (next = 0; next < width; next++)
    start(&f, next);
  for (k = 0; k < n; k++) {
    rc = replay(&f, k, err);
    stop(&f, &f.jobs[k]);
    if (rc != 0) {
      bg_error_prefix(err, "%s", layers[k].label ? layers[k].label : "layer");
      break;
    }
    if (f.policy->layer_done != NULL)
      f.policy->layer_done(f.policy->progress_ctx, k);
    if (next < n)
      start(&f, next++);
  }
  for (i = k + 1; i < next; i++)
    stop(&f, &f.jobs[i]);
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
