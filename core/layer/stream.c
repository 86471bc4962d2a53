/* Decompressing a layer blob in-process (ISA-L for gzip, libzstd), hashing and counting what
 * comes out. Doing it here rather than through libarchive's filters means no external program
 * can ever be spawned, and the DiffID is computed over exactly the bytes the tar reader sees.
 *
 * Threaded, the stream's thread fills CHUNKS buffers in turn (read, inflate, cap, and the
 * DiffID with hash_ahead) and hands them over through a channel; the reader gives each back
 * when it asks for the next. A compressed blob's own bytes travel in the chunk they were read
 * for, and the reader hashes them there, in order, so the inflate thread does nothing but
 * inflate: exactly the bytes inflated are the bytes checked. An error travels in the chunk
 * where it happened, so the reader meets it at the same byte as it would unthreaded. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "layer.h"
#include "../util/chan.h"

#define IN_SIZE (64 * 1024)
#define IN_SLACK 16 /* room to put back the bytes ISA-L's bit buffer held past a gzip member */
#define CHUNK_SIZE (256 * 1024)
#define CHUNKS 4
/* A chunk's copy of the blob bytes read for it. One step of an inflate loop reads at most
 * 3 * IN_SIZE (a fill, and at a gzip member's end two more), so a chunk is cut short, even
 * with no output, before its copy could overflow. */
#define RAW_SIZE (8 * IN_SIZE)
#define RAW_ROOM (3 * IN_SIZE)

struct chunk {
  unsigned char *data;
  size_t len;
  uint64_t blob_bytes; /* of the blob read when the chunk was done */
  unsigned char *raw;  /* with defer_blob: the blob bytes read for this chunk, to hash */
  size_t raw_len;
  int cut; /* ended short of CHUNK_SIZE with more to come: its copy of the blob was full */
  int failed;
  struct bg_error err;
};

struct bg_lstream {
  int fd;
  int compression;
  uint64_t max_bytes;
  uint64_t used;  /* by earlier layers */
  uint64_t total; /* uncompressed bytes produced */
  uint64_t handed; /* uncompressed bytes handed to the reader */
  uint64_t blob_bytes; /* read from the file */
  uint64_t reader_blob_bytes;
  int hash_ahead;
  struct bg_sha256 *sha;
  struct bg_sha256 *blob_sha;
  int defer_blob;        /* the blob's bytes are hashed by the reader, from the chunks */
  struct chunk *filling; /* with defer_blob: the chunk being produced */
  char blob_hex[BG_SHA256_HEXLEN + 1];
  unsigned char *in;
  size_t in_pos, in_len; /* unconsumed input is in[in_pos..in_len) */
  int in_eof;
  int done;
  struct inflate_state *gz;
  ZSTD_DStream *zs;
  size_t zs_ret; /* last ZSTD_decompressStream result: 0 at a frame boundary */
  /* the chunks, and with a thread the channels between it and the reader */
  struct chunk chunks[CHUNKS];
  struct chunk *current; /* handed to the reader */
  int threaded;
  pthread_t thread;
  int thread_live;
  struct bg_chan free_chunks, full_chunks;
  int chans_live;
  int finished; /* the producer has delivered its last chunk (end or error) */
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

/* Reads into dst (at most cap bytes), hashing the blob's bytes when asked. *got 0 is the end. */
static int read_blob(struct bg_lstream *s, unsigned char *dst, size_t cap, size_t *got,
                     struct bg_error *err)
{
  ssize_t r;

  *got = 0;
  for (;;) {
    r = read(s->fd, dst, cap);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return bg_error_errno(err, errno, "cannot read the layer blob");
    break;
  }
  if (r == 0) {
    s->in_eof = 1;
    return 0;
  }
  s->blob_bytes += (uint64_t)r;
  if (s->filling != NULL) {
    if ((size_t)r > RAW_SIZE - s->filling->raw_len) /* the inflate loops cut chunks before */
      return bg_error_set(err, BG_EIO, "the layer blob was read past its chunk's room");
    memcpy(s->filling->raw + s->filling->raw_len, dst, (size_t)r);
    s->filling->raw_len += (size_t)r;
  } else if (s->blob_sha != NULL && bg_sha256_update(s->blob_sha, dst, (size_t)r, err) != 0) {
    return -1;
  }
  *got = (size_t)r;
  return 0;
}

/* Keeps the unconsumed input and reads more after it. */
static int fill(struct bg_lstream *s, struct bg_error *err)
{
  size_t got;

  if (s->in_pos > 0) {
    memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
    s->in_len -= s->in_pos;
    s->in_pos = 0;
  }
  if (s->in_len >= IN_SIZE || s->in_eof)
    return 0;
  if (read_blob(s, s->in + s->in_len, IN_SIZE - s->in_len, &got, err) != 0)
    return -1;
  s->in_len += got;
  return 0;
}

/* Whether the chunk being produced must end here: its copy of the blob has no room for another
 * step's reads. */
static int raw_full(const struct bg_lstream *s)
{
  return s->filling != NULL && s->filling->raw_len > RAW_SIZE - RAW_ROOM;
}

static const char *isal_message(int rc)
{
  switch (rc) {
  case ISAL_INVALID_BLOCK:
    return "invalid deflate block";
  case ISAL_INVALID_SYMBOL:
    return "invalid deflate symbol";
  case ISAL_INVALID_LOOKBACK:
    return "invalid distance too far back";
  case ISAL_INVALID_WRAPPER:
    return "invalid gzip header";
  case ISAL_UNSUPPORTED_METHOD:
    return "unknown compression method";
  case ISAL_INCORRECT_CHECKSUM:
    return "incorrect data check";
  default:
    return "inflate failed";
  }
}

/* At the end of a member, ISA-L's bit buffer may hold bytes that follow it: they go back in
 * front of the unconsumed input, where the next member (or trailing garbage) starts. */
static void unread_bits(struct bg_lstream *s)
{
  size_t k = (size_t)(s->gz->read_in_length > 0 ? s->gz->read_in_length / 8 : 0), i;
  uint64_t bits = s->gz->read_in >> (s->gz->read_in_length > 0 ? s->gz->read_in_length % 8 : 0);

  if (k == 0)
    return;
  if (s->in_pos < k) {
    memmove(s->in + k, s->in + s->in_pos, s->in_len - s->in_pos);
    s->in_len = s->in_len - s->in_pos + k;
    s->in_pos = k;
  }
  s->in_pos -= k;
  for (i = 0; i < k; i++)
    s->in[s->in_pos + i] = (unsigned char)(bits >> (8 * i));
  s->gz->read_in = 0;
  s->gz->read_in_length = 0;
}

static int next_gzip(struct bg_lstream *s, unsigned char *out, size_t cap, size_t *n,
                     struct bg_error *err)
{
  struct inflate_state *st = s->gz;
  size_t before_in, before_out, had;
  int rc, stalled = 0;

  while (*n < cap && !s->done && !raw_full(s)) {
    if ((s->in_pos == s->in_len || stalled) && !s->in_eof) {
      had = s->in_len - s->in_pos;
      if (fill(s, err) != 0)
        return -1;
      if (stalled && s->in_len - s->in_pos == had && !s->in_eof)
        return bg_error_set(err, BG_EINVAL, "corrupt gzip stream: no progress");
    }
    st->next_in = s->in + s->in_pos;
    st->avail_in = (uint32_t)(s->in_len - s->in_pos);
    st->next_out = out + *n;
    st->avail_out = (uint32_t)(cap - *n);
    before_in = st->avail_in;
    before_out = *n;
    rc = isal_inflate(st);
    s->in_pos = s->in_len - st->avail_in;
    *n = cap - st->avail_out;
    if (rc < 0 || rc == ISAL_NEED_DICT)
      return bg_error_set(err, BG_EINVAL, "corrupt gzip stream: %s", isal_message(rc));
    if (st->block_state == ISAL_BLOCK_FINISH) {
      unread_bits(s);
      /* another gzip member may follow (pigz and friends write several) */
      while (s->in_len - s->in_pos < 2 && !s->in_eof)
        if (fill(s, err) != 0)
          return -1;
      if (s->in_pos == s->in_len) {
        s->done = 1;
      } else if (s->in_len - s->in_pos >= 2 && s->in[s->in_pos] == 0x1f &&
                 s->in[s->in_pos + 1] == 0x8b) {
        isal_inflate_reset(st);
        st->crc_flag = ISAL_GZIP;
      } else {
        return bg_error_set(err, BG_EINVAL, "corrupt gzip stream: trailing data after the end");
      }
      stalled = 0;
      continue;
    }
    stalled = st->avail_in == before_in && *n == before_out;
    if (stalled && s->in_eof)
      return bg_error_set(err, BG_EINVAL, "truncated gzip stream");
  }
  return 0;
}

static int next_zstd(struct bg_lstream *s, unsigned char *dst, size_t cap, size_t *n,
                     struct bg_error *err)
{
  ZSTD_inBuffer in;
  ZSTD_outBuffer out;
  size_t ret, before;

  while (*n < cap && !s->done && !raw_full(s)) {
    if (s->in_pos == s->in_len && !s->in_eof && fill(s, err) != 0)
      return -1;
    in.src = s->in;
    in.size = s->in_len;
    in.pos = s->in_pos;
    out.dst = dst;
    out.size = cap;
    out.pos = *n;
    before = in.pos;
    ret = ZSTD_decompressStream(s->zs, &out, &in);
    s->in_pos = in.pos;
    if (ZSTD_isError(ret))
      return bg_error_set(err, BG_EINVAL, "corrupt zstd stream: %s", ZSTD_getErrorName(ret));
    /* a call without input only hints at the next frame: a frame ended where progress did */
    if (in.pos != before || out.pos > *n)
      s->zs_ret = ret;
    if (out.pos > *n) {
      *n = out.pos;
      continue;
    }
    if (s->in_pos == s->in_len && s->in_eof) {
      if (s->zs_ret != 0)
        return bg_error_set(err, BG_EINVAL, "truncated zstd stream");
      s->done = 1;
    }
  }
  return 0;
}

static int next_plain(struct bg_lstream *s, unsigned char *dst, size_t cap, size_t *n,
                      struct bg_error *err)
{
  size_t k, got;

  while (*n < cap && !s->done) {
    if (s->in_pos < s->in_len) { /* what the magic check read first */
      k = s->in_len - s->in_pos < cap - *n ? s->in_len - s->in_pos : cap - *n;
      memcpy(dst + *n, s->in + s->in_pos, k);
      s->in_pos += k;
      *n += k;
      continue;
    }
    if (read_blob(s, dst + *n, cap - *n, &got, err) != 0)
      return -1;
    if (got == 0)
      s->done = 1;
    *n += got;
  }
  return 0;
}

/* Fills one chunk: as many uncompressed bytes as fit, fewer only at the end of the stream. */
static int produce(struct bg_lstream *s, struct chunk *c, int hash, struct bg_error *err)
{
  int rc;

  c->len = 0;
  c->raw_len = 0;
  c->cut = 0;
  s->filling = s->defer_blob ? c : NULL;
  if (s->compression == BG_LAYER_GZIP)
    rc = next_gzip(s, c->data, CHUNK_SIZE, &c->len, err);
  else if (s->compression == BG_LAYER_ZSTD)
    rc = next_zstd(s, c->data, CHUNK_SIZE, &c->len, err);
  else
    rc = next_plain(s, c->data, CHUNK_SIZE, &c->len, err);
  s->filling = NULL;
  c->blob_bytes = s->blob_bytes;
  if (rc != 0)
    return -1;
  c->cut = c->len < CHUNK_SIZE && !s->done;
  if (c->len > s->max_bytes - s->used - s->total)
    return bg_error_set(err, BG_ETOOBIG, "the uncompressed layers exceed the limit of %llu bytes",
                        (unsigned long long)s->max_bytes);
  s->total += c->len;
  if (hash && c->len > 0 && bg_sha256_update(s->sha, c->data, c->len, err) != 0)
    return -1;
  return 0;
}

static void *producer(void *arg)
{
  struct bg_lstream *s = arg;
  struct chunk *c;

  pthread_setname_np(pthread_self(), "bg-inflate");
  for (;;) {
    c = bg_chan_get(&s->free_chunks);
    if (c == NULL) /* closed: the reader is gone */
      break;
    bg_error_clear(&c->err);
    c->failed = produce(s, c, s->hash_ahead, &c->err) != 0;
    if (c->failed)
      c->len = 0;
    if (bg_chan_put(&s->full_chunks, c) != 0 || c->failed || (c->len == 0 && !c->cut))
      break;
  }
  return NULL;
}

void bg_lstream_close(struct bg_lstream *s)
{
  size_t i;

  if (s == NULL)
    return;
  if (s->chans_live) {
    bg_chan_close(&s->free_chunks);
    bg_chan_close(&s->full_chunks);
  }
  if (s->thread_live)
    pthread_join(s->thread, NULL);
  if (s->chans_live) {
    bg_chan_destroy(&s->free_chunks);
    bg_chan_destroy(&s->full_chunks);
  }
  if (s->fd >= 0)
    close(s->fd);
  free(s->gz);
  ZSTD_freeDStream(s->zs);
  bg_sha256_free(s->sha);
  bg_sha256_free(s->blob_sha);
  for (i = 0; i < CHUNKS; i++) {
    free(s->chunks[i].data);
    free(s->chunks[i].raw);
  }
  free(s->in);
  free(s);
}

struct bg_lstream *bg_lstream_open(const char *path, const struct bg_lstream_opts *o,
                                   struct bg_error *err)
{
  static const char *const names[] = {"uncompressed", "gzip", "zstd"};
  struct bg_lstream *s = calloc(1, sizeof(*s));
  const char *found;
  size_t i;

  if (s == NULL)
    goto nomem;
  s->fd = -1;
  s->compression = o->compression;
  s->max_bytes = o->max_bytes;
  s->used = o->used < o->max_bytes ? o->used : o->max_bytes;
  s->threaded = o->threaded;
  s->hash_ahead = o->threaded && o->hash_ahead;
  s->in = malloc(IN_SIZE + IN_SLACK);
  if (s->in == NULL)
    goto nomem;
  /* threaded, a compressed blob's digest is the reader's work (stored blobs: nothing to
   * gain, the inflate thread only copies) */
  s->defer_blob = s->threaded && o->blob_hex != NULL && o->compression != BG_LAYER_PLAIN;
  for (i = 0; i < (s->threaded ? CHUNKS : 1); i++) {
    s->chunks[i].data = malloc(CHUNK_SIZE);
    if (s->chunks[i].data == NULL)
      goto nomem;
    if (s->defer_blob && (s->chunks[i].raw = malloc(RAW_SIZE)) == NULL)
      goto nomem;
  }
  s->sha = bg_sha256_new(err);
  if (s->sha == NULL)
    goto fail;
  if (o->blob_hex != NULL) {
    snprintf(s->blob_hex, sizeof(s->blob_hex), "%s", o->blob_hex);
    s->blob_sha = bg_sha256_new(err);
    if (s->blob_sha == NULL)
      goto fail;
  }
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
  if (strcmp(found, names[o->compression]) != 0) {
    bg_error_set(err, BG_EMISMATCH,
                 "the blob does not match its media type: expected %s data, found %s",
                 names[o->compression], found);
    goto fail;
  }
  if (o->compression == BG_LAYER_GZIP) {
    s->gz = malloc(sizeof(*s->gz));
    if (s->gz == NULL)
      goto nomem;
    isal_inflate_init(s->gz);
    s->gz->crc_flag = ISAL_GZIP; /* the header parsed, CRC and length checked at the end */
  } else if (o->compression == BG_LAYER_ZSTD) {
    s->zs = ZSTD_createDStream();
    if (s->zs == NULL)
      goto nomem;
    /* the default window limit (128 MiB) bounds what a hostile frame can make us allocate */
    ZSTD_initDStream(s->zs);
    s->zs_ret = 1;
  }
  if (s->threaded) {
    if (bg_chan_init(&s->free_chunks, CHUNKS) != 0)
      goto nomem;
    if (bg_chan_init(&s->full_chunks, CHUNKS) != 0) {
      bg_chan_destroy(&s->free_chunks);
      goto nomem;
    }
    s->chans_live = 1;
    for (i = 0; i < CHUNKS; i++)
      bg_chan_put(&s->free_chunks, &s->chunks[i]);
    if (pthread_create(&s->thread, NULL, producer, s) != 0) {
      bg_error_set(err, BG_ENOMEM, "cannot start a thread to read the layer");
      goto fail;
    }
    s->thread_live = 1;
  }
  return s;
nomem:
  bg_error_set(err, BG_ENOMEM, "out of memory opening a layer");
fail:
  bg_lstream_close(s);
  return NULL;
}

int bg_lstream_read(struct bg_lstream *s, const void **p, size_t *n, struct bg_error *err)
{
  struct chunk *c;

  *n = 0;
  *p = s->chunks[0].data;
  if (!s->threaded) {
    if (s->done)
      return 0;
    c = &s->chunks[0];
    if (produce(s, c, 1, err) != 0)
      return -1;
    s->reader_blob_bytes = c->blob_bytes;
    *n = c->len;
    s->handed += c->len;
    return 0;
  }
  if (s->current != NULL) {
    bg_chan_put(&s->free_chunks, s->current);
    s->current = NULL;
  }
  if (s->finished)
    return 0;
  for (;;) {
    c = bg_chan_get(&s->full_chunks);
    if (c == NULL)
      return bg_error_set(err, BG_EIO, "the layer's reader stopped");
    s->current = c;
    s->reader_blob_bytes = c->blob_bytes;
    if (c->raw_len > 0 && !c->failed &&
        bg_sha256_update(s->blob_sha, c->raw, c->raw_len, err) != 0) {
      s->finished = 1;
      return -1;
    }
    if (c->failed || c->len > 0 || !c->cut)
      break;
    bg_chan_put(&s->free_chunks, c); /* blob bytes only: on to the next */
    s->current = NULL;
  }
  if (c->failed) {
    s->finished = 1;
    return bg_error_set(err, c->err.code, "%s", c->err.msg);
  }
  if (c->len == 0)
    s->finished = 1;
  if (!s->hash_ahead && c->len > 0 && bg_sha256_update(s->sha, c->data, c->len, err) != 0)
    return -1;
  *p = c->data;
  *n = c->len;
  s->handed += c->len;
  return 0;
}

int bg_lstream_finish(struct bg_lstream *s, char *out, struct bg_error *err)
{
  unsigned char raw[BG_SHA256_LEN];
  char hex[BG_SHA256_HEXLEN + 1];
  const void *p;
  size_t n;

  do {
    if (bg_lstream_read(s, &p, &n, err) != 0)
      return -1;
  } while (n > 0);
  if (s->blob_sha != NULL) {
    if (bg_sha256_final(s->blob_sha, raw, err) != 0)
      return -1;
    bg_hex(raw, BG_SHA256_LEN, hex);
    if (strcmp(hex, s->blob_hex) != 0)
      return bg_error_set(err, BG_EMISMATCH, "blob digest mismatch: expected sha256:%s, got "
                          "sha256:%s", s->blob_hex, hex);
  }
  if (bg_sha256_final(s->sha, raw, err) != 0)
    return -1;
  bg_digest_format(raw, out);
  return 0;
}

uint64_t bg_lstream_total(const struct bg_lstream *s)
{
  return s->handed;
}

uint64_t bg_lstream_blob_bytes(const struct bg_lstream *s)
{
  return s->reader_blob_bytes;
}
