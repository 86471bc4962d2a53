/* Kernel files from an image: bzImage setup headers, compressed payloads (gzip, zstd, xz,
 * lzma, lz4) and ELF headers. Whatever the bytes, unpacking stays inside its cap, writes what
 * it says it wrote, and only ever calls an x86 ELF with its program headers in place a vmlinux;
 * an ELF's interpreter, when found, is a name inside the bytes, with no NUL in it. */
#include "fuzz.h"

#include "elf/elf.h"
#include "kernel/kernel.h"

#define CAP (4u << 20)

static int count(void *ctx, const void *p, size_t n, struct bg_error *err)
{
  (void)p;
  (void)err;
  *(uint64_t *)ctx += n;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct bg_kernel_info info;
  struct bg_kernel_unpacked u;
  struct bg_elf_info e;
  struct bg_error err;
  uint64_t written = 0;
  const char *interp;
  size_t n;

  bg_error_clear(&err);
  if (bg_elf_identify(data, size, &e, &err) == 0) {
    FUZZ_ASSERT(e.bits == 32 || e.bits == 64);
    FUZZ_ASSERT(e.arch == NULL || e.machine_name != NULL);
  }
  bg_error_clear(&err);
  if (bg_elf_interp(data, size, &interp, &n, &err) == 0) {
    FUZZ_ASSERT(n > 0 && interp >= (const char *)data);
    FUZZ_ASSERT(interp + n < (const char *)data + size && interp[n] == '\0');
    FUZZ_ASSERT(memchr(interp, '\0', n) == NULL);
  }
  bg_error_clear(&err);
  if (bg_kernel_probe(data, size, &info, &err) == 0) {
    FUZZ_ASSERT(info.format >= BG_KERNEL_BZIMAGE && info.format <= BG_KERNEL_COMPRESSED);
    if (info.format == BG_KERNEL_BZIMAGE) {
      FUZZ_ASSERT(info.payload_offset <= size);
      FUZZ_ASSERT(info.payload_size <= size - info.payload_offset);
      FUZZ_ASSERT(strlen(info.version) < BG_KERNEL_VERSION_MAX);
    }
  } else {
    FUZZ_ASSERT(err.msg[0] != '\0');
  }
  bg_error_clear(&err);
  if (bg_kernel_unpack(data, size, CAP, count, &written, &u, &err) == 0) {
    FUZZ_ASSERT(u.size == written && u.size <= CAP);
    FUZZ_ASSERT(u.format == BG_KERNEL_ELF || u.format == BG_KERNEL_ARM64_IMAGE);
    if (u.format == BG_KERNEL_ELF && info.format == BG_KERNEL_BZIMAGE)
      FUZZ_ASSERT(u.elf.machine == BG_EM_X86_64 || u.elf.machine == BG_EM_386);
  } else {
    FUZZ_ASSERT(err.msg[0] != '\0' && written <= CAP);
  }
  return 0;
}
