/* Downloads: manifests into memory, blobs into the cache. A blob streams into a temp file
 * while its size and sha256 are checked; a dropped connection resumes with Range (a 200 to a
 * Range request starts the file and the hash again); it is renamed into place only when whole. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "manifest.h"

struct blob_ctx {
  const struct bg_cache *cache;
  struct bg_blob_req *req;
  struct bg_progress *prog;
  struct bg_blob_writer w;
  int open;
};

/* "bytes START-END/TOTAL": the start offset, or -1. */
static long long range_start(const char *cr)
{
  char *end;
  long long v;

  if (strncasecmp(cr, "bytes ", 6) != 0)
    return -1;
  cr += 6;
  if (*cr < '0' || *cr > '9')
    return -1;
  v = strtoll(cr, &end, 10);
  return *end == '-' ? v : -1;
}

static int blob_prepare(struct bg_xfer *x, struct curl_slist **hdrs)
{
  struct blob_ctx *b = x->ctx;
  struct curl_slist *l;
  char line[64];

  /* temp files are opened as transfers start, so a 1000-layer image holds few descriptors */
  if (!b->open) {
    if (bg_blob_writer_open(b->cache, &b->req->digest, b->req->size, &b->w, &x->err) != 0)
      return -1;
    b->open = 1;
  }
  if (b->w.have == 0)
    return 0;
  snprintf(line, sizeof(line), "Range: bytes=%llu-", (unsigned long long)b->w.have);
  l = curl_slist_append(*hdrs, line);
  if (l == NULL)
    return bg_error_set(&x->err, BG_ENOMEM, "out of memory");
  *hdrs = l;
  return 0;
}

static int blob_write(struct bg_xfer *x, const char *p, size_t n)
{
  struct blob_ctx *b = x->ctx;
  struct curl_header *h;
  long code = 0;

  if (x->first_write) {
    x->first_write = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206) {
      if (curl_easy_header(x->easy, "Content-Range", 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
          range_start(h->value) != (long long)b->w.have) {
        /* not the bytes asked for: this attempt fails, and the next starts from zero */
        if (bg_blob_writer_restart(&b->w, &x->err) != 0) {
          x->fatal = 1;
          return -1;
        }
        return bg_error_set(&x->err, BG_ENET, "a 206 reply without the Content-Range asked for");
      }
    } else if (b->w.have > 0 && bg_blob_writer_restart(&b->w, &x->err) != 0) {
      /* a 200 to a Range request is the whole blob again: the hash restarts too */
      x->fatal = 1;
      return -1;
    }
  }
  if (bg_blob_writer_write(&b->w, p, n, &x->err) != 0) {
    x->fatal = 1;
    return -1;
  }
  if (b->prog != NULL && b->req->progress_slot >= 0)
    bg_progress_update(b->prog, (size_t)b->req->progress_slot, b->w.have);
  return 0;
}

static int blob_done(struct bg_xfer *x)
{
  struct blob_ctx *b = x->ctx;

  if (b->w.have < b->req->size) {
    bg_error_set(&x->err, BG_ENET, "truncated at %llu of %llu bytes",
                 (unsigned long long)b->w.have, (unsigned long long)b->req->size);
    return 1;
  }
  b->open = 0;
  if (bg_blob_writer_commit(b->cache, &b->w, &x->err) != 0)
    return -1;
  if (b->prog != NULL && b->req->progress_slot >= 0)
    bg_progress_done(b->prog, (size_t)b->req->progress_slot, 0);
  return 0;
}

static const struct bg_xfer_sink blob_sink = {blob_prepare, blob_write, blob_done, NULL, NULL};

int bg_reg_get_manifest(struct bg_reg *r, const char *reference, struct bg_buf *body,
                        char *content_type, size_t ctcap, struct bg_error *err)
{
  struct bg_xfer x, *xs = &x;
  const char *ct = NULL;
  int rc = -1;

  if (bg_xfer_init(&x, r, XK_DOC, &bg_sink_memory, err) != 0)
    goto out;
  x.mem = body;
  x.accept = MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST;
  snprintf(x.what, sizeof(x.what), "manifest");
  snprintf(x.path, sizeof(x.path), "/v2/%s/manifests/%s", r->repo, reference);
  if (bg_reg_run(r, &xs, 1, err) != 0)
    goto out;
  curl_easy_getinfo(x.easy, CURLINFO_CONTENT_TYPE, &ct);
  snprintf(content_type, ctcap, "%s", ct ? ct : "");
  content_type[strcspn(content_type, "; ")] = '\0';
  rc = 0;
out:
  bg_xfer_free(&x);
  return rc;
}

int bg_reg_fetch_blobs(struct bg_reg *r, const struct bg_cache *c, struct bg_blob_req *reqs,
                       size_t n, struct bg_progress *p, struct bg_error *err)
{
  struct bg_xfer_batch b;
  struct blob_ctx *ctx;
  size_t i;
  int rc = -1;

  if (n == 0)
    return 0;
  if (bg_xfer_batch_init(&b, r, n, XK_BLOB, &blob_sink, sizeof(*ctx), err) != 0)
    goto out;
  ctx = b.ctx;
  for (i = 0; i < n; i++) {
    ctx[i].cache = c;
    ctx[i].req = &reqs[i];
    ctx[i].prog = p;
    b.xs[i].size = reqs[i].size;
    snprintf(b.xs[i].what, sizeof(b.xs[i].what), "blob sha256:%s", reqs[i].digest.hex);
    snprintf(b.xs[i].path, sizeof(b.xs[i].path), "/v2/%s/blobs/sha256:%s", r->repo,
             reqs[i].digest.hex);
  }
  if (bg_reg_run(r, b.v, n, err) != 0)
    goto out;
  rc = 0;
out:
  ctx = b.ctx;
  for (i = 0; i < b.made; i++)
    if (ctx[i].open)
      bg_blob_writer_abort(&ctx[i].w);
  bg_xfer_batch_free(&b);
  return rc;
}
