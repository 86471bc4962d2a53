/* Layer blobs: the input replayed as a plain tar, gzip-compressed and zstd-compressed (the
 * compression done here, so the fuzzer works on the tar itself), and the raw bytes under the
 * gzip and zstd media types for the decompressors. Header checksums are fixed up first, so a
 * mutated header field reaches the code that reads it instead of failing the checksum. Each replay goes into a fresh tree and is
 * then applied once more on top as a second layer, so replacement and whiteouts meet lower
 * layers. Small caps keep bombs short. The blob lives in a memfd, never on disk. */
#include "fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "layer/layer.h"
#include "tree_check.h"
#include "util/log.h"

#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

static int blob_fd = -1;
static char blob_path[64];

static void put_blob(const void *p, size_t n)
{
  if (ftruncate(blob_fd, 0) != 0 || pwrite(blob_fd, p, n, 0) != (ssize_t)n)
    abort();
}

static void replay(const char *media_type)
{
  static const struct bg_layer_policy policy = {
    .devices = BG_LAYER_DEVICES_KEEP,
    .xattrs = BG_LAYER_XATTRS_KEEP,
    .max_bytes = 4 << 20,
    .max_entries = 2000,
  };
  static const struct bg_tree_limits limits = {.max_entries = 1500, .max_spool_bytes = 2 << 20};
  struct bg_error err;
  struct bg_tree *t;
  int pass;

  bg_error_clear(&err);
  t = bg_tree_new(&limits, &err);
  FUZZ_ASSERT(t != NULL);
  for (pass = 0; pass < 2; pass++) {
    bg_error_clear(&err);
    if (bg_layer_apply(t, blob_path, media_type, NULL, &policy, "L", &err) != 0) {
      FUZZ_ASSERT(err.code != 0 && strncmp(err.msg, "L: ", 3) == 0);
      break;
    }
  }
  fuzz_tree_check(t);
  bg_tree_free(t);
}

/* Every 512-byte block with the ustar magic (ustar, GNU and pax headers) gets a right checksum. */
static void fix_checksums(unsigned char *p, size_t n)
{
  unsigned sum;
  size_t off, i;

  for (off = 0; off + 512 <= n; off += 512) {
    if (memcmp(p + off + 257, "ustar", 5) != 0)
      continue;
    memset(p + off + 148, ' ', 8);
    for (sum = 0, i = 0; i < 512; i++)
      sum += p[off + i];
    snprintf((char *)p + off + 148, 8, "%06o", sum);
    p[off + 155] = ' ';
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t cap = compressBound(size) + 64, zcap = ZSTD_compressBound(size);
  unsigned char *buf = malloc(cap > zcap ? cap : zcap), *tar = malloc(size + 1);
  z_stream z;
  size_t zn;

  if (buf == NULL || tar == NULL)
    abort();
  memcpy(tar, data, size);
  fix_checksums(tar, size);
  if (blob_fd < 0) {
    bg_log_set_level(BG_LOG_ERROR);
    blob_fd = memfd_create("layer", MFD_CLOEXEC);
    if (blob_fd < 0)
      abort();
    snprintf(blob_path, sizeof(blob_path), "/proc/self/fd/%d", blob_fd);
  }
  put_blob(data, size);
  replay(MT_GZIP);
  replay(MT_ZSTD);
  put_blob(tar, size);
  replay(MT_TAR);

  memset(&z, 0, sizeof(z));
  if (deflateInit2(&z, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  z.next_in = tar;
  z.avail_in = (uInt)size;
  z.next_out = buf;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END)
    abort();
  put_blob(buf, z.total_out);
  deflateEnd(&z);
  replay(MT_GZIP);

  zn = ZSTD_compress(buf, zcap, tar, size, 1);
  if (ZSTD_isError(zn))
    abort();
  put_blob(buf, zn);
  replay(MT_ZSTD);
  free(tar);
  free(buf);
  return 0;
}
