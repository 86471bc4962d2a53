/* Whole directories: the blocks of a new one (linear, or hash-indexed like the kernel's) and the
 * most blocks they can take (for the sizing model). */
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2_err.h>

#include "ext4_internal.h"

/* ---- building a whole directory ---- */

int bg_ext4_dot_entry(const struct ext2_dir_entry *d)
{
  int nl = ext2fs_dirent_name_len(d);

  if (nl == 1 && d->name[0] == '.')
    return 1;
  return nl == 2 && d->name[0] == '.' && d->name[1] == '.' ? 2 : 0;
}

uint32_t bg_ext4_rec_len(uint32_t len)
{
  return (8 + len + 3) & ~3u;
}

static void put_dirent(ext2_filsys fs, unsigned char *at, uint32_t ino, const char *name,
                       uint32_t len, uint8_t ftype, uint32_t rec_len)
{
  struct ext2_dir_entry *d = (struct ext2_dir_entry *)at;

  d->inode = ino;
  ext2fs_set_rec_len(fs, rec_len, d);
  ext2fs_dirent_set_name_len(d, (int)len);
  ext2fs_dirent_set_file_type(d, ftype);
  memcpy(d->name, name, len);
  memset(d->name + len, 0, bg_ext4_rec_len(len) - 8 - len);
}

/* An empty leaf: one unused entry spanning the block, then the checksum tail. */
static void empty_leaf(ext2_filsys fs, unsigned char *blk, uint32_t csum)
{
  put_dirent(fs, blk, 0, "", 0, 0, fs->blocksize - csum);
  if (csum)
    ext2fs_initialize_dirent_tail(fs, (struct ext2_dir_entry_tail *)(blk + fs->blocksize - csum));
}

static int cmp_hash(const void *a, const void *b)
{
  const struct bg_ext4_dentry *x = a, *y = b;
  uint32_t n = x->len < y->len ? x->len : y->len;
  int c;

  if (x->hash != y->hash)
    return x->hash < y->hash ? -1 : 1;
  c = memcmp(x->name, y->name, n);
  if (c != 0)
    return c;
  return x->len < y->len ? -1 : (x->len > y->len);
}

struct leafpack {
  unsigned char *blocks; /* leaves, bs each */
  uint32_t n, alloc;
  uint32_t *hash;        /* first hash of each leaf, low bit set when it continues a run */
};

static int pack_leaves(ext2_filsys fs, struct bg_ext4_dentry *ents, size_t n, uint32_t csum,
                       struct leafpack *lp, struct bg_error *err)
{
  const uint32_t bs = fs->blocksize, usable = bs - csum;
  uint32_t off = usable, last = 0, rec;
  unsigned char *nb;
  uint32_t *nh;
  size_t i;

  for (i = 0; i < n; i++) {
    rec = bg_ext4_rec_len(ents[i].len);
    if (off + rec > usable) {
      if (lp->n > 0) /* the last entry of a full leaf takes its slack */
        ext2fs_set_rec_len(fs, usable - last,
                           (struct ext2_dir_entry *)(lp->blocks + (size_t)(lp->n - 1) * bs + last));
      if (lp->n == lp->alloc) {
        lp->alloc = lp->alloc ? lp->alloc * 2 : 16;
        nb = realloc(lp->blocks, (size_t)lp->alloc * bs);
        nh = realloc(lp->hash, (size_t)lp->alloc * sizeof(*nh));
        if (nb != NULL)
          lp->blocks = nb;
        if (nh != NULL)
          lp->hash = nh;
        if (nb == NULL || nh == NULL)
          return bg_error_set(err, BG_ENOMEM, "out of memory");
      }
      memset(lp->blocks + (size_t)lp->n * bs, 0, bs);
      if (csum)
        ext2fs_initialize_dirent_tail(
            fs, (struct ext2_dir_entry_tail *)(lp->blocks + (size_t)lp->n * bs + usable));
      lp->hash[lp->n] = ents[i].hash | (i > 0 && ents[i - 1].hash == ents[i].hash);
      lp->n++;
      off = 0;
    }
    put_dirent(fs, lp->blocks + (size_t)(lp->n - 1) * bs + off, ents[i].ino, ents[i].name,
               ents[i].len, ents[i].ftype, rec);
    last = off;
    off += rec;
  }
  if (lp->n > 0)
    ext2fs_set_rec_len(fs, usable - last,
                       (struct ext2_dir_entry *)(lp->blocks + (size_t)(lp->n - 1) * bs + last));
  return 0;
}

/* Fills an index block's entries: count/limit in the first slot's hash, then hash/block pairs. */
static void put_index(unsigned char *at, uint32_t limit, const uint32_t *hash, uint32_t first,
                      uint32_t count, uint32_t first_block)
{
  struct ext2_dx_countlimit *cl = (struct ext2_dx_countlimit *)at;
  struct ext2_dx_entry *e = (struct ext2_dx_entry *)at;
  uint32_t i;

  for (i = 0; i < count; i++) {
    e[i].hash = hash[first + i];
    e[i].block = first_block + i;
  }
  cl->limit = (uint16_t)limit;
  cl->count = (uint16_t)count;
}

int bg_ext4_build_dir(ext2_filsys fs, ext2_ino_t ino, ext2_ino_t parent,
                      struct bg_ext4_dentry *ents, size_t n, uint32_t min_blocks,
                      unsigned char **out, uint32_t *nblocks, int *indexed, struct bg_error *err)
{
  const uint32_t bs = fs->blocksize;
  const uint32_t csum = ext2fs_has_feature_metadata_csum(fs->super) ? 12 : 0;
  const uint32_t dxtail = csum ? sizeof(struct ext2_dx_tail) : 0;
  const uint32_t root_limit = (bs - 32 - dxtail) / 8, node_limit = (bs - 8 - dxtail) / 8;
  struct leafpack lp = {NULL, 0, 0, NULL};
  struct ext2_dx_root_info *info;
  unsigned char *blk = NULL;
  uint64_t total = 24;
  uint32_t nodes = 0, nb, i, first, cnt, off, rec;
  int version = fs->super->s_def_hash_version;
  errcode_t rc;
  size_t k;
  int ret = -1;

  *out = NULL;
  *indexed = 0;
  for (k = 0; k < n; k++)
    total += bg_ext4_rec_len(ents[k].len);
  if (total <= bs - csum) { /* one linear block */
    nb = min_blocks > 1 ? min_blocks : 1;
    blk = calloc(nb, bs);
    if (blk == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
    put_dirent(fs, blk, ino, ".", 1, EXT2_FT_DIR, 12);
    off = 12;
    rec = 12;
    put_dirent(fs, blk + off, parent, "..", 2, EXT2_FT_DIR, 12);
    for (k = 0; k < n; k++) {
      off += rec;
      rec = bg_ext4_rec_len(ents[k].len);
      put_dirent(fs, blk + off, ents[k].ino, ents[k].name, ents[k].len, ents[k].ftype, rec);
    }
    ext2fs_set_rec_len(fs, bs - csum - off, (struct ext2_dir_entry *)(blk + off));
    if (csum)
      ext2fs_initialize_dirent_tail(fs, (struct ext2_dir_entry_tail *)(blk + bs - csum));
    for (i = 1; i < nb; i++)
      empty_leaf(fs, blk + (size_t)i * bs, csum);
    goto sums;
  }

  /* a hash tree: entries in hash order across leaves, one or two levels of index above them */
  if ((fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH) && version <= EXT2_HASH_TEA)
    version += 3;
  for (k = 0; k < n; k++) {
    rc = ext2fs_dirhash2(version, ents[k].name, (int)ents[k].len, fs->encoding, 0,
                         fs->super->s_hash_seed, &ents[k].hash, NULL);
    if (rc != 0) {
      bg_ext4_fail(err, rc, "while hashing a name in directory inode %u", ino);
      goto out;
    }
  }
  qsort(ents, n, sizeof(*ents), cmp_hash);
  if (pack_leaves(fs, ents, n, csum, &lp, err) != 0)
    goto out;
  if (lp.n > root_limit) {
    nodes = (lp.n + node_limit - 1) / node_limit;
    if (nodes > root_limit) {
      bg_error_set(err, BG_ETOOBIG, "directory inode %u: %zu entries need more than two index "
                   "levels", ino, n);
      goto out;
    }
  }
  nb = 1 + nodes + lp.n;
  blk = calloc(nb, bs);
  if (blk == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  put_dirent(fs, blk, ino, ".", 1, EXT2_FT_DIR, 12);
  put_dirent(fs, blk + 12, parent, "..", 2, EXT2_FT_DIR, bs - 12);
  info = (struct ext2_dx_root_info *)(blk + 24);
  info->hash_version = (uint8_t)fs->super->s_def_hash_version;
  info->info_length = 8;
  if (nodes == 0) {
    put_index(blk + 32, root_limit, lp.hash, 0, lp.n, 1);
  } else {
    uint32_t *nodehash = malloc(nodes * sizeof(uint32_t));

    if (nodehash == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
    info->indirect_levels = 1;
    for (i = 0; i < nodes; i++)
      nodehash[i] = lp.hash[i * node_limit];
    put_index(blk + 32, root_limit, nodehash, 0, nodes, 1);
    free(nodehash);
    for (i = 0; i < nodes; i++) {
      unsigned char *node = blk + (size_t)(1 + i) * bs;

      first = i * node_limit;
      cnt = lp.n - first < node_limit ? lp.n - first : node_limit;
      put_dirent(fs, node, 0, "", 0, 0, bs);
      put_index(node + 8, node_limit, lp.hash, first, cnt, 1 + nodes + first);
    }
  }
  memcpy(blk + (size_t)(1 + nodes) * bs, lp.blocks, (size_t)lp.n * bs);
  *indexed = 1;
sums:
  for (i = 0; csum && i < nb; i++) {
    rc = ext2fs_dir_block_csum_set(fs, ino, (struct ext2_dir_entry *)(blk + (size_t)i * bs));
    if (rc != 0) {
      bg_ext4_fail(err, rc, "while checksumming directory inode %u", ino);
      goto out;
    }
  }
  *out = blk;
  *nblocks = nb;
  blk = NULL;
  ret = 0;
out:
  free(blk);
  free(lp.blocks);
  free(lp.hash);
  return ret;
}

int bg_ext4_dir_blocks_bound(uint64_t n, uint64_t rec_sum, uint32_t rec_max, uint32_t min_blocks,
                             uint64_t *blocks, const char *what, struct bg_error *err)
{
  /* the writer's images: 4 KiB blocks, metadata_csum (12-byte leaf tails, 8-byte index tails) */
  const uint64_t bs = BG_EXT4_BLOCK_SIZE, usable = bs - 12;
  const uint64_t root_limit = (bs - 32 - 8) / 8, node_limit = (bs - 8 - 8) / 8;
  uint64_t leaves, nodes = 0;

  if (24 + rec_sum <= usable) {
    *blocks = min_blocks > 1 ? min_blocks : 1;
    return 0;
  }
  /* leaves fill in hash order and one closes only when the next entry does not fit, so every
   * leaf but the last holds more than usable - rec_max bytes */
  leaves = (rec_sum + (usable - rec_max) - 1) / (usable - rec_max);
  if (leaves > root_limit)
    nodes = (leaves + node_limit - 1) / node_limit;
  if (nodes > root_limit)
    return bg_error_set(err, BG_ETOOBIG, "%s: %llu entries need more than two index levels",
                        what, (unsigned long long)n);
  *blocks = 1 + nodes + leaves;
  if (*blocks < min_blocks)
    *blocks = min_blocks;
  return 0;
}
