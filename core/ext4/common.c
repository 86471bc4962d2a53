/* Pieces the writer and the editor share: inode fields, contiguous data runs with holes, symlink
 * targets, device numbers and directory blocks (linear or hash-indexed). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pthread.h>

#include <et/com_err.h>
#include <ext2fs/ext2_err.h>
#include <ext2fs/ext3_extents.h>

#include "ext4_internal.h"

#define CHUNK ((size_t)1 << 20) /* bytes read and written at a time */
#define EXT_MAX_LEN 32768       /* blocks in one initialised extent */

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void load_tables(void)
{
  initialize_ext2_error_table();
}

void bg_ext4_init(void)
{
  pthread_once(&tables_once, load_tables);
}

int bg_ext4_fail(struct bg_error *err, errcode_t rc, const char *fmt, ...)
{
  char ctx[512];
  va_list ap;
  int code = BG_EFS;

  bg_ext4_init();
  va_start(ap, fmt);
  vsnprintf(ctx, sizeof(ctx), fmt, ap);
  va_end(ap);
  if (rc == EXT2_ET_BLOCK_ALLOC_FAIL || rc == EXT2_ET_INODE_ALLOC_FAIL ||
      rc == EXT2_ET_DIR_NO_SPACE || rc == ENOSPC)
    code = BG_ENOSPC;
  return bg_error_set(err, code, "%s: %s", ctx, error_message(rc));
}

void bg_ext4_time_set(uint32_t *lo, uint32_t *extra, const struct bg_time *t)
{
  /* 34 bits of seconds: a signed 32-bit base plus two epoch bits (1901 .. 2446) */
  const int64_t min = -((int64_t)1 << 31), max = ((int64_t)3 << 32) + ((int64_t)1 << 31) - 1;
  int64_t s = t->sec < min ? min : (t->sec > max ? max : t->sec);
  int64_t base = (int64_t)(int32_t)(uint32_t)s;

  *lo = (uint32_t)s;
  *extra = ((t->nsec % 1000000000u) << 2) | (uint32_t)(((s - base) >> 32) & 3);
}

struct bg_time bg_ext4_time_get(uint32_t lo, uint32_t extra, int has_extra)
{
  struct bg_time t;

  t.sec = (int64_t)(int32_t)lo;
  t.nsec = 0;
  if (has_extra) {
    t.sec += (int64_t)(extra & 3) << 32;
    t.nsec = extra >> 2;
  }
  return t;
}

void bg_ext4_set_uid(struct ext2_inode_large *in, uint32_t uid)
{
  in->i_uid = (uint16_t)uid;
  in->osd2.linux2.l_i_uid_high = (uint16_t)(uid >> 16);
}

void bg_ext4_set_gid(struct ext2_inode_large *in, uint32_t gid)
{
  in->i_gid = (uint16_t)gid;
  in->osd2.linux2.l_i_gid_high = (uint16_t)(gid >> 16);
}

void bg_ext4_inode_init(struct ext2_inode_large *in, uint32_t mode, uint32_t uid, uint32_t gid,
                        const struct bg_time *mtime, const struct bg_time *atime,
                        const struct bg_time *ctime)
{
  memset(in, 0, sizeof(*in));
  in->i_mode = (uint16_t)mode;
  bg_ext4_set_uid(in, uid);
  bg_ext4_set_gid(in, gid);
  in->i_extra_isize = BG_EXT4_EXTRA_ISIZE;
  bg_ext4_time_set(&in->i_mtime, &in->i_mtime_extra, mtime);
  bg_ext4_time_set(&in->i_atime, &in->i_atime_extra, atime);
  bg_ext4_time_set(&in->i_ctime, &in->i_ctime_extra, ctime);
  bg_ext4_time_set(&in->i_crtime, &in->i_crtime_extra, ctime);
}

uint8_t bg_ext4_ftype(uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG: return EXT2_FT_REG_FILE;
  case S_IFDIR: return EXT2_FT_DIR;
  case S_IFLNK: return EXT2_FT_SYMLINK;
  case S_IFCHR: return EXT2_FT_CHRDEV;
  case S_IFBLK: return EXT2_FT_BLKDEV;
  case S_IFIFO: return EXT2_FT_FIFO;
  case S_IFSOCK: return EXT2_FT_SOCK;
  }
  return EXT2_FT_UNKNOWN;
}

void bg_ext4_set_rdev(struct ext2_inode_large *in, uint32_t major, uint32_t minor)
{
  if (major < 256 && minor < 256) {
    in->i_block[0] = major << 8 | minor;
    in->i_block[1] = 0;
  } else {
    in->i_block[0] = 0;
    in->i_block[1] = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
  }
}

void bg_ext4_get_rdev(const struct ext2_inode_large *in, uint32_t *major, uint32_t *minor)
{
  uint32_t b0 = in->i_block[0], b1 = in->i_block[1];

  if (b0 != 0) {
    *major = (b0 >> 8) & 0xff;
    *minor = b0 & 0xff;
  } else {
    *major = (b1 & 0xfff00) >> 8;
    *minor = (b1 & 0xff) | ((b1 >> 12) & 0xfff00);
  }
}

int bg_ext4_mem_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                     struct bg_error *err)
{
  struct bg_ext4_memsrc *m = ctx;

  *got = 0;
  if (off >= m->len)
    return 0;
  if (n > m->len - off)
    n = (size_t)(m->len - off);
  memcpy(buf, m->p + off, n);
  *got = n;
  return 0;
}

static int block_is_zero(const unsigned char *p, size_t n)
{
  return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

struct extents {
  struct ext2fs_extent *v;
  size_t n, alloc;
};

static int extents_add(struct extents *x, blk64_t l, blk64_t p, blk64_t len, struct bg_error *err)
{
  struct ext2fs_extent *last = x->n ? &x->v[x->n - 1] : NULL;
  struct ext2fs_extent *nv;
  blk64_t take;

  while (len > 0) {
    if (last != NULL && last->e_lblk + last->e_len == l && last->e_pblk + last->e_len == p &&
        last->e_len < EXT_MAX_LEN) {
      take = EXT_MAX_LEN - last->e_len;
      if (take > len)
        take = len;
      last->e_len += (uint32_t)take;
    } else {
      if (x->n == x->alloc) {
        x->alloc = x->alloc ? x->alloc * 2 : 8;
        nv = realloc(x->v, x->alloc * sizeof(*nv));
        if (nv == NULL)
          return bg_error_set(err, BG_ENOMEM, "out of memory");
        x->v = nv;
      }
      take = len > EXT_MAX_LEN ? EXT_MAX_LEN : len;
      last = &x->v[x->n++];
      memset(last, 0, sizeof(*last));
      last->e_lblk = l;
      last->e_pblk = p;
      last->e_len = (uint32_t)take;
    }
    l += take;
    p += take;
    len -= take;
  }
  return 0;
}

/* Writes the extent list into the inode: in i_block when it fits, else through an extent
 * handle that allocates index blocks as needed. */
static int set_extents(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                       struct extents *x, const char *what, struct bg_error *err)
{
  struct ext3_extent_header *eh = (struct ext3_extent_header *)in->i_block;
  struct ext3_extent *ee = (struct ext3_extent *)(eh + 1);
  ext2_extent_handle_t h = NULL;
  errcode_t rc;
  size_t i;

  memset(in->i_block, 0, sizeof(in->i_block));
  in->i_flags |= EXT4_EXTENTS_FL;
  eh->eh_magic = EXT3_EXT_MAGIC;
  eh->eh_max = (sizeof(in->i_block) - sizeof(*eh)) / sizeof(*ee);
  if (x->n <= eh->eh_max) {
    eh->eh_entries = (uint16_t)x->n;
    for (i = 0; i < x->n; i++) {
      ee[i].ee_block = (uint32_t)x->v[i].e_lblk;
      ee[i].ee_len = (uint16_t)x->v[i].e_len;
      ee[i].ee_start = (uint32_t)x->v[i].e_pblk;
      ee[i].ee_start_hi = (uint16_t)(x->v[i].e_pblk >> 32);
    }
    return 0;
  }
  rc = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)in, &h);
  for (i = 0; rc == 0 && i < x->n; i++)
    rc = ext2fs_extent_insert(h, i ? EXT2_EXTENT_INSERT_AFTER : 0, &x->v[i]);
  if (h != NULL)
    ext2fs_extent_free(h);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while mapping the blocks of %s", what);
  return 0;
}

static int put_data(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in, uint64_t size,
                    bg_ext4_read_fn read, bg_ext4_data_fn next, void *rctx, int holes,
                    blk64_t *goal, const char *what, struct bg_error *err)
{
  const uint64_t bs = fs->blocksize;
  const uint64_t nblocks = (size + bs - 1) / bs;
  struct extents x = {NULL, 0, 0};
  unsigned char *buf = NULL;
  blk64_t pstart = 0, plen = 0, pused = 0, used = 0, lbase, i, j, k, cnt, remain;
  uint64_t off = 0, want, data;
  size_t have, got;
  errcode_t rc;
  int ret = -1;

  if (nblocks > 0) {
    buf = malloc(CHUNK);
    if (buf == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
  }
  while (off < size) {
    /* whole blocks of a hole the source knows of are skipped, not read */
    if (next != NULL) {
      if (next(rctx, off, &data, err) != 0)
        goto out;
      data -= data % bs;
      if (data > off) {
        off = data;
        continue;
      }
    }
    want = size - off < CHUNK ? size - off : CHUNK;
    for (have = 0; have < want; have += got) {
      if (read(rctx, off + have, buf + have, (size_t)(want - have), &got, err) != 0)
        goto out;
      if (got == 0) {
        bg_error_set(err, BG_EIO, "%s: content ended after %llu of %llu bytes", what,
                     (unsigned long long)(off + have), (unsigned long long)size);
        goto out;
      }
    }
    lbase = off / bs;
    cnt = (want + bs - 1) / bs;
    memset(buf + want, 0, (size_t)(cnt * bs - want));
    for (i = 0; i < cnt; i = j) {
      if (holes && block_is_zero(buf + i * bs, (size_t)bs)) {
        j = i + 1;
        continue;
      }
      for (j = i + 1; j < cnt && !(holes && block_is_zero(buf + j * bs, (size_t)bs)); j++)
        ;
      for (k = i; k < j; k += remain) {
        if (pused == plen) {
          remain = nblocks - (lbase + k);
          if (*goal >= ext2fs_blocks_count(fs->super))
            *goal = fs->super->s_first_data_block;
          rc = ext2fs_new_range(fs, EXT2_NEWRANGE_MIN_LENGTH, *goal, remain, NULL, &pstart,
                                &plen);
          if (rc != 0)
            rc = ext2fs_new_range(fs, 0, *goal, remain, NULL, &pstart, &plen);
          if (rc != 0) {
            bg_ext4_fail(err, rc, "while allocating %llu blocks for %s",
                         (unsigned long long)remain, what);
            goto out;
          }
          if (plen > remain)
            plen = remain;
          ext2fs_block_alloc_stats_range(fs, pstart, (blk_t)plen, +1);
          pused = 0;
          *goal = pstart + plen;
        }
        remain = j - k < plen - pused ? j - k : plen - pused;
        rc = io_channel_write_blk64(fs->io, pstart + pused, (int)remain, buf + k * bs);
        if (rc != 0) {
          bg_ext4_fail(err, rc, "while writing the data of %s", what);
          goto out;
        }
        if (extents_add(&x, lbase + k, pstart + pused, remain, err) != 0)
          goto out;
        pused += remain;
        used += remain;
      }
    }
    off += want;
  }
  if (pused < plen) {
    ext2fs_block_alloc_stats_range(fs, pstart + pused, (blk_t)(plen - pused), -1);
    *goal = pstart + pused;
  }
  plen = pused = 0;
  rc = ext2fs_inode_size_set(fs, (struct ext2_inode *)in, size);
  if (rc == 0)
    rc = ext2fs_iblk_add_blocks(fs, (struct ext2_inode *)in, used);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while sizing %s", what);
    goto out;
  }
  if (set_extents(fs, ino, in, &x, what, err) != 0)
    goto out;
  ret = 0;
out:
  if (pused < plen) /* failed half-way: give back what this run did not use */
    ext2fs_block_alloc_stats_range(fs, pstart + pused, (blk_t)(plen - pused), -1);
  free(x.v);
  free(buf);
  return ret;
}

int bg_ext4_put_data(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in, uint64_t size,
                     bg_ext4_read_fn read, void *rctx, int holes, blk64_t *goal, const char *what,
                     struct bg_error *err)
{
  return put_data(fs, ino, in, size, read, NULL, rctx, holes, goal, what, err);
}

int bg_ext4_put_sparse(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                       uint64_t size, bg_ext4_read_fn read, bg_ext4_data_fn next, void *rctx,
                       blk64_t *goal, const char *what, struct bg_error *err)
{
  return put_data(fs, ino, in, size, read, next, rctx, 1, goal, what, err);
}

int bg_ext4_put_symlink(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                        const char *target, blk64_t *goal, const char *what,
                        struct bg_error *err)
{
  size_t len = strlen(target);
  struct bg_ext4_memsrc m;

  if (len == 0 || len >= BG_TREE_PATH_MAX)
    return bg_error_set(err, BG_EINVAL, "%s: symlink target of %zu bytes", what, len);
  if (len < sizeof(in->i_block)) { /* a fast symlink: the target lives in i_block */
    memset(in->i_block, 0, sizeof(in->i_block));
    memcpy(in->i_block, target, len);
    in->i_size = (uint32_t)len;
    return 0;
  }
  m.p = (const unsigned char *)target;
  m.len = len;
  return bg_ext4_put_data(fs, ino, in, len, bg_ext4_mem_read, &m, 0, goal, what, err);
}

/* ---- directories ---- */

static uint32_t rec_len_of(uint32_t namelen)
{
  return (8 + namelen + 3) & ~3u;
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
  memset(d->name + len, 0, rec_len_of(len) - 8 - len);
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
    rec = rec_len_of(ents[i].len);
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
    total += rec_len_of(ents[k].len);
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
      rec = rec_len_of(ents[k].len);
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
