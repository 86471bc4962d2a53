/* Kernels as distributions ship them in /boot, made ready for a VMM: the x86 bzImage's setup
 * header read with every field bounds-checked, its compressed payload (gzip, zstd, xz, lzma,
 * lz4) decompressed in-process into the vmlinux ELF inside, and arm64's compressed Image
 * unpacked the same way. Kernel files come from an image, so they are untrusted input. */
#ifndef BG_KERNEL_H
#define BG_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "../elf/elf.h"
#include "../util/error.h"

enum bg_kernel_format {
  BG_KERNEL_BZIMAGE = 1, /* x86 boot protocol: setup code, then a compressed vmlinux */
  BG_KERNEL_ELF,         /* an uncompressed vmlinux */
  BG_KERNEL_ARM64_IMAGE, /* arm64's uncompressed Image */
  BG_KERNEL_COMPRESSED,  /* a whole compressed file (arm64's vmlinuz is a gzipped Image) */
};

enum bg_kernel_comp {
  BG_COMP_NONE = 0,
  BG_COMP_GZIP,
  BG_COMP_ZSTD,
  BG_COMP_XZ,
  BG_COMP_LZMA,
  BG_COMP_LZ4,
  BG_COMP_BZIP2, /* recognised, not supported */
  BG_COMP_LZO,   /* recognised, not supported */
};

#define BG_KERNEL_VERSION_MAX 256

struct bg_kernel_info {
  int format;          /* enum bg_kernel_format */
  int compression;     /* enum bg_kernel_comp: of the bzImage payload, or of the whole file */
  unsigned protocol;   /* bzImage: boot protocol version (0x020f is 2.15) */
  size_t payload_offset; /* bzImage: where the compressed vmlinux starts in the file */
  size_t payload_size;
  char version[BG_KERNEL_VERSION_MAX]; /* bzImage: its version string ("6.1.0-18-amd64 (...)") */
};

/* Decompressed bytes go to a sink; a sink that fails records why and returns -1. */
typedef int (*bg_kernel_sink)(void *ctx, const void *p, size_t n, struct bg_error *err);

/* Says what buf is. A bzImage's header fields are checked against the file before use. */
int bg_kernel_probe(const void *buf, size_t len, struct bg_kernel_info *info,
                    struct bg_error *err);

/* The name of a compression ("gzip", ...; "none"). */
const char *bg_kernel_comp_name(int comp);
/* The compression whose magic bytes start buf (BG_COMP_NONE when none does). */
int bg_kernel_comp_detect(const void *buf, size_t len);

/* Decompresses the first stream of src into sink, at most max bytes; what follows the stream
 * (the size word kernel builds append, padding) is ignored. *out_len is the bytes written.
 * Over max is BG_ETOOBIG; a truncated or corrupt stream is BG_EINVAL. */
int bg_kernel_decompress(int comp, const void *src, size_t len, uint64_t max,
                         bg_kernel_sink sink, void *ctx, uint64_t *out_len,
                         struct bg_error *err);

struct bg_kernel_unpacked {
  int format;              /* BG_KERNEL_ELF or BG_KERNEL_ARM64_IMAGE */
  int compression;         /* what it was decompressed from (BG_COMP_NONE: it was not) */
  uint64_t size;
  struct bg_elf_info elf;  /* when format is BG_KERNEL_ELF */
};

/* The uncompressed kernel a VMM boots, into sink: a bzImage's payload, which must be an x86
 * ELF with its program headers inside it; a compressed file's content, which must be an arm64
 * Image or an ELF; an ELF or Image as it is. At most max bytes. */
int bg_kernel_unpack(const void *buf, size_t len, uint64_t max, bg_kernel_sink sink, void *ctx,
                     struct bg_kernel_unpacked *out, struct bg_error *err);

#endif
