#include "elf.h"

#include <stdint.h>
#include <string.h>

/* One row per OCI architecture (GOARCH names): what its binaries say in their ELF header. */
static const struct {
  const char *arch;
  unsigned machine;
  int bits;
  int big_endian;
  const char *name;
} arches[] = {
  {"amd64", BG_EM_X86_64, 64, 0, "x86-64"},
  {"arm64", BG_EM_AARCH64, 64, 0, "aarch64"},
  {"386", BG_EM_386, 32, 0, "i386"},
  {"arm", BG_EM_ARM, 32, 0, "arm"},
  {"riscv64", BG_EM_RISCV, 64, 0, "riscv64"},
  {"ppc64le", BG_EM_PPC64, 64, 0, "ppc64le"},
  {"ppc64", BG_EM_PPC64, 64, 1, "ppc64"},
  {"s390x", BG_EM_S390, 64, 1, "s390x"},
  {"mips64le", BG_EM_MIPS, 64, 0, "mips64le"},
  {"mips64", BG_EM_MIPS, 64, 1, "mips64"},
  {"mipsle", BG_EM_MIPS, 32, 0, "mipsle"},
  {"mips", BG_EM_MIPS, 32, 1, "mips"},
  {"loong64", BG_EM_LOONGARCH, 64, 0, "loongarch64"},
};

#define NARCHES (sizeof(arches) / sizeof(arches[0]))

static unsigned long long get(const unsigned char *p, size_t n, int big)
{
  unsigned long long v = 0;
  size_t i;

  for (i = 0; i < n; i++)
    v |= (unsigned long long)p[big ? n - 1 - i : i] << (8 * i);
  return v;
}

int bg_elf_identify(const void *buf, size_t len, struct bg_elf_info *out, struct bg_error *err)
{
  const unsigned char *p = buf;
  size_t ehsize;
  size_t i;
  int big;

  memset(out, 0, sizeof(*out));
  if (len < 16 || memcmp(p, "\177ELF", 4) != 0)
    return bg_error_set(err, BG_EINVAL, "not an ELF file (no ELF magic)");
  if (p[4] != 1 && p[4] != 2)
    return bg_error_set(err, BG_EINVAL, "not an ELF file: class %u is neither 32 nor 64 bits",
                        p[4]);
  if (p[5] != 1 && p[5] != 2)
    return bg_error_set(err, BG_EINVAL, "not an ELF file: unknown data encoding %u", p[5]);
  if (p[6] != 1)
    return bg_error_set(err, BG_EINVAL, "not an ELF file: unknown version %u", p[6]);
  out->bits = p[4] == 1 ? 32 : 64;
  big = p[5] == 2;
  out->big_endian = big;
  ehsize = out->bits == 32 ? 52 : 64;
  if (len < ehsize)
    return bg_error_set(err, BG_EINVAL, "truncated ELF header: %zu of %zu bytes", len, ehsize);
  out->type = (unsigned)get(p + 16, 2, big);
  out->machine = (unsigned)get(p + 18, 2, big);
  if (get(p + 20, 4, big) != 1)
    return bg_error_set(err, BG_EINVAL, "not an ELF file: e_version is not 1");
  out->entry = get(p + 24, out->bits == 32 ? 4 : 8, big);
  for (i = 0; i < NARCHES; i++) {
    if (arches[i].machine != out->machine)
      continue;
    if (arches[i].bits == out->bits && arches[i].big_endian == big) {
      out->arch = arches[i].arch;
      out->machine_name = arches[i].name;
      break;
    }
    if (out->machine_name == NULL)
      out->machine_name = arches[i].name;
  }
  return 0;
}

#define PT_INTERP_TYPE 3
/* The kernel's bounds on PT_INTERP's size (fs/binfmt_elf.c): a NUL-terminated path of at most
 * PATH_MAX bytes. */
#define INTERP_MIN 2
#define INTERP_MAX 4096

int bg_elf_interp(const void *buf, size_t len, const char **interp, size_t *n,
                  struct bg_error *err)
{
  const unsigned char *p = buf;
  struct bg_elf_info e;
  unsigned long long phoff, phentsize, phnum, i;
  int big, wide;

  *interp = NULL;
  *n = 0;
  if (bg_elf_identify(buf, len, &e, err) != 0)
    return -1;
  big = e.big_endian;
  wide = e.bits == 64;
  phoff = get(p + (wide ? 32 : 28), wide ? 8 : 4, big);
  phentsize = get(p + (wide ? 54 : 42), 2, big);
  phnum = get(p + (wide ? 56 : 44), 2, big);
  if (phnum == 0)
    return 1;
  if (phnum == 0xffff)
    return bg_error_set(err, BG_EINVAL, "ELF: program header count in a section header "
                        "(PN_XNUM), which no executable needs");
  if (phentsize < (wide ? 56u : 32u))
    return bg_error_set(err, BG_EINVAL, "ELF: program headers of %llu bytes, less than the %u "
                        "its class needs", phentsize, wide ? 56u : 32u);
  /* phnum and phentsize are at most 0xffff: their product cannot overflow */
  if (phoff > len || phnum * phentsize > len - phoff)
    return bg_error_set(err, BG_EINVAL, "ELF: program headers beyond the first %zu bytes", len);
  for (i = 0; i < phnum; i++) {
    const unsigned char *ph = p + phoff + i * phentsize;
    unsigned long long off, size;

    if (get(ph, 4, big) != PT_INTERP_TYPE)
      continue;
    off = get(ph + (wide ? 8 : 4), wide ? 8 : 4, big);
    size = get(ph + (wide ? 32 : 16), wide ? 8 : 4, big);
    if (size < INTERP_MIN || size > INTERP_MAX)
      return bg_error_set(err, BG_EINVAL, "ELF: an interpreter of %llu bytes (the kernel takes "
                          "%d..%d)", size, INTERP_MIN, INTERP_MAX);
    if (off > len || size > len - off)
      return bg_error_set(err, BG_EINVAL, "ELF: the interpreter's name lies beyond the first %zu "
                          "bytes", len);
    if (p[off + size - 1] != '\0')
      return bg_error_set(err, BG_EINVAL, "ELF: the interpreter's name does not end in NUL");
    if (p[off] == '\0')
      return bg_error_set(err, BG_EINVAL, "ELF: an empty interpreter name");
    *interp = (const char *)p + off;
    *n = strlen(*interp);
    return 0;
  }
  return 1;
}
