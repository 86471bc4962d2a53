/* ELF identification: machine, class and byte order to OCI architecture, and bad headers. */
#include "harness.h"

#include "elf/elf.h"

/* A minimal ELF header: class 1/2, data 1/2, e_type, e_machine. */
static size_t header(unsigned char *h, int bits, int big, unsigned type, unsigned machine)
{
  size_t n = bits == 64 ? 64 : 52;

  memset(h, 0, 64);
  memcpy(h, "\177ELF", 4);
  h[4] = bits == 64 ? 2 : 1;
  h[5] = big ? 2 : 1;
  h[6] = 1;
  h[big ? 17 : 16] = (unsigned char)type;
  h[big ? 19 : 18] = (unsigned char)(machine & 0xff);
  h[big ? 18 : 19] = (unsigned char)(machine >> 8);
  h[big ? 23 : 20] = 1; /* e_version */
  h[big ? (bits == 64 ? 31 : 27) : 24] = 0x10; /* e_entry */
  return n;
}

static void check_arch(int bits, int big, unsigned machine, const char *arch, const char *name)
{
  unsigned char h[64];
  struct bg_elf_info e;
  struct bg_error err;
  size_t n = header(h, bits, big, BG_ELF_EXEC, machine);

  bg_error_clear(&err);
  CHECK_INT(bg_elf_identify(h, n, &e, &err), 0);
  CHECK_INT(e.bits, bits);
  CHECK_INT(e.big_endian, big);
  CHECK_INT(e.machine, machine);
  CHECK_INT(e.type, BG_ELF_EXEC);
  CHECK_INT(e.entry, 0x10);
  if (arch == NULL)
    CHECK(e.arch == NULL);
  else
    CHECK_STR(e.arch, arch);
  if (name == NULL)
    CHECK(e.machine_name == NULL);
  else
    CHECK_STR(e.machine_name, name);
}

BG_TEST(architectures)
{
  check_arch(64, 0, BG_EM_X86_64, "amd64", "x86-64");
  check_arch(64, 0, BG_EM_AARCH64, "arm64", "aarch64");
  check_arch(32, 0, BG_EM_386, "386", "i386");
  check_arch(32, 0, BG_EM_ARM, "arm", "arm");
  check_arch(64, 0, BG_EM_RISCV, "riscv64", "riscv64");
  check_arch(64, 0, BG_EM_PPC64, "ppc64le", "ppc64le");
  check_arch(64, 1, BG_EM_PPC64, "ppc64", "ppc64");
  check_arch(64, 1, BG_EM_S390, "s390x", "s390x");
  check_arch(64, 0, BG_EM_LOONGARCH, "loong64", "loongarch64");
}

BG_TEST(class_or_order_mismatch_has_no_arch)
{
  /* a 32-bit AArch64 header runs on nothing the table knows; its name still says what it is */
  check_arch(32, 0, BG_EM_AARCH64, NULL, "aarch64");
  check_arch(64, 1, BG_EM_X86_64, NULL, "x86-64");
  check_arch(64, 0, 0x1234, NULL, NULL);
}

BG_TEST(bad_headers)
{
  unsigned char h[64];
  struct bg_elf_info e;
  struct bg_error err;
  size_t n = header(h, 64, 0, BG_ELF_DYN, BG_EM_X86_64);

  bg_error_clear(&err);
  CHECK_INT(bg_elf_identify(h, n - 1, &e, &err), -1);
  CHECK_INT(err.code, BG_EINVAL);
  CHECK_CONTAINS(err.msg, "truncated ELF header: 63 of 64 bytes");
  bg_error_clear(&err);
  CHECK_INT(bg_elf_identify("#!/bin/sh\n", 10, &e, &err), -1);
  CHECK_CONTAINS(err.msg, "not an ELF file (no ELF magic)");
  h[4] = 3;
  bg_error_clear(&err);
  CHECK_INT(bg_elf_identify(h, n, &e, &err), -1);
  CHECK_CONTAINS(err.msg, "class 3");
  h[4] = 2;
  h[5] = 0;
  bg_error_clear(&err);
  CHECK_INT(bg_elf_identify(h, n, &e, &err), -1);
  CHECK_CONTAINS(err.msg, "data encoding 0");
  h[5] = 1;
  h[20] = 2;
  bg_error_clear(&err);
  CHECK_INT(bg_elf_identify(h, n, &e, &err), -1);
  CHECK_CONTAINS(err.msg, "e_version is not 1");
  h[20] = 1;
  bg_error_clear(&err);
  CHECK_INT(bg_elf_identify(h, n, &e, &err), 0);
  CHECK_INT(e.type, BG_ELF_DYN);
}
