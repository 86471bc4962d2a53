/* The geometry, features and formatting of a new image, the way mkfs.ext4 would lay it out. The
 * writer and the sizing model format through the same code, so both see the same free space. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <ext2fs/ext2_err.h>

#include "ext4_internal.h"
#include "layout.h"
#include "../digest/digest.h"

#define MAX_32 0xffffffffULL

void bg_ext4_opts_init(struct bg_ext4_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->journal = 1;
  o->reserved_permille = 50;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int bg_ext4_parse_uuid(const char *s, unsigned char uuid[16], struct bg_error *err)
{
  size_t i, k = 0;
  int hi, lo;

  if (strlen(s) != 36)
    return bg_error_set(err, BG_EINVAL, "invalid UUID \"%s\"", s);
  for (i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return bg_error_set(err, BG_EINVAL, "invalid UUID \"%s\"", s);
      continue;
    }
    hi = hexval(s[i]);
    lo = hexval(s[i + 1]);
    if (hi < 0 || lo < 0)
      return bg_error_set(err, BG_EINVAL, "invalid UUID \"%s\"", s);
    uuid[k++] = (unsigned char)(hi << 4 | lo);
    i++;
  }
  return 0;
}

uint32_t bg_ext4_inode_ratio(const struct bg_ext4_opts *o, uint64_t size)
{
  if (o->inode_ratio)
    return o->inode_ratio;
  /* mkfs.ext4's "default", "big" and "huge" usage types */
  if (size < (uint64_t)4 << 40)
    return 16384;
  if (size < (uint64_t)16 << 40)
    return 32768;
  return 65536;
}

void bg_ext4_fill_param(struct ext2_super_block *p, const struct bg_ext4_opts *o, uint64_t size,
                        uint64_t inodes)
{
  uint64_t blocks = size / BG_EXT4_BLOCK_SIZE;

  memset(p, 0, sizeof(*p));
  p->s_rev_level = EXT2_DYNAMIC_REV;
  p->s_log_block_size = 2; /* 1024 << 2 */
  p->s_log_cluster_size = 2;
  p->s_inode_size = BG_EXT4_INODE_SIZE;
  p->s_min_extra_isize = BG_EXT4_EXTRA_ISIZE;
  p->s_want_extra_isize = BG_EXT4_EXTRA_ISIZE;
  p->s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
  p->s_log_groups_per_flex = 4;
  p->s_inodes_count = inodes > MAX_32 ? (uint32_t)MAX_32 : (uint32_t)inodes;
  /* the features first: the block count keeps its high 32 bits only with 64bit set */
  p->s_feature_compat = EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_RESIZE_INODE |
                        EXT2_FEATURE_COMPAT_DIR_INDEX;
  p->s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_EXTENTS |
                          EXT4_FEATURE_INCOMPAT_64BIT | EXT4_FEATURE_INCOMPAT_FLEX_BG;
  p->s_feature_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
                           EXT2_FEATURE_RO_COMPAT_LARGE_FILE | EXT4_FEATURE_RO_COMPAT_HUGE_FILE |
                           EXT4_FEATURE_RO_COMPAT_DIR_NLINK |
                           EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |
                           EXT4_FEATURE_RO_COMPAT_METADATA_CSUM;
  if (o->inline_data)
    ext2fs_set_feature_inline_data(p);
  /* the resize inode maps 32-bit block numbers: mkfs.ext4 drops it beyond 2^32 blocks */
  if (blocks > MAX_32)
    ext2fs_clear_feature_resize_inode(p);
  ext2fs_blocks_count_set(p, blocks);
  ext2fs_r_blocks_count_set(p, blocks * o->reserved_permille / 1000);
  p->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
  p->s_errors = EXT2_ERRORS_CONTINUE;
  p->s_max_mnt_count = 0xffff; /* -1: no periodic checks */
}

static void seed_bytes(const char *seed, const char *what, unsigned char out[16])
{
  unsigned char raw[BG_SHA256_LEN];
  char buf[1024];
  struct bg_error e;
  int n;

  n = snprintf(buf, sizeof(buf), "banger-ext4 %s %s", what, seed);
  bg_error_clear(&e);
  if (n < 0 || (size_t)n >= sizeof(buf) ||
      bg_sha256_buf(buf, (size_t)n, raw, &e) != 0) { /* a seed that long: hash it in two steps */
    bg_sha256_buf(seed, strlen(seed), raw, &e);
  }
  memcpy(out, raw, 16);
}

/* The identity of the new filesystem: UUID and hash seed from the seed, else random. */
static int identity(ext2_filsys fs, const struct bg_ext4_opts *o, struct bg_error *err)
{
  unsigned char u[16], h[16];

  if (o->seed != NULL) {
    seed_bytes(o->seed, "uuid", u);
    seed_bytes(o->seed, "hash", h);
  } else if (getrandom(u, sizeof(u), 0) != sizeof(u) || getrandom(h, sizeof(h), 0) != sizeof(h)) {
    return bg_error_errno(err, errno, "cannot get random bytes for the UUID");
  }
  if (o->have_uuid)
    memcpy(u, o->uuid, 16);
  else {
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* a version 4 UUID, as uuidgen makes */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
  }
  memcpy(fs->super->s_uuid, u, 16);
  memcpy(fs->super->s_hash_seed, h, 16);
  return 0;
}

int bg_ext4_format(ext2_filsys fs, const struct bg_ext4_opts *o, time_t now, int probe,
                   struct bg_error *err)
{
  struct ext2fs_journal_params jp;
  ext2_ino_t i;
  dgrp_t g;
  errcode_t rc;

  rc = ext2fs_allocate_tables(fs);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while allocating the inode tables");
  if (!probe && identity(fs, o, err) != 0)
    return -1;
  fs->now = now;
  fs->super->s_mkfs_time = fs->super->s_lastcheck = (uint32_t)now;
  fs->super->s_def_hash_version = EXT2_HASH_HALF_MD4;
  fs->super->s_flags &= ~EXT2_FLAGS_SIGNED_HASH;
  fs->super->s_flags |= EXT2_FLAGS_UNSIGNED_HASH; /* the same hashes on every host */
  fs->super->s_checksum_type = EXT2_CRC32C_CHKSUM;
  fs->super->s_min_extra_isize = BG_EXT4_EXTRA_ISIZE;
  fs->super->s_want_extra_isize = BG_EXT4_EXTRA_ISIZE;
  memset(fs->super->s_volume_name, 0, sizeof(fs->super->s_volume_name));
  if (o->label != NULL)
    memcpy(fs->super->s_volume_name, o->label, strlen(o->label));
  ext2fs_init_csum_seed(fs);
  /* a fresh sparse file reads as zeros: the inode tables need no writing */
  for (g = 0; g < fs->group_desc_count; g++) {
    ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
    ext2fs_group_desc_csum_set(fs, g);
  }
  for (i = 1; i < EXT2_FIRST_INO(fs->super); i++)
    if (i != EXT2_ROOT_INO)
      ext2fs_inode_alloc_stats2(fs, i, +1, 0);
  rc = ext2fs_update_bb_inode(fs, NULL);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing the bad block inode");
  if (ext2fs_has_feature_resize_inode(fs->super)) {
    rc = ext2fs_create_resize_inode(fs);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while reserving blocks for online resize");
  }
  if (o->journal) {
    rc = ext2fs_get_journal_params(&jp, fs);
    if (rc == 0)
      rc = ext2fs_add_journal_inode3(fs, &jp, ~0ULL,
                                     EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while creating the journal");
  }
  return 0;
}

int bg_ext4_probe(const struct bg_ext4_opts *o, uint64_t size, uint64_t inodes,
                  struct bg_ext4_layout *l, struct bg_error *err)
{
  struct ext2_super_block p;
  ext2_filsys fs = NULL;
  blk64_t start, end, last;
  errcode_t rc;

  memset(l, 0, sizeof(*l));
  bg_ext4_init();
  bg_ext4_fill_param(&p, o, size, inodes);
  /* formatted for real, against a device that takes every write and reads back zeros */
  rc = ext2fs_initialize("/dev/zero", EXT2_FLAG_64BITS, &p, unix_io_manager, &fs);
  if (rc == EXT2_ET_TOO_MANY_INODES || rc == EXT2_ET_TOOSMALL)
    return 0; /* no such geometry: the size is too small for the inodes */
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while laying out a %llu-byte image", (unsigned long long)size);
  if (bg_ext4_format(fs, o, 0, 1, err) != 0) {
    ext2fs_free(fs);
    return bg_error_prefix(err, "laying out a %llu-byte image", (unsigned long long)size);
  }
  l->inodes = fs->super->s_inodes_count;
  l->reserved = ext2fs_r_blocks_count(fs->super);
  last = ext2fs_blocks_count(fs->super) - 1;
  start = fs->super->s_first_data_block;
  while (start <= last) {
    if (ext2fs_find_first_zero_block_bitmap2(fs->block_map, start, last, &start) != 0)
      break;
    if (ext2fs_find_first_set_block_bitmap2(fs->block_map, start, last, &end) != 0)
      end = last + 1;
    l->free += end - start;
    l->runs++;
    start = end;
  }
  ext2fs_free(fs);
  return 1;
}
