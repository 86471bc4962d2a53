/* Copying a range of one file into another without passing it through memory where the kernel
 * can (copy_file_range), through a buffer where it cannot. */
#ifndef BG_COPY_H
#define BG_COPY_H

#include <stdatomic.h>
#include <stdint.h>

#include "error.h"

/* Copies n bytes of in from src to out at dst. *no_range (shared by the copies between the same
 * two filesystems) is set once copy_file_range refuses them, and read first: the same answer
 * comes every time. from names the source in messages ("the spool file in /tmp"); a source
 * that ends early is BG_EIO. */
int bg_copy_range(int in, uint64_t src, int out, uint64_t dst, uint64_t n, atomic_int *no_range,
                  const char *from, struct bg_error *err);

#endif
