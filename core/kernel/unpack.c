/* The uncompressed kernel a VMM boots: the vmlinux ELF inside a bzImage, or arm64's Image.
 * The first bytes are kept as they stream past, to check what came out before it is used. */
#include "kernel.h"

#include <string.h>

#define HEAD 4096
#define ARM64_MAGIC_AT 56

struct head {
  bg_kernel_sink sink;
  void *ctx;
  unsigned char buf[HEAD];
  size_t len;
};

static int keep_head(void *ctx, const void *p, size_t n, struct bg_error *err)
{
  struct head *h = ctx;
  size_t take = n < HEAD - h->len ? n : HEAD - h->len;

  memcpy(h->buf + h->len, p, take);
  h->len += take;
  return h->sink(h->ctx, p, n, err);
}

static uint64_t get(const unsigned char *p, size_t n, int big)
{
  uint64_t v = 0;
  size_t i;

  for (i = 0; i < n; i++)
    v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
  return v;
}

/* An ELF whose program header table lies inside the file, with at least one entry. */
static int check_elf(const unsigned char *h, size_t hlen, uint64_t size, struct bg_elf_info *elf,
                     struct bg_error *err)
{
  uint64_t phoff, phnum, phentsize;
  int w;

  if (bg_elf_identify(h, hlen, elf, err) != 0)
    return -1;
  w = elf->bits == 64;
  phoff = get(h + (w ? 32 : 28), w ? 8 : 4, elf->big_endian);
  phentsize = get(h + (w ? 54 : 42), 2, elf->big_endian);
  phnum = get(h + (w ? 56 : 44), 2, elf->big_endian);
  if (phnum == 0 || phentsize < (w ? 56U : 32U))
    return bg_error_set(err, BG_EINVAL, "an ELF without program headers: not a bootable kernel");
  if (phoff > size || phnum * phentsize > size - phoff)
    return bg_error_set(err, BG_EINVAL, "ELF program headers (%llu at %llu) outside the "
                        "%llu bytes of the file", (unsigned long long)phnum,
                        (unsigned long long)phoff, (unsigned long long)size);
  return 0;
}

static int check_arm64(const unsigned char *h, size_t hlen)
{
  return hlen >= 64 && get(h + ARM64_MAGIC_AT, 4, 0) == 0x644d5241;
}

int bg_kernel_unpack(const void *buf, size_t len, uint64_t max, bg_kernel_sink sink, void *ctx,
                     struct bg_kernel_unpacked *out, struct bg_error *err)
{
  const unsigned char *p = buf;
  struct bg_kernel_info info;
  struct head h;
  const unsigned char *src = p;
  size_t srclen = len;

  memset(out, 0, sizeof(*out));
  if (bg_kernel_probe(buf, len, &info, err) != 0)
    return -1;
  h.sink = sink;
  h.ctx = ctx;
  h.len = 0;
  if (info.format == BG_KERNEL_ELF || info.format == BG_KERNEL_ARM64_IMAGE) {
    if (len > max)
      return bg_error_set(err, BG_ETOOBIG, "kernel of %zu bytes is over the limit of %llu MiB",
                          len, (unsigned long long)(max >> 20));
    if (keep_head(&h, p, len, err) != 0)
      return -1;
    out->size = len;
  } else {
    if (info.format == BG_KERNEL_BZIMAGE) {
      src = p + info.payload_offset;
      srclen = info.payload_size;
    }
    if (bg_kernel_decompress(info.compression, src, srclen, max, keep_head, &h, &out->size,
                             err) != 0)
      return bg_error_prefix(err, "%s", info.format == BG_KERNEL_BZIMAGE ? "bzImage" : "kernel");
    out->compression = info.compression;
  }
  if (h.len >= 4 && memcmp(h.buf, "\177ELF", 4) == 0) {
    out->format = BG_KERNEL_ELF;
    if (check_elf(h.buf, h.len, out->size, &out->elf, err) != 0)
      return bg_error_prefix(err, "the uncompressed kernel");
    if (info.format == BG_KERNEL_BZIMAGE && out->elf.machine != BG_EM_X86_64 &&
        out->elf.machine != BG_EM_386)
      return bg_error_set(err, BG_EINVAL, "the bzImage payload is an ELF for machine %u, "
                          "not x86", out->elf.machine);
    return 0;
  }
  if (info.format != BG_KERNEL_BZIMAGE && check_arm64(h.buf, h.len)) {
    out->format = BG_KERNEL_ARM64_IMAGE;
    return 0;
  }
  if (info.format == BG_KERNEL_BZIMAGE)
    return bg_error_set(err, BG_EINVAL, "the decompressed bzImage payload is not an ELF file");
  return bg_error_set(err, BG_EINVAL, "the decompressed kernel is neither an ELF file nor an "
                      "arm64 Image");
}
