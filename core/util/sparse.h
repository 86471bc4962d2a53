/* Reading a regular file as the runs of data and holes it is made of: holes are found with
 * SEEK_DATA/SEEK_HOLE and never read. */
#ifndef BG_SPARSE_H
#define BG_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Whether the n bytes at p are all zeros (n == 0: yes): what becomes a hole. Data is told by
 * its first bytes as a rule; only zeros are read to the end. */
int bg_all_zero(const void *p, size_t n);

/* The next run of data at or after at in fd: [*data, *hole), both at most end; *data is end
 * when only a hole is left before it. A filesystem that cannot tell (EINVAL) has no holes.
 * name is for messages. */
int bg_sparse_next(int fd, const char *name, uint64_t at, uint64_t end, uint64_t *data,
                   uint64_t *hole, struct bg_error *err);

/* What may be read of a file still being written: ready(ctx, at, err) waits until the bytes
 * from at on are final up to the offset it returns (more than at), or returns 0 with err.
 * mapped: the file is the writer's own (no one else truncates it), so its data is read
 * through a mapping, one copy fewer than pread. */
struct bg_sparse_gate {
  uint64_t (*ready)(void *ctx, uint64_t at, struct bg_error *err);
  void *ctx;
  int mapped;
};

/* Every byte of fd from 0 to end, in order, to fn in pieces of at most chunk bytes: data as
 * read (pread, or mapped as the gate says; the file position is put back), holes as zeros
 * from memory. With a gate (NULL:
 * the file is final), nothing is looked at before the gate says it is final. A file that ends
 * before end is an error. fn returns 0, or -1 with err to stop. */
int bg_sparse_walk(int fd, const char *name, uint64_t end, size_t chunk,
                   const struct bg_sparse_gate *gate,
                   int (*fn)(void *ctx, const void *p, size_t n, struct bg_error *err), void *ctx,
                   struct bg_error *err);

#endif
