/* A new image's geometry and formatting, shared by the writer and the sizing model. */
#ifndef BG_EXT4_LAYOUT_H
#define BG_EXT4_LAYOUT_H

#include <time.h>

#include "ext4_internal.h"

/* Bytes per inode when opts give neither a count nor a ratio: mkfs.ext4's for that size. */
uint32_t bg_ext4_inode_ratio(const struct bg_ext4_opts *o, uint64_t size);

/* The superblock parameters for ext2fs_initialize: features as mkfs.ext4 picks them for ext4,
 * 4 KiB blocks, 256-byte inodes; no resize inode beyond 2^32 blocks. */
void bg_ext4_fill_param(struct ext2_super_block *p, const struct bg_ext4_opts *o, uint64_t size,
                        uint64_t inodes);

/* Everything a new image holds before the first file: tables, identity (unless probe),
 * reserved inodes, the resize inode, the journal. */
int bg_ext4_format(ext2_filsys fs, const struct bg_ext4_opts *o, time_t now, int probe,
                   struct bg_error *err);

/* A formatted image as the writer finds it. */
struct bg_ext4_layout {
  uint64_t free;     /* blocks free for the tree */
  uint64_t reserved; /* blocks reserved for root (free ones are counted in free too) */
  uint64_t inodes;   /* inode count */
  uint64_t runs;     /* runs of free blocks: each can end one extent early */
};

/* Formats a size-byte image with `inodes` inodes in memory only: 1 with *l filled, 0 when no
 * such image exists (too many inodes for the size), -1 on error. */
int bg_ext4_probe(const struct bg_ext4_opts *o, uint64_t size, uint64_t inodes,
                  struct bg_ext4_layout *l, struct bg_error *err);

#endif
