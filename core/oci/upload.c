/* Uploads, beside the downloads of fetch.c: documents (manifests, indexes) sent and asked for
 * with any method, and blobs pushed from the cache. A blob is first asked for with HEAD (a
 * registry that has it gets nothing more), then mounted from another repository of the same
 * registry when one is named, else uploaded: in one PUT when small, else in PATCH chunks and a
 * closing PUT. An attempt that fails mid-way asks the registry how much it has (GET on the
 * upload) and goes on from there; a registry that lost the upload (distribution forgets it once
 * its state no longer matches) gets a HEAD, in case the blob arrived after all, then a new
 * upload. Failures are retried as downloads are: the same attempts, backoff and time limits. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MT_OCTETS "application/octet-stream"

/* ---- documents ---- */

struct doc_ctx {
  const char *method, *content_type;
  const char *body;
  size_t len, pos;
  struct bg_buf *resp;
  int absent;
};

static int doc_prepare(struct bg_xfer *x, struct curl_slist **hdrs)
{
  struct doc_ctx *c = x->ctx;

  x->method = c->method;
  x->content_type = c->content_type;
  x->body_len = c->len;
  c->pos = 0;
  c->absent = 0;
  bg_buf_reset(c->resp);
  return 0;
}

static int doc_write(struct bg_xfer *x, const char *p, size_t n)
{
  struct doc_ctx *c = x->ctx;

  if (c->resp->len + n > c->resp->max) {
    x->fatal = 1;
    return bg_error_set(&x->err, BG_ETOOBIG, "response larger than %zu bytes", c->resp->max);
  }
  return bg_buf_add(c->resp, p, n, &x->err);
}

static int doc_done(struct bg_xfer *x)
{
  return 0;
}

static long doc_read(struct bg_xfer *x, char *p, size_t n)
{
  struct doc_ctx *c = x->ctx;

  if (n > c->len - c->pos)
    n = c->len - c->pos;
  memcpy(p, c->body + c->pos, n);
  c->pos += n;
  return (long)n;
}

static int doc_status(struct bg_xfer *x, long code)
{
  struct doc_ctx *c = x->ctx;

  if (code != 404)
    return -2;
  c->absent = 1;
  return 0;
}

static const struct bg_xfer_sink doc_sink = {doc_prepare, doc_write, doc_done, doc_read,
                                             doc_status};

static void reply_headers(struct bg_xfer *x, struct bg_reg_reply *rep)
{
  const char *v;
  struct bg_digest d;
  struct bg_error e;
  char *end;

  memset(rep, 0, sizeof(*rep));
  rep->code = x->code;
  rep->length = BG_SIZE_UNKNOWN;
  bg_error_clear(&e);
  v = bg_xfer_header(x, "Docker-Content-Digest");
  if (v != NULL && bg_digest_parse(v, &d, &e) == 0)
    bg_digest_format(d.raw, rep->digest);
  v = bg_xfer_header(x, "Content-Type");
  if (v != NULL) {
    snprintf(rep->content_type, sizeof(rep->content_type), "%s", v);
    rep->content_type[strcspn(rep->content_type, "; ")] = '\0';
  }
  v = bg_xfer_header(x, "Content-Length");
  if (v != NULL && *v >= '0' && *v <= '9') {
    errno = 0;
    rep->length = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0')
      rep->length = BG_SIZE_UNKNOWN;
  }
  rep->oci_subject = bg_xfer_header(x, "OCI-Subject") != NULL;
}

int bg_reg_request(struct bg_reg *r, const struct bg_reg_req *q, struct bg_buf *resp,
                   struct bg_reg_reply *rep, struct bg_error *err)
{
  struct bg_xfer x, *xs = &x;
  struct doc_ctx c = {q->method, q->content_type, q->body, q->len, 0, resp, 0};
  int rc = -1;

  if (bg_xfer_init(&x, r, XK_DOC, &doc_sink, err) != 0)
    goto out;
  x.ctx = &c;
  x.accept = q->accept;
  snprintf(x.what, sizeof(x.what), "%s", q->what);
  bg_xfer_set_path(&x, "/v2/%s/%s", r->repo, q->path);
  if (bg_reg_run(r, &xs, 1, err) != 0)
    goto out;
  reply_headers(&x, rep);
  rep->absent = c.absent;
  rc = c.absent ? 1 : 0;
out:
  bg_xfer_free(&x);
  return rc;
}

/* ---- blobs ---- */

enum { UP_HEAD, UP_START, UP_PATCH, UP_STATUS, UP_PUT, UP_CHECK };

struct up_ctx {
  struct bg_push_blob *b;
  const char *mount_from;
  struct bg_progress *prog;
  uint64_t chunk;
  int fd, mode, unsure, mounted_once;
  uint64_t offset;     /* what the registry has */
  uint64_t end;        /* the current request's body is [offset, end) */
  uint64_t pos;        /* bytes of the current body given to curl */
  char loc[BG_URL_MAX]; /* the upload's URL, as the registry last gave it */
  char url[BG_URL_MAX + 128];
};

static int up_prepare(struct bg_xfer *x, struct curl_slist **hdrs)
{
  struct up_ctx *c = x->ctx;
  struct bg_push_blob *b = c->b;
  struct curl_slist *l;
  char line[96];

  /* the last chunk or the closing PUT may have reached the registry, or part of it: ask */
  if (c->unsure && (c->mode == UP_PATCH || c->mode == UP_PUT))
    c->mode = UP_STATUS;
  c->unsure = 0;
  c->pos = 0;
  c->end = c->offset;
  x->method = NULL;
  x->content_type = NULL;
  x->body_len = 0;
  switch (c->mode) {
  case UP_HEAD:
  case UP_CHECK:
    x->method = "HEAD";
    bg_xfer_set_path(x, "/v2/%s/blobs/sha256:%s", x->r->repo, b->digest.hex);
    break;
  case UP_START:
    x->method = "POST";
    if (c->mount_from != NULL && !c->mounted_once) {
      c->mounted_once = 1;
      bg_xfer_set_path(x, "/v2/%s/blobs/uploads/?mount=sha256:%s&from=%s", x->r->repo,
                       b->digest.hex, c->mount_from);
    } else {
      bg_xfer_set_path(x, "/v2/%s/blobs/uploads/", x->r->repo);
    }
    c->offset = 0;
    break;
  case UP_STATUS:
    if (bg_xfer_retarget(x, c->loc, &x->err) != 0)
      return -1;
    break;
  case UP_PATCH:
    c->end = b->size - c->offset > c->chunk ? c->offset + c->chunk : b->size;
    x->method = "PATCH";
    x->content_type = MT_OCTETS;
    snprintf(line, sizeof(line), "Content-Range: %" PRIu64 "-%" PRIu64, c->offset, c->end - 1);
    l = curl_slist_append(*hdrs, line);
    if (l == NULL)
      return bg_error_set(&x->err, BG_ENOMEM, "out of memory");
    *hdrs = l;
    if (bg_xfer_retarget(x, c->loc, &x->err) != 0)
      return -1;
    c->unsure = 1;
    break;
  case UP_PUT:
    /* the rest of the blob (all of it for a small one, nothing after the chunks) */
    c->end = b->size;
    x->method = "PUT";
    x->content_type = MT_OCTETS;
    snprintf(c->url, sizeof(c->url), "%s%sdigest=sha256%%3A%s", c->loc,
             strchr(c->loc, '?') ? "&" : "?", b->digest.hex);
    if (bg_xfer_retarget(x, c->url, &x->err) != 0)
      return -1;
    c->unsure = 1;
    break;
  }
  x->body_len = c->end - c->offset;
  x->size = x->body_len;
  return 0;
}

static long up_read(struct bg_xfer *x, char *p, size_t n)
{
  struct up_ctx *c = x->ctx;
  uint64_t left = c->end - c->offset - c->pos;
  ssize_t got;

  if (n > left)
    n = (size_t)left;
  if (n == 0)
    return 0;
  do
    got = pread(c->fd, p, n, (off_t)(c->offset + c->pos));
  while (got < 0 && errno == EINTR);
  if (got < 0)
    return bg_error_errno(&x->err, errno, "cannot read %s", c->b->path);
  if (got == 0)
    return bg_error_set(&x->err, BG_EIO, "%s ends before its %" PRIu64 " bytes", c->b->path,
                        c->b->size);
  c->pos += (uint64_t)got;
  if (c->prog != NULL && c->b->progress_slot >= 0)
    bg_progress_update(c->prog, (size_t)c->b->progress_slot, c->offset + c->pos);
  return (long)got;
}

static int up_write(struct bg_xfer *x, const char *p, size_t n)
{
  return 0; /* upload replies carry nothing to keep; the deadline bounds a long one */
}

/* "0-N" of a Range header: the bytes the registry holds (N + 1; "0-0" is distribution's
 * answer for nothing yet), or -1. */
static int64_t held(const char *v)
{
  char *end;
  unsigned long long n;

  if (v == NULL)
    return -1;
  if (strncmp(v, "bytes=", 6) == 0)
    v += 6;
  if (strncmp(v, "0-", 2) != 0 || v[2] < '0' || v[2] > '9')
    return -1;
  errno = 0;
  n = strtoull(v + 2, &end, 10);
  if (errno != 0 || *end != '\0' || n >= INT64_MAX)
    return -1;
  return n == 0 ? 0 : (int64_t)n + 1;
}

static int take_location(struct bg_xfer *x, struct up_ctx *c, int required)
{
  char loc[BG_URL_MAX];

  if (bg_xfer_location(x, loc, sizeof(loc)) == 0) {
    memcpy(c->loc, loc, strlen(loc) + 1);
    return 0;
  }
  if (!required)
    return 0;
  return bg_error_set(&x->err, BG_ENET, "the registry gave no upload location");
}

/* Where a known offset leads: the closing PUT once the registry has everything, a chunk when
 * the blob is big, else the whole rest in the PUT. */
static int go_on(struct up_ctx *c)
{
  c->mode = (c->offset < c->b->size && c->b->size > c->chunk) ? UP_PATCH : UP_PUT;
  return BG_XFER_NEXT;
}

static int up_done(struct bg_xfer *x)
{
  struct up_ctx *c = x->ctx;
  struct bg_push_blob *b = c->b;
  char want[BG_DIGEST_STRLEN];
  const char *dcd;
  int64_t h;

  c->unsure = 0; /* the registry answered: it is known what it did */
  switch (c->mode) {
  case UP_HEAD:
  case UP_CHECK:
    b->existed = c->mode == UP_HEAD;
    return 0;
  case UP_START:
    if (x->code == 201) {
      b->mounted = 1;
      return 0;
    }
    if (take_location(x, c, 1) != 0)
      return -1;
    c->offset = 0;
    return go_on(c);
  case UP_STATUS:
    h = held(bg_xfer_header(x, "Range"));
    if (h < 0)
      h = 0;
    if ((uint64_t)h > b->size)
      return bg_error_set(&x->err, BG_ENET, "the registry holds %" PRId64 " bytes of a %" PRIu64
                          "-byte blob", h, b->size);
    c->offset = (uint64_t)h;
    if (take_location(x, c, 0) != 0)
      return -1;
    return go_on(c);
  case UP_PATCH:
    h = held(bg_xfer_header(x, "Range"));
    if (h < 0)
      h = (int64_t)c->end;
    if ((uint64_t)h > c->end || (uint64_t)h < c->offset)
      return bg_error_set(&x->err, BG_ENET, "the registry acknowledged bytes 0-%" PRId64
                          " of a chunk ending at %" PRIu64, h - 1, c->end);
    c->offset = (uint64_t)h;
    if (take_location(x, c, 0) != 0)
      return -1;
    return go_on(c);
  case UP_PUT:
    dcd = bg_xfer_header(x, "Docker-Content-Digest");
    bg_digest_format(b->digest.raw, want);
    if (dcd != NULL && strcmp(dcd, want) != 0)
      return bg_error_set(&x->err, BG_EMISMATCH, "the registry stored the blob as %.80s", dcd);
    b->uploaded = 1;
    return 0;
  }
  return -1;
}

static int up_status(struct bg_xfer *x, long code)
{
  struct up_ctx *c = x->ctx;

  c->unsure = 0;
  switch (c->mode) {
  case UP_HEAD:
  case UP_CHECK:
    if (code != 404)
      return -2;
    c->mode = UP_START;
    return BG_XFER_NEXT;
  case UP_STATUS:
    /* the upload is gone (or its state is stale): the blob may have arrived all the same */
    if (code != 404 && code != 400 && code != 416)
      return -2;
    c->mode = UP_CHECK;
    return BG_XFER_NEXT;
  case UP_PATCH:
  case UP_PUT:
    if (code == 416) {
      c->mode = UP_START; /* the registry's idea of the upload differs: a new one */
      return 1;
    }
    if (code == 404) {
      c->mode = UP_CHECK;
      return 1;
    }
    return -2;
  }
  return -2;
}

static const struct bg_xfer_sink up_sink = {up_prepare, up_write, up_done, up_read, up_status};

static int open_blob_file(struct bg_push_blob *b, int *fd, struct bg_error *err)
{
  struct stat st;

  *fd = open(b->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (*fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", b->path);
  if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != b->size) {
    close(*fd);
    *fd = -1;
    return bg_error_set(err, BG_EMISMATCH, "%s is not a regular file of %" PRIu64 " bytes",
                        b->path, b->size);
  }
  return 0;
}

int bg_reg_push_blobs(struct bg_reg *r, struct bg_push_blob *blobs, size_t n,
                      const char *mount_from, uint64_t chunk, struct bg_progress *p,
                      struct bg_error *err)
{
  struct bg_xfer_batch b;
  struct up_ctx *ctx;
  size_t i, opened = 0;
  int rc = -1;

  if (n == 0)
    return 0;
  if (bg_xfer_batch_init(&b, r, n, XK_BLOB, &up_sink, sizeof(*ctx), err) != 0)
    goto out;
  ctx = b.ctx;
  for (i = 0; i < n; i++) {
    ctx[i].b = &blobs[i];
    ctx[i].chunk = chunk > 0 ? chunk : BG_PUSH_CHUNK;
    ctx[i].prog = p;
    ctx[i].mount_from = mount_from != NULL && strcmp(mount_from, r->repo) != 0 ? mount_from
                                                                               : NULL;
    ctx[i].mode = UP_HEAD;
    snprintf(b.xs[i].what, sizeof(b.xs[i].what), "upload of blob sha256:%s",
             blobs[i].digest.hex);
    if (open_blob_file(&blobs[i], &ctx[i].fd, err) != 0)
      goto out;
    opened++;
  }
  if (bg_reg_run(r, b.v, n, err) != 0)
    goto out;
  rc = 0;
out:
  ctx = b.ctx;
  for (i = 0; i < opened; i++)
    close(ctx[i].fd);
  bg_xfer_batch_free(&b);
  return rc;
}
