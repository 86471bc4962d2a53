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
