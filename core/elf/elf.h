/* ELF identification: what machine a binary runs on, read from its header alone. */
#ifndef BG_ELF_H
#define BG_ELF_H

#include <stddef.h>

#include "../util/error.h"

/* e_type values */
#define BG_ELF_REL 1
#define BG_ELF_EXEC 2
#define BG_ELF_DYN 3
#define BG_ELF_CORE 4

/* e_machine values of the architectures below */
#define BG_EM_386 3
#define BG_EM_MIPS 8
#define BG_EM_PPC64 21
#define BG_EM_S390 22
#define BG_EM_ARM 40
#define BG_EM_X86_64 62
#define BG_EM_AARCH64 183
#define BG_EM_RISCV 243
#define BG_EM_LOONGARCH 258

struct bg_elf_info {
  int bits;                 /* 32 or 64 */
  int big_endian;           /* 1 for MSB, 0 for LSB */
  unsigned type;            /* e_type: BG_ELF_EXEC, BG_ELF_DYN, ... */
  unsigned machine;         /* e_machine */
  unsigned long long entry; /* e_entry */
  const char *machine_name; /* "x86-64", "aarch64", ... as file(1) says; NULL when unknown */
  const char *arch;         /* the OCI architecture it runs ("amd64", "arm64"); NULL if none */
};

/* Reads the ELF header at the start of buf (len bytes). Anything but a well-formed header
 * (magic, class, data encoding, version, the header size its class needs) is BG_EINVAL. */
int bg_elf_identify(const void *buf, size_t len, struct bg_elf_info *out, struct bg_error *err);

/* The interpreter (PT_INTERP) of the ELF whose first len bytes are buf: 0 with *interp pointing
 * into buf at its name, *n bytes long (no NUL); 1 when the program headers name none (a static
 * binary). A bad header, program headers or a name outside buf, or a name of a size the kernel
 * refuses (2..4096 bytes with its NUL) or not ending in NUL, is BG_EINVAL. */
int bg_elf_interp(const void *buf, size_t len, const char **interp, size_t *n,
                  struct bg_error *err);

#endif
