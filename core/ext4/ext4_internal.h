/* What the writer and the editor share: inode fields, data layout, directory blocks, errors. */
#ifndef BG_EXT4_INTERNAL_H
#define BG_EXT4_INTERNAL_H

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "ext4.h"

/* Directory blocks and extent headers are built in host order and checksummed in place before a
 * bulk write, which is only right where host order is disk order. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ext4 writer assumes a little-endian host"
#endif

#define BG_EXT4_EXTRA_ISIZE 32 /* i_extra_isize of every inode we write: room for times, crtime */

/* Loads libext2fs's error messages (once). */
void bg_ext4_init(void);

/* Records "context: libext2fs message" (BG_ENOSPC for allocation failures, else BG_EFS). */
int bg_ext4_fail(struct bg_error *err, errcode_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A fresh large inode: type|mode, owner (32-bit ids), times with nanoseconds and epoch bits. */
void bg_ext4_inode_init(struct ext2_inode_large *in, uint32_t mode, uint32_t uid, uint32_t gid,
                        const struct bg_time *mtime, const struct bg_time *atime,
                        const struct bg_time *ctime);
void bg_ext4_time_set(uint32_t *lo, uint32_t *extra, const struct bg_time *t);
struct bg_time bg_ext4_time_get(uint32_t lo, uint32_t extra, int has_extra);
void bg_ext4_set_uid(struct ext2_inode_large *in, uint32_t uid);
void bg_ext4_set_gid(struct ext2_inode_large *in, uint32_t gid);
uint8_t bg_ext4_ftype(uint32_t mode);

/* Reads up to n bytes at off; *got 0 means the end. */
typedef int (*bg_ext4_read_fn)(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                               struct bg_error *err);

/* Lays `size` bytes from read out in one contiguous run starting the search at *goal (all-zero
 * blocks become holes), sets i_size, i_blocks, the extent flag and tree. The inode must not be
 * written yet when it needs more than four extents; it is not written here. *goal moves past the
 * run. what names the file in errors. */
int bg_ext4_put_data(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in, uint64_t size,
                     bg_ext4_read_fn read, void *rctx, int holes, blk64_t *goal, const char *what,
                     struct bg_error *err);

/* The first offset at or after off where a source may hold data (its size when none is left):
 * what comes before is a hole. */
typedef int (*bg_ext4_data_fn)(void *ctx, uint64_t off, uint64_t *data, struct bg_error *err);

/* bg_ext4_put_data (holes on) for a source that knows its holes: they are skipped without
 * being read, so a file's cost is its data, not its size. */
int bg_ext4_put_sparse(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                       uint64_t size, bg_ext4_read_fn read, bg_ext4_data_fn next, void *rctx,
                       blk64_t *goal, const char *what, struct bg_error *err);

/* Stores a symlink target: inline under 60 bytes, else in one block. Sets i_size and blocks. */
int bg_ext4_put_symlink(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                        const char *target, blk64_t *goal, const char *what,
                        struct bg_error *err);

/* Device numbers the way the kernel stores them in i_block. */
void bg_ext4_set_rdev(struct ext2_inode_large *in, uint32_t major, uint32_t minor);
void bg_ext4_get_rdev(const struct ext2_inode_large *in, uint32_t *major, uint32_t *minor);

struct bg_ext4_dentry {
  const char *name;
  uint32_t len;
  uint32_t ino;
  uint8_t ftype;
  uint32_t hash; /* filled by the builder */
};

/* Builds the blocks of a new directory holding ents (sorted or not): one linear block when
 * everything fits, else a hash tree like the kernel's. At least min_blocks blocks. Checksums are
 * set. *out is malloc'ed, *nblocks long; *indexed says whether EXT2_INDEX_FL belongs on it. */
int bg_ext4_build_dir(ext2_filsys fs, ext2_ino_t ino, ext2_ino_t parent,
                      struct bg_ext4_dentry *ents, size_t n, uint32_t min_blocks,
                      unsigned char **out, uint32_t *nblocks, int *indexed, struct bg_error *err);

/* Memory source for bg_ext4_put_data. */
struct bg_ext4_memsrc {
  const unsigned char *p;
  uint64_t len;
};
int bg_ext4_mem_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                     struct bg_error *err);

#endif
