/* The writer's inodes, gathered in runs of whole inode table blocks and written with one write
 * per run. libext2fs writes an inode by reading its table block and writing the block back, one
 * block at a time through a cache of eight: for a fresh image that is a read of a hole and a
 * write of a block for every sixteen inodes, most of the time of a tree of many small files.
 *
 * A run goes to the file past libext2fs's block cache, which would keep a copy of a block it
 * had read before as it was (it drops only the dirty ones). So libext2fs must never read a block
 * a run writes: while the writer works, its hooks answer libext2fs's reads of the writer's own
 * inodes (the generation the checksums of directory and extent blocks take) from the run or
 * as the zeros they are, and drop its writes of the inode being built (the writer writes it
 * whole after). A block that holds an inode libext2fs itself wrote is left to libext2fs. */
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2_err.h>

#include "ext4_internal.h"

int bg_ext4_itable_init(struct bg_ext4_itable *t, ext2_filsys fs, uint32_t blocks,
                        struct bg_error *err)
{
  memset(t, 0, sizeof(*t));
  t->fs = fs;
  t->cap = blocks;
  t->outside = EXT2_FIRST_INO(fs->super) - 1; /* the reserved inodes format wrote */
  t->buf = malloc((size_t)blocks * fs->blocksize);
  if (t->buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  return 0;
}

void bg_ext4_itable_free(struct bg_ext4_itable *t)
{
  free(t->buf);
  t->buf = NULL;
  t->n = 0;
}

int bg_ext4_itable_flush(struct bg_ext4_itable *t, struct bg_error *err)
{
  errcode_t rc;

  if (t->n == 0)
    return 0;
  rc = io_channel_write_blk64(t->fs->io, t->start, (int)t->n, t->buf);
  t->n = 0;
  ext2fs_flush_icache(t->fs);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing inode table blocks %llu..",
                        (unsigned long long)t->start);
  return 0;
}

void bg_ext4_itable_outside(struct bg_ext4_itable *t, ext2_ino_t ino)
{
  if (ino > t->outside)
    t->outside = ino;
  t->building = 0;
}

/* Where an inode lives: its table block, and its byte offset in that block. */
static int locate(ext2_filsys fs, ext2_ino_t ino, blk64_t *blk, size_t *off)
{
  const uint32_t ipg = EXT2_INODES_PER_GROUP(fs->super);
  const uint64_t at = (uint64_t)((ino - 1) % ipg) * EXT2_INODE_SIZE(fs->super);
  blk64_t table;

  if (ino == 0 || ino > fs->super->s_inodes_count)
    return -1;
  table = ext2fs_inode_table_loc(fs, (ino - 1) / ipg);
  if (table == 0)
    return -1;
  *blk = table + at / fs->blocksize;
  *off = (size_t)(at % fs->blocksize);
  return 0;
}

/* The run's copy of the inode, or NULL. */
static unsigned char *in_run(struct bg_ext4_itable *t, ext2_ino_t ino)
{
  blk64_t blk;
  size_t off;

  if (t->n == 0 || locate(t->fs, ino, &blk, &off) != 0 || blk < t->start ||
      blk >= t->start + t->n)
    return NULL;
  return t->buf + (size_t)(blk - t->start) * t->fs->blocksize + off;
}

static struct bg_ext4_itable *itable_of(ext2_filsys fs)
{
  struct bg_ext4 *img = fs->priv_data;

  return img != NULL ? img->itable : NULL;
}

static errcode_t hook_read(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode)
{
  struct bg_ext4_itable *t = itable_of(fs);
  unsigned char *p;

  if (t == NULL || ino <= t->outside)
    return EXT2_ET_CALLBACK_NOTHANDLED;
  p = in_run(t, ino);
  if (p != NULL) {
    memcpy(inode, p, sizeof(*inode));
    return 0;
  }
  if (ino > t->last) { /* not written yet: the fresh table's zeros */
    memset(inode, 0, sizeof(*inode));
    return 0;
  }
  return EXT2_ET_CALLBACK_NOTHANDLED;
}

static errcode_t hook_write(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode)
{
  struct bg_ext4_itable *t = itable_of(fs);

  if (t != NULL && t->building != 0 && ino == t->building)
    return 0; /* the writer puts the whole inode in the run once it is done */
  return EXT2_ET_CALLBACK_NOTHANDLED;
}

void bg_ext4_itable_hook(struct bg_ext4 *img, struct bg_ext4_itable *t)
{
  img->itable = t;
  img->fs->read_inode = t != NULL ? hook_read : NULL;
  img->fs->write_inode = t != NULL ? hook_write : NULL;
}

void bg_ext4_itable_building(struct bg_ext4_itable *t, ext2_ino_t ino)
{
  t->building = ino > t->outside ? ino : 0;
}

int bg_ext4_itable_put(struct bg_ext4_itable *t, ext2_ino_t ino, struct ext2_inode_large *in,
                       const struct bg_ext4_ibody *ib, const char *what, struct bg_error *err)
{
  ext2_filsys fs = t->fs;
  const size_t isz = EXT2_INODE_SIZE(fs->super), bs = fs->blocksize;
  const size_t at = EXT2_GOOD_OLD_INODE_SIZE + in->i_extra_isize;
  blk64_t blk;
  size_t off;
  unsigned char *slot;
  errcode_t rc;

  t->building = 0;
  if (ino > t->last)
    t->last = ino;
  if (locate(fs, ino, &blk, &off) != 0)
    return bg_ext4_fail(err, EXT2_ET_BAD_INODE_NUM, "while writing inode %u (%s)", ino, what);
  /* a block libext2fs wrote an inode of is its to write */
  if (ino - (ext2_ino_t)(off / isz) <= t->outside)
    return bg_ext4_write_fresh_inode(fs, ino, in, ib, what, err);
  if (ib != NULL && ib->len > 0 && (isz <= EXT2_GOOD_OLD_INODE_SIZE || at + ib->len > isz))
    return bg_error_set(err, BG_EINVAL, "inode %u (%s): no room for in-inode xattrs", ino, what);
  if (t->n == 0 || blk < t->start || blk >= t->start + t->n) {
    if (t->n > 0 && blk == t->start + t->n && t->n < t->cap) {
      t->n++;
    } else {
      if (bg_ext4_itable_flush(t, err) != 0)
        return -1;
      t->start = blk;
      t->n = 1;
    }
    memset(t->buf + (size_t)(t->n - 1) * bs, 0, bs); /* a fresh block: nobody wrote it */
  }
  slot = t->buf + (size_t)(blk - t->start) * bs + off;
  /* the whole on-disk inode, as bg_ext4_write_fresh_inode writes it */
  memset(slot, 0, isz);
  memcpy(slot, in, isz < sizeof(*in) ? isz : sizeof(*in));
  if (ib != NULL && ib->len > 0)
    memcpy(slot + at, ib->b, ib->len);
  rc = ext2fs_inode_csum_set(fs, ino, (struct ext2_inode_large *)slot);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing inode %u (%s)", ino, what);
  return 0;
}
