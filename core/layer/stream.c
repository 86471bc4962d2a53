/* Decompressing a layer blob in-process (zlib, libzstd), hashing and counting what comes out.
 * Doing it here rather than through libarchive's filters means no external program can ever be
 * spawned, and the DiffID is computed over exactly the bytes the tar reader sees. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "layer.h"

#define IN_SIZE (256 * 1024)
#define OUT_SIZE (256 * 1024)

struct bg_lstream {
  int fd;
  int compression;
  uint64_t max_bytes;
  uint64_t used; /* by earlier layers */
  uint64_t total;
  uint64_t blob_bytes; /* read from the file */
  struct bg_sha256 *sha;
  unsigned char *in;
  size_t in_pos, in_len; /* unconsumed input is in[in_pos..in_len) */
  int in_eof;
  unsigned char *out;
  int done;
  z_stream z;
  int z_live;
  ZSTD_DStream *zs;
  size_t zs_ret; /* last ZSTD_decompressStream result: 0 at a frame boundary */
};

static const char *kind_of(const unsigned char *p, size_t n)
{
  static const unsigned char xz[6] = {0xfd, '7', 'z', 'X', 'Z', 0};

  /* a tar header first (ustar, pax and GNU all carry "ustar" at 257): its first bytes are an
   * entry name, which may well start like a compressor's magic */
  if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
    return "uncompressed";
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
    return "gzip";
  if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
    return "zstd";
  /* a skippable frame (magic 0x184D2A50 to 0x184D2A5F) may come first; libzstd skips it */
  if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)
    return "zstd";
  if (n >= 6 && memcmp(p, xz, sizeof(xz)) == 0)
    return "xz";
  if (n >= 3 && memcmp(p, "BZh", 3) == 0)
    return "bzip2";
  return "uncompressed";
}

/* Keeps the unconsumed input and reads more after it. */
static int fill(struct bg_lstream *s, struct bg_error *err)
{
  ssize_t r;

  if (s->in_pos > 0) {
    memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
    s->in_len -= s->in_pos;
    s->in_pos = 0;
  }
  while (s->in_len < IN_SIZE) {
    r = read(s->fd, s->in + s->in_len, IN_SIZE - s->in_len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return bg_error_errno(err, errno, "cannot read the layer blob");
    if (r == 0) {
      s->in_eof = 1;
      break;
    }
    s->in_len += (size_t)r;
    s->blob_bytes += (uint64_t)r;
    break;
  }
  return 0;
}

void bg_lstream_close(struct bg_lstream *s)
{
  if (s == NULL)
    return;
  if (s->fd >= 0)
    close(s->fd);
  if (s->z_live)
    inflateEnd(&s->z);
  ZSTD_freeDStream(s->zs);
  bg_sha256_free(s->sha);
  free(s->in);
  free(s->out);
  free(s);
}

struct bg_lstream *bg_lstream_open(const char *path, int compression, uint64_t max_bytes,
                                   uint64_t used, struct bg_error *err)
{
  static const char *const names[] = {"uncompressed", "gzip", "zstd"};
  struct bg_lstream *s = calloc(1, sizeof(*s));
  const char *found;

  if (s == NULL)
    goto nomem;
  s->fd = -1;
  s->compression = compression;
  s->max_bytes = max_bytes;
  s->used = used < max_bytes ? used : max_bytes;
  s->in = malloc(IN_SIZE);
  s->out = malloc(OUT_SIZE);
  if (s->in == NULL || s->out == NULL)
    goto nomem;
  s->sha = bg_sha256_new(err);
  if (s->sha == NULL)
    goto fail;
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    bg_error_errno(err, errno, "cannot open %s", path);
    goto fail;
  }
  /* the magic bytes must agree with the media type */
  while (s->in_len < 512 && !s->in_eof)
    if (fill(s, err) != 0)
      goto fail;
  found = kind_of(s->in, s->in_len);
  if (strcmp(found, names[compression]) != 0) {
    bg_error_set(err, BG_EMISMATCH,
                 "the blob does not match its media type: expected %s data, found %s",
                 names[compression], found);
    goto fail;
  }
  if (compression == BG_LAYER_GZIP) {
    /* 16 + 15: gzip wrapper only, 32 KiB window */
    if (inflateInit2(&s->z, 16 + 15) != Z_OK)
      goto nomem;
    s->z_live = 1;
  } else if (compression == BG_LAYER_ZSTD) {
    s->zs = ZSTD_createDStream();
    if (s->zs == NULL)
      goto nomem;
    /* the default window limit (128 MiB) bounds what a hostile frame can make us allocate */
    ZSTD_initDStream(s->zs);
    s->zs_ret = 1;
  }
  return s;
nomem:
  bg_error_set(err, BG_ENOMEM, "out of memory opening a layer");
fail:
  bg_lstream_close(s);
  return NULL;
}

static int next_gzip(struct bg_lstream *s, size_t *n, struct bg_error *err)
{
  int rc;

  for (;;) {
    if (s->in_pos == s->in_len && !s->in_eof && fill(s, err) != 0)
      return -1;
    s->z.next_in = s->in + s->in_pos;
    s->z.avail_in = (uInt)(s->in_len - s->in_pos);
    s->z.next_out = s->out;
    s->z.avail_out = OUT_SIZE;
    rc = inflate(&s->z, Z_NO_FLUSH);
    s->in_pos = s->in_len - s->z.avail_in;
    *n = OUT_SIZE - s->z.avail_out;
    if (rc == Z_STREAM_END) {
      /* another gzip member may follow (pigz and friends write several) */
      while (s->in_len - s->in_pos < 2 && !s->in_eof)
        if (fill(s, err) != 0)
          return -1;
      if (s->in_pos == s->in_len) {
        s->done = 1;
      } else if (s->in_len - s->in_pos >= 2 && s->in[s->in_pos] == 0x1f &&
                 s->in[s->in_pos + 1] == 0x8b) {
        inflateReset(&s->z);
      } else {
        return bg_error_set(err, BG_EINVAL, "corrupt gzip stream: trailing data after the end");
      }
    } else if (rc == Z_BUF_ERROR && s->in_pos == s->in_len && s->in_eof) {
      return bg_error_set(err, BG_EINVAL, "truncated gzip stream");
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return bg_error_set(err, BG_EINVAL, "corrupt gzip stream: %s",
                          s->z.msg ? s->z.msg : "inflate failed");
    }
    if (*n > 0 || s->done)
      return 0;
  }
}

static int next_zstd(struct bg_lstream *s, size_t *n, struct bg_error *err)
{
  ZSTD_inBuffer in;
  ZSTD_outBuffer out;
  size_t ret, before;

  for (;;) {
    if (s->in_pos == s->in_len && !s->in_eof && fill(s, err) != 0)
      return -1;
    in.src = s->in;
    in.size = s->in_len;
    in.pos = s->in_pos;
    out.dst = s->out;
    out.size = OUT_SIZE;
    out.pos = 0;
    before = in.pos;
    ret = ZSTD_decompressStream(s->zs, &out, &in);
    s->in_pos = in.pos;
    if (ZSTD_isError(ret))
      return bg_error_set(err, BG_EINVAL, "corrupt zstd stream: %s", ZSTD_getErrorName(ret));
    /* a call without input only hints at the next frame: a frame ended where progress did */
    if (in.pos != before || out.pos > 0)
      s->zs_ret = ret;
    *n = out.pos;
    if (*n > 0)
      return 0;
    if (s->in_pos == s->in_len && s->in_eof) {
      if (s->zs_ret != 0)
        return bg_error_set(err, BG_EINVAL, "truncated zstd stream");
      s->done = 1;
      return 0;
    }
  }
}

static int next_plain(struct bg_lstream *s, const void **p, size_t *n, struct bg_error *err)
{
  if (s->in_pos == s->in_len) {
    if (!s->in_eof && fill(s, err) != 0)
      return -1;
    if (s->in_pos == s->in_len) {
      s->done = 1;
      *n = 0;
      return 0;
    }
  }
  *p = s->in + s->in_pos;
  *n = s->in_len - s->in_pos;
  s->in_pos = s->in_len;
  return 0;
}

int bg_lstream_read(struct bg_lstream *s, const void **p, size_t *n, struct bg_error *err)
{
  int rc;

  *n = 0;
  *p = s->out;
  if (s->done)
    return 0;
  if (s->compression == BG_LAYER_GZIP)
    rc = next_gzip(s, n, err);
  else if (s->compression == BG_LAYER_ZSTD)
    rc = next_zstd(s, n, err);
  else
    rc = next_plain(s, p, n, err);
  if (rc != 0)
    return -1;
  if (*n > s->max_bytes - s->used - s->total)
    return bg_error_set(err, BG_ETOOBIG, "the uncompressed layers exceed the limit of %llu bytes",
                        (unsigned long long)s->max_bytes);
  s->total += *n;
  if (*n > 0 && bg_sha256_update(s->sha, *p, *n, err) != 0)
    return -1;
  return 0;
}

int bg_lstream_finish(struct bg_lstream *s, char *out, struct bg_error *err)
{
  unsigned char raw[BG_SHA256_LEN];
  const void *p;
  size_t n;

  do {
    if (bg_lstream_read(s, &p, &n, err) != 0)
      return -1;
  } while (n > 0);
  if (bg_sha256_final(s->sha, raw, err) != 0)
    return -1;
  bg_digest_format(raw, out);
  return 0;
}

uint64_t bg_lstream_total(const struct bg_lstream *s)
{
  return s->total;
}

uint64_t bg_lstream_blob_bytes(const struct bg_lstream *s)
{
  return s->blob_bytes;
}
