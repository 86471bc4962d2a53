/* In-process decompression of kernel payloads: zlib, libzstd, liblzma and liblz4, each
 * streaming into a sink in bounded chunks, each stopping at the end of its first stream. */
#include "kernel.h"

#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#define CHUNK (256 * 1024)
/* what the decoders may allocate for their dictionaries and windows */
#define MEMLIMIT (256ULL << 20)
#define ZSTD_WINDOWLOG_MAX 27
/* lz4's legacy format (lz4 -l, what kernel builds use): 8 MiB blocks */
#define LZ4_LEGACY_MAGIC 0x184c2102U
#define LZ4_LEGACY_BLOCK (8 << 20)

struct out {
  bg_kernel_sink sink;
  void *ctx;
  uint64_t max;
  uint64_t len;
  const char *what;
};

static int emit(struct out *o, const void *p, size_t n, struct bg_error *err)
{
  if (n == 0)
    return 0;
  if (n > o->max - o->len)
    return bg_error_set(err, BG_ETOOBIG, "%s payload decompresses to more than %llu MiB",
                        o->what, (unsigned long long)(o->max >> 20));
  o->len += n;
  return o->sink(o->ctx, p, n, err);
}

static int gunzip(const unsigned char *src, size_t len, unsigned char *buf, struct out *o,
                  struct bg_error *err)
{
  z_stream z;
  size_t fed = 0;
  int zr = Z_OK;
  int ret = -1;

  memset(&z, 0, sizeof(z));
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    return bg_error_set(err, BG_ENOMEM, "cannot start a gzip decoder");
  while (zr != Z_STREAM_END) {
    if (z.avail_in == 0) {
      if (fed == len) {
        bg_error_set(err, BG_EINVAL, "truncated gzip payload");
        goto out;
      }
      /* fed in pieces: avail_in is an unsigned int */
      z.next_in = (unsigned char *)src + fed;
      z.avail_in = len - fed > (1U << 30) ? 1U << 30 : (unsigned)(len - fed);
      fed += z.avail_in;
    }
    z.next_out = buf;
    z.avail_out = CHUNK;
    zr = inflate(&z, Z_NO_FLUSH);
    if (zr == Z_BUF_ERROR && z.avail_in != 0)
      zr = Z_DATA_ERROR;
    if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
      bg_error_set(err, BG_EINVAL, "corrupt gzip payload: %s", z.msg ? z.msg : "error");
      goto out;
    }
    if (emit(o, buf, CHUNK - z.avail_out, err) != 0)
      goto out;
  }
  ret = 0;
out:
  inflateEnd(&z);
  return ret;
}

static int is_zstd_frame(const unsigned char *p, size_t n)
{
  uint32_t m;

  if (n < 4)
    return 0;
  m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return m == 0xfd2fb528U || (m & 0xfffffff0U) == 0x184d2a50U;
}

/* Frames follow each other while the bytes after one look like a frame (skippable ones
 * included); anything else after a frame ends the stream. */
static int unzstd(const unsigned char *src, size_t len, unsigned char *buf, struct out *o,
                  struct bg_error *err)
{
  ZSTD_DStream *z = ZSTD_createDStream();
  ZSTD_inBuffer in = {src, len, 0};
  ZSTD_outBuffer ob;
  size_t zr = 1;
  int ret = -1;

  if (z == NULL)
    return bg_error_set(err, BG_ENOMEM, "cannot start a zstd decoder");
  if (ZSTD_isError(ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_MAX))) {
    bg_error_set(err, BG_ENOMEM, "cannot limit the zstd window");
    goto out;
  }
  for (;;) {
    if (zr == 0 && !is_zstd_frame(src + in.pos, len - in.pos))
      break;
    if (in.pos == len) {
      bg_error_set(err, BG_EINVAL, "truncated zstd payload");
      goto out;
    }
    ob.dst = buf;
    ob.size = CHUNK;
    ob.pos = 0;
    zr = ZSTD_decompressStream(z, &ob, &in);
    if (ZSTD_isError(zr)) {
      bg_error_set(err, BG_EINVAL, "corrupt zstd payload: %s", ZSTD_getErrorName(zr));
      goto out;
    }
    if (emit(o, buf, ob.pos, err) != 0)
      goto out;
  }
  ret = 0;
out:
  ZSTD_freeDStream(z);
  return ret;
}

static int unxz(int comp, const unsigned char *src, size_t len, unsigned char *buf,
                struct out *o, struct bg_error *err)
{
  lzma_stream z = LZMA_STREAM_INIT;
  lzma_ret lr;
  int ret = -1;

  /* one .xz stream (no LZMA_CONCATENATED), so the size word after it is left alone */
  lr = comp == BG_COMP_XZ ? lzma_stream_decoder(&z, MEMLIMIT, 0)
                          : lzma_alone_decoder(&z, MEMLIMIT);
  if (lr != LZMA_OK)
    return bg_error_set(err, BG_ENOMEM, "cannot start an %s decoder", bg_kernel_comp_name(comp));
  z.next_in = src;
  z.avail_in = len;
  do {
    z.next_out = buf;
    z.avail_out = CHUNK;
    lr = lzma_code(&z, LZMA_FINISH);
    if (lr != LZMA_OK && lr != LZMA_STREAM_END) {
      if (lr == LZMA_BUF_ERROR)
        bg_error_set(err, BG_EINVAL, "truncated %s payload", bg_kernel_comp_name(comp));
      else if (lr == LZMA_MEMLIMIT_ERROR)
        bg_error_set(err, BG_ETOOBIG, "%s payload needs more than %llu MiB to decompress",
                     bg_kernel_comp_name(comp), MEMLIMIT >> 20);
      else
        bg_error_set(err, BG_EINVAL, "corrupt %s payload (liblzma error %d)",
                     bg_kernel_comp_name(comp), (int)lr);
      goto out;
    }
    if (emit(o, buf, CHUNK - z.avail_out, err) != 0)
      goto out;
  } while (lr != LZMA_STREAM_END);
  ret = 0;
out:
  lzma_end(&z);
  return ret;
}

static uint32_t le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The legacy format: the magic, then blocks of (little-endian size, lz4 block), each at most
 * 8 MiB once decompressed; a repeated magic starts another stream. Four bytes left after a
 * block are the size word kernel builds append. */
static int unlz4(const unsigned char *src, size_t len, struct out *o, struct bg_error *err)
{
  size_t pos = 4, n;
  char *block;
  int got, blocks = 0;
  int ret = -1;

  block = malloc(LZ4_LEGACY_BLOCK);
  if (block == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  while (pos < len) {
    if (len - pos < 4) {
      bg_error_set(err, BG_EINVAL, "truncated lz4 payload");
      goto out;
    }
    n = le32(src + pos);
    if (n == LZ4_LEGACY_MAGIC) {
      pos += 4;
      continue;
    }
    if (len - pos == 4 && blocks > 0)
      break;
    pos += 4;
    if (n == 0 || n > (size_t)LZ4_compressBound(LZ4_LEGACY_BLOCK) || n > len - pos) {
      bg_error_set(err, BG_EINVAL, "truncated or corrupt lz4 payload (block of %zu bytes "
                   "with %zu left)", n, len - pos);
      goto out;
    }
    got = LZ4_decompress_safe((const char *)src + pos, block, (int)n, LZ4_LEGACY_BLOCK);
    if (got < 0) {
      bg_error_set(err, BG_EINVAL, "corrupt lz4 payload");
      goto out;
    }
    if (emit(o, block, (size_t)got, err) != 0)
      goto out;
    pos += n;
    blocks++;
  }
  if (blocks == 0) {
    bg_error_set(err, BG_EINVAL, "empty lz4 payload");
    goto out;
  }
  ret = 0;
out:
  free(block);
  return ret;
}

int bg_kernel_decompress(int comp, const void *src, size_t len, uint64_t max,
                         bg_kernel_sink sink, void *ctx, uint64_t *out_len,
                         struct bg_error *err)
{
  struct out o = {sink, ctx, max, 0, bg_kernel_comp_name(comp)};
  unsigned char *buf = NULL;
  int ret;

  *out_len = 0;
  if (comp == BG_COMP_LZ4) {
    if (len < 4 || le32(src) != LZ4_LEGACY_MAGIC)
      return bg_error_set(err, BG_EINVAL, "not an lz4 legacy-format payload");
    ret = unlz4(src, len, &o, err);
  } else if (comp == BG_COMP_GZIP || comp == BG_COMP_ZSTD || comp == BG_COMP_XZ ||
             comp == BG_COMP_LZMA) {
    buf = malloc(CHUNK);
    if (buf == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
    if (comp == BG_COMP_GZIP)
      ret = gunzip(src, len, buf, &o, err);
    else if (comp == BG_COMP_ZSTD)
      ret = unzstd(src, len, buf, &o, err);
    else
      ret = unxz(comp, src, len, buf, &o, err);
  } else if (comp == BG_COMP_NONE) {
    return bg_error_set(err, BG_EINVAL, "the payload is not compressed in any known way");
  } else {
    return bg_error_set(err, BG_EINVAL, "%s payloads are not supported (gzip, zstd, xz, lzma "
                        "and lz4 are)", bg_kernel_comp_name(comp));
  }
  free(buf);
  *out_len = o.len;
  return ret;
}
