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

/* An ELF64 (or ELF32) little-endian executable: the header, one PT_LOAD and, when interp is
 * given, a PT_INTERP whose string follows the program headers. Returns its length. */
static size_t with_interp(unsigned char *buf, int bits, const char *interp, size_t strsize)
{
  size_t eh = bits == 64 ? 64 : 52, ph = bits == 64 ? 56 : 32;
  unsigned phnum = interp ? 2 : 1;
  size_t off = eh + phnum * ph, i;
  unsigned char *p;

  memset(buf, 0, 512);
  header(buf, bits, 0, BG_ELF_EXEC, bits == 64 ? BG_EM_X86_64 : BG_EM_386);
  /* e_phoff, e_phentsize, e_phnum */
  buf[bits == 64 ? 32 : 28] = (unsigned char)eh;
  buf[bits == 64 ? 54 : 42] = (unsigned char)ph;
  buf[bits == 64 ? 56 : 44] = (unsigned char)phnum;
  p = buf + eh;
  p[0] = 1; /* PT_LOAD */
  if (!interp)
    return off;
  p += ph;
  p[0] = 3; /* PT_INTERP */
  for (i = 0; i < (bits == 64 ? 8u : 4u); i++) {
    p[(bits == 64 ? 8 : 4) + i] = (unsigned char)(off >> (8 * i));
    p[(bits == 64 ? 32 : 16) + i] = (unsigned char)(strsize >> (8 * i));
  }
  memcpy(buf + off, interp, strlen(interp) + 1);
  return off + strlen(interp) + 1;
}

static void interp_fails(const unsigned char *buf, size_t len, const char *msg)
{
  const char *s;
  size_t n;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_elf_interp(buf, len, &s, &n, &err), -1);
  CHECK_INT(err.code, BG_EINVAL);
  CHECK_CONTAINS(err.msg, msg);
  CHECK(s == NULL);
}

BG_TEST(interpreter)
{
  static const char loader[] = "/lib64/ld-linux-x86-64.so.2";
  unsigned char buf[512];
  const char *s;
  size_t len, n;
  struct bg_error err;

  bg_error_clear(&err);
  /* a dynamic executable, 64 and 32 bits */
  len = with_interp(buf, 64, loader, sizeof(loader));
  CHECK_INT(bg_elf_interp(buf, len, &s, &n, &err), 0);
  CHECK_INT(n, strlen(loader));
  CHECK(memcmp(s, loader, n) == 0);
  len = with_interp(buf, 32, "/lib/ld-linux.so.2", 19);
  CHECK_INT(bg_elf_interp(buf, len, &s, &n, &err), 0);
  CHECK_INT(n, 18);
  CHECK(memcmp(s, "/lib/ld-linux.so.2", n) == 0);
  /* a static one: program headers, none of them PT_INTERP; or none at all */
  len = with_interp(buf, 64, NULL, 0);
  CHECK_INT(bg_elf_interp(buf, len, &s, &n, &err), 1);
  CHECK(s == NULL);
  buf[56] = 0;
  CHECK_INT(bg_elf_interp(buf, 64, &s, &n, &err), 1);

  /* hostile headers: tables and strings beyond the bytes read, sizes the kernel refuses */
  len = with_interp(buf, 64, loader, sizeof(loader));
  interp_fails(buf, 100, "program headers beyond the first 100 bytes");
  interp_fails(buf, len - 1, "the interpreter's name lies beyond");
  len = with_interp(buf, 64, loader, sizeof(loader) - 1);
  interp_fails(buf, len, "does not end in NUL");
  len = with_interp(buf, 64, loader, 1);
  interp_fails(buf, len, "an interpreter of 1 bytes");
  len = with_interp(buf, 64, loader, 5000);
  interp_fails(buf, len, "an interpreter of 5000 bytes");
  len = with_interp(buf, 64, "", 2);
  buf[len] = 0;
  interp_fails(buf, len + 1, "an empty interpreter name");
  len = with_interp(buf, 64, loader, sizeof(loader));
  buf[54] = 20;
  interp_fails(buf, len, "program headers of 20 bytes");
  len = with_interp(buf, 64, loader, sizeof(loader));
  buf[56] = 0xff;
  buf[57] = 0xff;
  interp_fails(buf, len, "PN_XNUM");
  len = with_interp(buf, 64, loader, sizeof(loader));
  memset(buf + 32, 0xff, 8); /* e_phoff far past the end, no overflow */
  interp_fails(buf, len, "program headers beyond");
  interp_fails(buf, 10, "no ELF magic");
}
