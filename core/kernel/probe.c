/* What a kernel file is: the x86 boot protocol's setup header (Documentation/arch/x86/boot.rst),
 * an ELF, arm64's Image header, or a compressed file. */
#include "kernel.h"

#include <string.h>

#define SETUP_SECTS 0x1f1
#define BOOT_FLAG 0x1fe
#define HEADER 0x202
#define VERSION 0x206
#define KERNEL_VERSION 0x20e
#define PAYLOAD_OFFSET 0x248
#define PAYLOAD_LENGTH 0x24c
#define HEADER_END 0x250 /* the fields up to payload_length exist from protocol 2.08 on */
#define ARM64_MAGIC_AT 56

static unsigned le16(const unsigned char *p)
{
  return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const struct {
  int comp;
  const char *name;
  const char *magic;
  size_t len;
} comps[] = {
  {BG_COMP_GZIP, "gzip", "\x1f\x8b", 2},
  {BG_COMP_ZSTD, "zstd", "\x28\xb5\x2f\xfd", 4},
  {BG_COMP_XZ, "xz", "\xfd" "7zXZ\0", 6},
  {BG_COMP_LZMA, "lzma", "\x5d\0\0", 3},
  {BG_COMP_LZ4, "lz4", "\x02\x21\x4c\x18", 4},
  {BG_COMP_BZIP2, "bzip2", "BZh", 3},
  {BG_COMP_LZO, "lzo", "\x89LZO", 4},
};

#define NCOMPS (sizeof(comps) / sizeof(comps[0]))

const char *bg_kernel_comp_name(int comp)
{
  size_t i;

  for (i = 0; i < NCOMPS; i++) {
    if (comps[i].comp == comp)
      return comps[i].name;
  }
  return "none";
}

int bg_kernel_comp_detect(const void *buf, size_t len)
{
  size_t i;

  for (i = 0; i < NCOMPS; i++) {
    if (len >= comps[i].len && memcmp(buf, comps[i].magic, comps[i].len) == 0)
      return comps[i].comp;
  }
  return BG_COMP_NONE;
}

/* The NUL-terminated version string the setup header points at, kept inside the setup code. */
static void copy_version(const unsigned char *p, size_t off, size_t end, char *out)
{
  size_t i = 0;

  while (off + i < end && p[off + i] != '\0' && i + 1 < BG_KERNEL_VERSION_MAX) {
    out[i] = p[off + i] >= 0x20 && p[off + i] < 0x7f ? (char)p[off + i] : '?';
    i++;
  }
  out[i] = '\0';
}

static int probe_bzimage(const unsigned char *p, size_t len, struct bg_kernel_info *info,
                         struct bg_error *err)
{
  size_t sects, pm_start, off, plen, kv;

  if (len < HEADER_END)
    return bg_error_set(err, BG_EINVAL, "truncated bzImage: %zu bytes, the setup header "
                        "alone needs %d", len, HEADER_END);
  if (le16(p + BOOT_FLAG) != 0xaa55)
    return bg_error_set(err, BG_EINVAL, "bzImage without the 0xAA55 boot flag");
  info->format = BG_KERNEL_BZIMAGE;
  info->protocol = le16(p + VERSION);
  if (info->protocol < 0x0208)
    return bg_error_set(err, BG_EINVAL, "bzImage boot protocol %u.%02u predates 2.08: it "
                        "does not say where its payload is", info->protocol >> 8,
                        info->protocol & 0xff);
  sects = p[SETUP_SECTS] ? p[SETUP_SECTS] : 4;
  pm_start = (sects + 1) * 512;
  if (pm_start >= len)
    return bg_error_set(err, BG_EINVAL, "truncated bzImage: %zu setup sectors, but the file "
                        "has %zu bytes", sects, len);
  off = le32(p + PAYLOAD_OFFSET);
  plen = le32(p + PAYLOAD_LENGTH);
  if (plen == 0 || off > len - pm_start || plen > len - pm_start - off)
    return bg_error_set(err, BG_EINVAL, "bzImage payload (%zu bytes at %zu) is outside the "
                        "%zu bytes of the file", plen, pm_start + off, len);
  info->payload_offset = pm_start + off;
  info->payload_size = plen;
  info->compression = bg_kernel_comp_detect(p + info->payload_offset, plen);
  kv = le16(p + KERNEL_VERSION);
  if (kv != 0 && kv + 0x200 < pm_start)
    copy_version(p, kv + 0x200, pm_start, info->version);
  return 0;
}

int bg_kernel_probe(const void *buf, size_t len, struct bg_kernel_info *info,
                    struct bg_error *err)
{
  const unsigned char *p = buf;

  memset(info, 0, sizeof(*info));
  if (len >= HEADER + 4 && memcmp(p + HEADER, "HdrS", 4) == 0)
    return probe_bzimage(p, len, info, err);
  if (len >= 4 && memcmp(p, "\177ELF", 4) == 0) {
    info->format = BG_KERNEL_ELF;
    return 0;
  }
  if (len >= 64 && le32(p + ARM64_MAGIC_AT) == 0x644d5241) {
    info->format = BG_KERNEL_ARM64_IMAGE;
    return 0;
  }
  if (len >= 8 && memcmp(p, "MZ", 2) == 0 && memcmp(p + 4, "zimg", 4) == 0)
    return bg_error_set(err, BG_EINVAL, "an EFI zboot kernel: not supported (unpack it with "
                        "the kernel's own tools)");
  info->compression = bg_kernel_comp_detect(p, len);
  if (info->compression != BG_COMP_NONE) {
    info->format = BG_KERNEL_COMPRESSED;
    return 0;
  }
  return bg_error_set(err, BG_EINVAL, "not a kernel: no bzImage header, ELF or arm64 Image "
                      "magic, and no known compression");
}
