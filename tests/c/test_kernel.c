/* Kernel files for a VMM: bzImage headers, every payload compression, the checks on what comes
 * out, and the caps. Fixtures are made here with the same libraries' encoders. */
#include "harness.h"

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "kernel/kernel.h"
#include "util/buf.h"

#define MAX (64ULL << 20)

/* A vmlinux stand-in: a 64-bit ELF header for machine, one program header, then n bytes of
 * compressible content. */
static unsigned char *fake_elf(unsigned machine, size_t n, size_t *len)
{
  size_t total = 64 + 56 + n, i;
  unsigned char *p = calloc(1, total);

  CHECK(p != NULL);
  memcpy(p, "\177ELF", 4);
  p[4] = 2;
  p[5] = 1;
  p[6] = 1;
  p[16] = 2; /* ET_EXEC */
  p[18] = (unsigned char)machine;
  p[19] = (unsigned char)(machine >> 8);
  p[20] = 1;
  p[24] = 0x00;
  p[26] = 0x00;
  p[27] = 0x01; /* e_entry 0x1000000 */
  p[32] = 64;   /* e_phoff */
  p[52] = 64;   /* e_ehsize */
  p[54] = 56;   /* e_phentsize */
  p[56] = 1;    /* e_phnum */
  for (i = 0; i < n; i++)
    p[120 + i] = (unsigned char)("vmlinux payload "[i % 16] + (i / 4096) % 7);
  *len = total;
  return p;
}

static unsigned char *pack(int comp, const unsigned char *in, size_t n, size_t *out_len)
{
  size_t cap = n + n / 2 + 65536, pos = 0, i, blk;
  unsigned char *out = malloc(cap);
  z_stream z;
  lzma_options_lzma opt;
  int got;

  CHECK(out != NULL);
  switch (comp) {
  case BG_COMP_GZIP:
    memset(&z, 0, sizeof(z));
    CHECK_INT(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (unsigned)n;
    z.next_out = out;
    z.avail_out = (unsigned)cap;
    CHECK_INT(deflate(&z, Z_FINISH), Z_STREAM_END);
    pos = cap - z.avail_out;
    deflateEnd(&z);
    break;
  case BG_COMP_ZSTD:
    pos = ZSTD_compress(out, cap, in, n, 19);
    CHECK(!ZSTD_isError(pos));
    break;
  case BG_COMP_XZ:
    CHECK_INT(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, n, out, &pos, cap),
              LZMA_OK);
    break;
  case BG_COMP_LZMA: {
    lzma_stream s = LZMA_STREAM_INIT;
    CHECK(lzma_lzma_preset(&opt, 6) == 0);
    CHECK_INT(lzma_alone_encoder(&s, &opt), LZMA_OK);
    s.next_in = in;
    s.avail_in = n;
    s.next_out = out;
    s.avail_out = cap;
    CHECK_INT(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
    pos = cap - s.avail_out;
    lzma_end(&s);
    break;
  }
  case BG_COMP_LZ4:
    /* legacy format: magic, then (size, block) per 8 MiB */
    memcpy(out, "\x02\x21\x4c\x18", 4);
    pos = 4;
    for (i = 0; i < n; i += blk) {
      blk = n - i < (8u << 20) ? n - i : (8u << 20);
      got = LZ4_compress_default((const char *)in + i, (char *)out + pos + 4, (int)blk,
                                 (int)(cap - pos - 4));
      CHECK(got > 0);
      out[pos] = (unsigned char)got;
      out[pos + 1] = (unsigned char)(got >> 8);
      out[pos + 2] = (unsigned char)(got >> 16);
      out[pos + 3] = (unsigned char)(got >> 24);
      pos += 4 + (size_t)got;
    }
    break;
  default:
    CHECK(0);
  }
  *out_len = pos;
  return out;
}

/* A bzImage around payload: one setup sector after the boot sector, protocol 2.15, a version
 * string, the payload at offset 0x100 of the protected-mode part, then the size word kernel
 * builds append (size_word) and padding. */
static unsigned char *bzimage(const unsigned char *payload, size_t plen, uint32_t size_word,
                              size_t *len)
{
  size_t pm = 2 * 512, off = 0x100, total = pm + off + plen + 4 + 16;
  unsigned char *p = calloc(1, total);
  static const char version[] = "6.1.0-test-amd64 (banger@test) #1 SMP";

  CHECK(p != NULL);
  p[0x1f1] = 1;
  p[0x1fe] = 0x55;
  p[0x1ff] = 0xaa;
  memcpy(p + 0x202, "HdrS", 4);
  p[0x206] = 0x0f;
  p[0x207] = 0x02;
  p[0x20e] = 0x00; /* kernel_version: 0x100 + 0x200 = 0x300 */
  p[0x20f] = 0x01;
  memcpy(p + 0x300, version, sizeof(version));
  p[0x248] = (unsigned char)off;
  p[0x249] = (unsigned char)(off >> 8);
  p[0x24c] = (unsigned char)((plen + 4) & 0xff);
  p[0x24d] = (unsigned char)((plen + 4) >> 8);
  p[0x24e] = (unsigned char)((plen + 4) >> 16);
  p[0x24f] = (unsigned char)((plen + 4) >> 24);
  memcpy(p + pm + off, payload, plen);
  memcpy(p + pm + off + plen, &size_word, 4); /* little-endian hosts only, as x86 is */
  *len = total;
  return p;
}

static int to_buf(void *ctx, const void *p, size_t n, struct bg_error *err)
{
  return bg_buf_add(ctx, p, n, err);
}

static void check_roundtrip(int comp)
{
  size_t elen, clen, blen;
  unsigned char *elf = fake_elf(BG_EM_X86_64, 3 << 20, &elen);
  unsigned char *c = pack(comp, elf, elen, &clen);
  unsigned char *bz = bzimage(c, clen, (uint32_t)elen, &blen);
  struct bg_kernel_info info;
  struct bg_kernel_unpacked u;
  struct bg_error err;
  struct bg_buf out;

  bg_error_clear(&err);
  CHECK_INT(bg_kernel_probe(bz, blen, &info, &err), 0);
  CHECK_INT(info.format, BG_KERNEL_BZIMAGE);
  CHECK_INT(info.compression, comp);
  CHECK_INT(info.protocol, 0x020f);
  CHECK_INT(info.payload_offset, 1024 + 0x100);
  CHECK_INT(info.payload_size, clen + 4);
  CHECK_STR(info.version, "6.1.0-test-amd64 (banger@test) #1 SMP");
  bg_buf_init(&out, MAX);
  CHECK_INT(bg_kernel_unpack(bz, blen, MAX, to_buf, &out, &u, &err), 0);
  CHECK_INT(u.format, BG_KERNEL_ELF);
  CHECK_INT(u.compression, comp);
  CHECK_INT(u.size, elen);
  CHECK_INT(out.len, elen);
  CHECK(memcmp(out.data, elf, elen) == 0);
  CHECK_INT(u.elf.machine, BG_EM_X86_64);
  CHECK_STR(u.elf.arch, "amd64");
  /* the cap: one byte short is an error, not a short file */
  bg_buf_reset(&out);
  CHECK_INT(bg_kernel_unpack(bz, blen, elen - 1, to_buf, &out, &u, &err), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  CHECK_CONTAINS(err.msg, "decompresses to more than");
  /* truncated: the payload cut in half */
  bz[0x24c] = 0;
  bz[0x24d] = 0;
  bz[0x24e] = 0;
  bz[0x24f] = 0;
  memcpy(bz + 0x24c, &(uint32_t){(uint32_t)(clen / 2)}, 4);
  bg_buf_reset(&out);
  bg_error_clear(&err);
  CHECK_INT(bg_kernel_unpack(bz, blen, MAX, to_buf, &out, &u, &err), -1);
  CHECK_INT(err.code, BG_EINVAL);
  CHECK_CONTAINS(err.msg, "bzImage: ");
  CHECK_CONTAINS(err.msg, bg_kernel_comp_name(comp));
  bg_buf_free(&out);
  free(bz);
  free(c);
  free(elf);
}

BG_TEST(bzimage_gzip)
{
  check_roundtrip(BG_COMP_GZIP);
}

BG_TEST(bzimage_zstd)
{
  check_roundtrip(BG_COMP_ZSTD);
}

BG_TEST(bzimage_xz)
{
  check_roundtrip(BG_COMP_XZ);
}

BG_TEST(bzimage_lzma)
{
  check_roundtrip(BG_COMP_LZMA);
}

BG_TEST(bzimage_lz4)
{
  check_roundtrip(BG_COMP_LZ4);
}

BG_TEST(lz4_several_blocks_and_streams)
{
  size_t elen, clen, blen, c2len;
  unsigned char *elf = fake_elf(BG_EM_X86_64, 9 << 20, &elen);
  unsigned char *c = pack(BG_COMP_LZ4, elf, elen, &clen);
  unsigned char *two = malloc(clen + 4 + 64);
  unsigned char *bz;
  struct bg_kernel_unpacked u;
  struct bg_error err;
  struct bg_buf out;

  /* a repeated magic in the middle starts another stream of the same data */
  memcpy(two, c, clen);
  memcpy(two + clen, "\x02\x21\x4c\x18", 4);
  c2len = clen + 4;
  bz = bzimage(two, c2len, (uint32_t)elen, &blen);
  bg_error_clear(&err);
  bg_buf_init(&out, MAX);
  CHECK_INT(bg_kernel_unpack(bz, blen, MAX, to_buf, &out, &u, &err), 0);
  CHECK_INT(out.len, elen);
  CHECK(memcmp(out.data, elf, elen) == 0);
  bg_buf_free(&out);
  free(bz);
  free(two);
  free(c);
  free(elf);
}

BG_TEST(zstd_skippable_frame_first)
{
  size_t elen, clen, blen;
  unsigned char *elf = fake_elf(BG_EM_X86_64, 1 << 20, &elen);
  unsigned char *c = pack(BG_COMP_ZSTD, elf, elen, &clen);
  unsigned char *sk = malloc(clen + 12);
  unsigned char *bz;
  struct bg_kernel_unpacked u;
  struct bg_error err;
  struct bg_buf out;

  /* a skippable frame (magic 0x184D2A5?, 4-byte size, data) before the real one */
  memcpy(sk, "\x50\x2a\x4d\x18\x04\x00\x00\x00skip", 12);
  memcpy(sk + 12, c, clen);
  bz = bzimage(sk, clen + 12, (uint32_t)elen, &blen);
  bg_error_clear(&err);
  /* what the bzImage says decides, whatever the first bytes are */
  bg_buf_init(&out, MAX);
  CHECK_INT(bg_kernel_decompress(BG_COMP_ZSTD, sk, clen + 12, MAX, to_buf, &out, &elen, &err),
            0);
  CHECK_INT(out.len, elen);
  CHECK(memcmp(out.data, elf, elen) == 0);
  (void)u;
  bg_buf_free(&out);
  free(bz);
  free(sk);
  free(c);
  free(elf);
}

/* Probing len bytes of bz fails with a message containing needle. */
static void probe_fails(const unsigned char *bz, size_t len, const char *needle)
{
  struct bg_kernel_info info;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_kernel_probe(bz, len, &info, &err), -1);
  CHECK_INT(err.code, BG_EINVAL);
  CHECK_CONTAINS(err.msg, needle);
}

/* Unpacking len bytes of buf fails with a message containing needle, writing nothing. */
static void unpack_fails(const unsigned char *buf, size_t len, const char *needle)
{
  struct bg_kernel_unpacked u;
  struct bg_error err;
  struct bg_buf out;

  bg_error_clear(&err);
  bg_buf_init(&out, MAX);
  CHECK_INT(bg_kernel_unpack(buf, len, MAX, to_buf, &out, &u, &err), -1);
  CHECK_CONTAINS(err.msg, needle);
  bg_buf_free(&out);
}

BG_TEST(payload_must_be_an_x86_elf)
{
  static const char text[] = "this is not an ELF file, just text that compresses well well well";
  size_t elen, clen, blen;
  unsigned char *c = pack(BG_COMP_GZIP, (const unsigned char *)text, sizeof(text), &clen);
  unsigned char *bz = bzimage(c, clen, sizeof(text), &blen);
  unsigned char *elf;

  unpack_fails(bz, blen, "the decompressed bzImage payload is not an ELF file");
  free(bz);
  free(c);
  elf = fake_elf(BG_EM_AARCH64, 4096, &elen);
  c = pack(BG_COMP_GZIP, elf, elen, &clen);
  bz = bzimage(c, clen, (uint32_t)elen, &blen);
  unpack_fails(bz, blen, "an ELF for machine 183, not x86");
  free(bz);
  free(c);
  /* program headers said to lie past the end */
  elf[32] = 0xff;
  elf[33] = 0xff;
  c = pack(BG_COMP_GZIP, elf, elen, &clen);
  bz = bzimage(c, clen, (uint32_t)elen, &blen);
  unpack_fails(bz, blen, "ELF program headers (1 at 65535) outside the");
  free(bz);
  free(c);
  free(elf);
}

BG_TEST(bzimage_header_bounds)
{
  size_t elen, clen, blen;
  unsigned char *elf = fake_elf(BG_EM_X86_64, 4096, &elen);
  unsigned char *c = pack(BG_COMP_GZIP, elf, elen, &clen);
  unsigned char *bz = bzimage(c, clen, (uint32_t)elen, &blen);
  struct bg_kernel_info info;
  struct bg_error err;

  probe_fails(bz, 0x24f, "truncated bzImage: 591 bytes");
  bz[0x24f] = 0x7f; /* payload_length past the end of the file */
  probe_fails(bz, blen, "is outside the");
  bz[0x24f] = 0;
  bz[0x24b] = 0x7f; /* payload_offset past the end */
  probe_fails(bz, blen, "is outside the");
  bz[0x24b] = 0;
  bz[0x1f1] = 0xff; /* more setup sectors than the file has */
  probe_fails(bz, 4096, "255 setup sectors");
  bz[0x1f1] = 1;
  bz[0x206] = 0x04; /* an old boot protocol has no payload fields */
  probe_fails(bz, blen, "boot protocol 2.04 predates 2.08");
  bz[0x206] = 0x0f;
  bz[0x1fe] = 0;
  probe_fails(bz, blen, "0xAA55 boot flag");
  bz[0x1fe] = 0x55;
  /* a version string pointer outside the setup code is ignored, not followed */
  bz[0x20f] = 0x7f;
  bg_error_clear(&err);
  CHECK_INT(bg_kernel_probe(bz, blen, &info, &err), 0);
  CHECK_STR(info.version, "");
  free(bz);
  free(c);
  free(elf);
}

BG_TEST(unsupported_and_unknown)
{
  static const unsigned char bz2[] = "BZh91AY&SY....";
  static const unsigned char zboot[16] = {'M', 'Z', 0, 0, 'z', 'i', 'm', 'g'};
  size_t blen;
  unsigned char *bz = bzimage(bz2, sizeof(bz2), 0, &blen);

  unpack_fails(bz, blen, "bzip2 payloads are not supported (gzip, zstd, xz, lzma and lz4 are)");
  probe_fails(zboot, sizeof(zboot), "EFI zboot");
  probe_fails((const unsigned char *)"#!/bin/sh\necho not a kernel\n", 28, "not a kernel");
  free(bz);
}

BG_TEST(arm64_image_gzipped)
{
  size_t n = 1 << 20, clen, i;
  unsigned char *img = calloc(1, n);
  unsigned char *c;
  struct bg_kernel_info info;
  struct bg_kernel_unpacked u;
  struct bg_error err;
  struct bg_buf out;

  for (i = 64; i < n; i++)
    img[i] = (unsigned char)(i % 251);
  memcpy(img + 56, "ARM\x64", 4);
  c = pack(BG_COMP_GZIP, img, n, &clen);
  bg_error_clear(&err);
  CHECK_INT(bg_kernel_probe(c, clen, &info, &err), 0);
  CHECK_INT(info.format, BG_KERNEL_COMPRESSED);
  CHECK_INT(info.compression, BG_COMP_GZIP);
  bg_buf_init(&out, MAX);
  CHECK_INT(bg_kernel_unpack(c, clen, MAX, to_buf, &out, &u, &err), 0);
  CHECK_INT(u.format, BG_KERNEL_ARM64_IMAGE);
  CHECK_INT(out.len, n);
  CHECK(memcmp(out.data, img, n) == 0);
  /* an uncompressed Image passes as it is */
  bg_buf_reset(&out);
  CHECK_INT(bg_kernel_unpack(img, n, MAX, to_buf, &out, &u, &err), 0);
  CHECK_INT(u.format, BG_KERNEL_ARM64_IMAGE);
  CHECK_INT(u.compression, BG_COMP_NONE);
  CHECK_INT(out.len, n);
  /* a compressed file that is neither */
  img[56] = 'X';
  free(c);
  c = pack(BG_COMP_GZIP, img, n, &clen);
  unpack_fails(c, clen, "neither an ELF file nor an arm64 Image");
  bg_buf_free(&out);
  free(c);
  free(img);
}
