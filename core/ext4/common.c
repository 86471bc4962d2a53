/* Pieces the writer and the editor share: inode fields and times, inode reads and writes, data
 * sources (memory, host files with holes), data runs mapped by extents or by indirect blocks,
 * symlink targets and device numbers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <et/com_err.h>
#include <ext2fs/ext2_err.h>
#include <ext2fs/ext3_extents.h>

#include "ext4_internal.h"
#include "../util/sparse.h"

#define CHUNK BG_EXT4_CHUNK

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

/* ---- times ---- */

/* 34 bits of seconds: a signed 32-bit base plus two epoch bits (1901 .. 2446) */
#define TIME_MIN (-((int64_t)1 << 31))
#define TIME_MAX (((int64_t)3 << 32) + ((int64_t)1 << 31) - 1)
#define SMALL_MAX (((int64_t)1 << 31) - 1)

static int64_t clamp(int64_t s, int64_t lo, int64_t hi)
{
  return s < lo ? lo : (s > hi ? hi : s);
}

int bg_ext4_time_set(uint32_t *lo, uint32_t *extra, const struct bg_time *t)
{
  int64_t s = clamp(t->sec, TIME_MIN, TIME_MAX);
  int64_t base = (int64_t)(int32_t)(uint32_t)s;

  *lo = (uint32_t)s;
  *extra = ((t->nsec % 1000000000u) << 2) | (uint32_t)(((s - base) >> 32) & 3);
  return s != t->sec;
}

int bg_ext4_time_set_small(uint32_t *lo, const struct bg_time *t)
{
  int64_t s = clamp(t->sec, TIME_MIN, SMALL_MAX); /* the kernel's range without extra fields */

  *lo = (uint32_t)s;
  return s != t->sec;
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

int bg_ext4_inode_init(struct ext2_inode_large *in, uint32_t mode, uint32_t uid, uint32_t gid,
                       const struct bg_time *mtime, const struct bg_time *atime,
                       const struct bg_time *ctime, int large)
{
  int c = 0;

  memset(in, 0, sizeof(*in));
  in->i_mode = (uint16_t)mode;
  bg_ext4_set_uid(in, uid);
  bg_ext4_set_gid(in, gid);
  if (large) {
    in->i_extra_isize = BG_EXT4_EXTRA_ISIZE;
    c |= bg_ext4_time_set(&in->i_mtime, &in->i_mtime_extra, mtime) ? BG_EXT4_CLAMPED_MTIME : 0;
    c |= bg_ext4_time_set(&in->i_atime, &in->i_atime_extra, atime) ? BG_EXT4_CLAMPED_ATIME : 0;
    c |= bg_ext4_time_set(&in->i_ctime, &in->i_ctime_extra, ctime) ? BG_EXT4_CLAMPED_CTIME : 0;
    bg_ext4_time_set(&in->i_crtime, &in->i_crtime_extra, ctime);
  } else {
    c |= bg_ext4_time_set_small(&in->i_mtime, mtime) ? BG_EXT4_CLAMPED_MTIME : 0;
    c |= bg_ext4_time_set_small(&in->i_atime, atime) ? BG_EXT4_CLAMPED_ATIME : 0;
    c |= bg_ext4_time_set_small(&in->i_ctime, ctime) ? BG_EXT4_CLAMPED_CTIME : 0;
  }
  return c;
}

/* "mtime 4102444800 stored as 2147483647" */
static int clamp_part(char *buf, size_t size, const char *field, const struct bg_time *t,
                      int large)
{
  return snprintf(buf, size, "%s %lld stored as %lld", field, (long long)t->sec,
                  (long long)clamp(t->sec, TIME_MIN, large ? TIME_MAX : SMALL_MAX));
}

static const char *range_of(int large)
{
  return large ? "ext4 holds 1901..2446" : "128-byte inodes hold 1901..2038";
}

void bg_ext4_note_time(struct bg_notes *notes, const char *path, const char *field,
                       const struct bg_time *t, int large)
{
  char part[128];

  clamp_part(part, sizeof(part), field, t, large);
  bg_notes_add(notes, BG_NOTE_TIME_CLAMPED, 0, path, "%s (%s)", part, range_of(large));
}

void bg_ext4_note_clamped(struct bg_notes *notes, const char *path, int clamped,
                          const struct bg_time *mtime, const struct bg_time *atime,
                          const struct bg_time *ctime, int large)
{
  static const char *const names[] = {"mtime", "atime", "ctime"};
  const struct bg_time *t[3] = {mtime, atime, ctime};
  char detail[400];
  size_t n = 0;
  int i, w;

  detail[0] = '\0';
  for (i = 0; i < 3; i++) {
    if (!(clamped & (1 << i)))
      continue;
    w = clamp_part(detail + n, sizeof(detail) - n, names[i], t[i], large);
    if (w > 0 && (size_t)w < sizeof(detail) - n)
      n += (size_t)w;
    if (n + 2 < sizeof(detail)) {
      memcpy(detail + n, ", ", 3);
      n += 2;
    }
  }
  if (n >= 2)
    detail[n - 2] = '\0';
  bg_notes_add(notes, BG_NOTE_TIME_CLAMPED, 0, path, "%s (%s)", detail, range_of(large));
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

int bg_ext4_write_fresh_inode(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                              const struct bg_ext4_ibody *ib, const char *what,
                              struct bg_error *err)
{
  size_t isz = EXT2_INODE_SIZE(fs->super), at = EXT2_GOOD_OLD_INODE_SIZE + in->i_extra_isize;
  uint64_t stack[128]; /* 1 KiB, aligned for the inode's fields */
  unsigned char *buf = (unsigned char *)stack;
  errcode_t rc;

  if (ib != NULL && ib->len > 0 && (isz <= EXT2_GOOD_OLD_INODE_SIZE || at + ib->len > isz))
    return bg_error_set(err, BG_EINVAL, "inode %u (%s): no room for in-inode xattrs", ino, what);
  if (isz > sizeof(stack)) {
    buf = malloc(isz);
    if (buf == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
  }
  /* the whole on-disk inode: nothing of what was there stays, and nothing is read first */
  memset(buf, 0, isz > sizeof(*in) ? isz : sizeof(*in));
  memcpy(buf, in, isz < sizeof(*in) ? isz : sizeof(*in));
  if (ib != NULL && ib->len > 0)
    memcpy(buf + at, ib->b, ib->len);
  rc = ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)buf, (int)isz);
  if (buf != (unsigned char *)stack)
    free(buf);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing inode %u (%s)", ino, what);
  return 0;
}

/* ---- inodes of an open image ---- */

int bg_ext4_read_inode(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                       const char *path, struct bg_error *err)
{
  errcode_t rc;

  memset(in, 0, sizeof(*in));
  rc = ext2fs_read_inode_full(img->fs, ino, (struct ext2_inode *)in, sizeof(*in));
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reading inode %u of %s", ino, path);
  return 0;
}

int bg_ext4_write_inode(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                        const char *path, struct bg_error *err)
{
  errcode_t rc = ext2fs_write_inode_full(img->fs, ino, (struct ext2_inode *)in, sizeof(*in));

  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing inode %u of %s", ino, path);
  return 0;
}

/* ---- sources ---- */

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

int bg_ext4_host_open(struct bg_ext4_host *h, const char *path, uint64_t *size,
                      struct bg_error *err)
{
  struct stat st;
  int en;

  h->path = path;
  h->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (h->fd < 0 || fstat(h->fd, &st) != 0) {
    en = errno;
    bg_ext4_host_close(h);
    return bg_error_errno(err, en, "cannot use %s", path);
  }
  if (!S_ISREG(st.st_mode)) {
    bg_ext4_host_close(h);
    return bg_error_set(err, BG_EINVAL, "%s: not a regular file", path);
  }
  if (size != NULL)
    *size = (uint64_t)st.st_size;
  return 0;
}

void bg_ext4_host_close(struct bg_ext4_host *h)
{
  if (h->fd >= 0)
    close(h->fd);
  h->fd = -1;
}

int bg_ext4_host_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                      struct bg_error *err)
{
  struct bg_ext4_host *h = ctx;
  ssize_t r;

  do
    r = pread(h->fd, buf, n, (off_t)off);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return bg_error_errno(err, errno, "cannot read %s", h->path);
  *got = (size_t)r;
  return 0;
}

int bg_ext4_host_data(void *ctx, uint64_t off, uint64_t *start, uint64_t *end,
                      struct bg_error *err)
{
  struct bg_ext4_host *h = ctx;

  /* nothing but a hole from off on: both UINT64_MAX */
  return bg_sparse_next(h->fd, h->path, off, UINT64_MAX, start, end, err);
}

int bg_ext4_tree_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                      struct bg_error *err)
{
  struct bg_ext4_treesrc *s = ctx;

  return bg_tree_read(s->tree, s->ti, off, buf, n, got, err);
}

int bg_ext4_tree_copy(void *ctx, uint64_t off, uint64_t n, uint64_t dst, struct bg_error *err)
{
  struct bg_ext4_treesrc *s = ctx;
  struct bg_tree_range r;

  if (bg_tree_spool_range(s->tree, s->ti, off, n, &r, err) != 0)
    return -1;
  return bg_ext4_copier_add(s->copier, &r, n, dst, err);
}

int bg_ext4_tree_data(void *ctx, uint64_t off, uint64_t *start, uint64_t *end,
                      struct bg_error *err)
{
  struct bg_ext4_treesrc *s = ctx;

  if (bg_tree_next_data(s->tree, s->ti, off, start, err) != 0)
    return -1;
  if (*start >= s->ti->size) { /* nothing but a hole from off on */
    *start = *end = UINT64_MAX;
    return 0;
  }
  return bg_tree_next_hole(s->tree, s->ti, *start, end, err);
}

int bg_ext4_extent_count(const struct bg_ext4_src *src, uint64_t size, uint32_t bs,
                         uint64_t *blocks, uint64_t *runs, struct bg_error *err)
{
  uint64_t off = 0, s, e, b0, b1, last = 0;

  *blocks = *runs = 0;
  while (off < size) {
    if (src->data(src->ctx, off, &s, &e, err) != 0)
      return -1;
    if (s >= size)
      break;
    if (e > size || e <= s)
      e = size;
    b0 = s / bs;
    b1 = (e + bs - 1) / bs;
    if (b0 < last)
      b0 = last; /* a block both runs touch is counted once */
    if (b1 > b0)
      *blocks += b1 - b0;
    last = b1;
    (*runs)++;
    off = e;
  }
  return 0;
}

/* ---- data runs ---- */

/* Extents of one file: the first few in place, so that small files allocate nothing. */
struct extents {
  struct ext2fs_extent *v;
  size_t n, alloc;
  struct ext2fs_extent few[8];
};

static int extents_add(struct extents *x, blk64_t l, blk64_t p, blk64_t len, struct bg_error *err)
{
  struct ext2fs_extent *last = x->n ? &x->v[x->n - 1] : NULL;
  struct ext2fs_extent *nv;
  blk64_t take;

  while (len > 0) {
    if (last != NULL && last->e_lblk + last->e_len == l && last->e_pblk + last->e_len == p &&
        last->e_len < BG_EXT4_EXT_MAX_LEN) {
      take = BG_EXT4_EXT_MAX_LEN - last->e_len;
      if (take > len)
        take = len;
      last->e_len += (uint32_t)take;
    } else {
      if (x->n == x->alloc) {
        nv = malloc(2 * x->alloc * sizeof(*nv));
        if (nv == NULL)
          return bg_error_set(err, BG_ENOMEM, "out of memory");
        memcpy(nv, x->v, x->n * sizeof(*nv));
        if (x->v != x->few)
          free(x->v);
        x->v = nv;
        x->alloc *= 2;
      }
      take = len > BG_EXT4_EXT_MAX_LEN ? BG_EXT4_EXT_MAX_LEN : len;
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

uint64_t bg_ext4_extent_index_blocks(uint64_t extents)
{
  uint64_t n = extents, total = 0;

  /* four entries fit in the inode; libext2fs starts each new block of an appended tree with one
   * entry moved from the full one, so a block holds 339 of its 340 */
  while (n > 4) {
    n = (n + 338) / 339 + 1;
    total += n;
  }
  return total;
}

/* How far the block map got, so that a failure can give everything back. */
struct mapped {
  size_t extents; /* whole extents mapped */
  blk64_t blocks; /* blocks of the next one mapped (indirect maps only) */
};

/* Writes the extent list into the inode: in i_block when it fits, else through an extent
 * handle that allocates index blocks as needed. */
static int set_extents(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                       struct extents *x, struct mapped *m, const char *what,
                       struct bg_error *err)
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
    m->extents = x->n;
    return 0;
  }
  rc = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)in, &h);
  for (i = 0; rc == 0 && i < x->n; i++) {
    rc = ext2fs_extent_insert(h, i ? EXT2_EXTENT_INSERT_AFTER : 0, &x->v[i]);
    if (rc == 0)
      m->extents = i + 1;
  }
  if (h != NULL)
    ext2fs_extent_free(h);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while mapping the blocks of %s", what);
  return 0;
}

/* The same map as direct, indirect, double and triple indirect blocks (ext2, ext3 and ext4
 * without the extent feature). */
static int set_indirect(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                        struct extents *x, struct mapped *m, const char *what,
                        struct bg_error *err)
{
  char *buf = malloc(2 * (size_t)fs->blocksize);
  blk64_t pblk, b;
  errcode_t rc = 0;
  size_t i;

  if (buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  memset(in->i_block, 0, sizeof(in->i_block));
  in->i_flags &= ~EXT4_EXTENTS_FL;
  for (i = 0; i < x->n; i++) {
    for (b = 0; b < x->v[i].e_len; b++) {
      pblk = x->v[i].e_pblk + b;
      rc = pblk >> 32 ? EXT2_ET_BLOCK_ALLOC_FAIL /* an indirect map holds 32-bit numbers */
                      : ext2fs_bmap2(fs, ino, (struct ext2_inode *)in, buf,
                                     BMAP_ALLOC | BMAP_SET, x->v[i].e_lblk + b, NULL, &pblk);
      if (rc != 0)
        goto out;
      m->blocks = b + 1;
    }
    m->extents = i + 1;
    m->blocks = 0;
  }
out:
  free(buf);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while mapping the blocks of %s", what);
  return 0;
}

/* After a failure: unmaps what got mapped (freeing index and indirect blocks with it), then
 * frees the data blocks that were allocated but not yet mapped. */
static void give_back(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                      const struct extents *x, const struct mapped *m)
{
  size_t i;

  if (m->extents > 0 || m->blocks > 0)
    ext2fs_punch(fs, ino, (struct ext2_inode *)in, NULL, 0, ~0ULL);
  for (i = m->extents; i < x->n; i++) {
    blk64_t skip = i == m->extents ? m->blocks : 0;

    if (x->v[i].e_len > skip)
      ext2fs_block_alloc_stats_range(fs, x->v[i].e_pblk + skip, (blk_t)(x->v[i].e_len - skip),
                                     -1);
  }
}

int bg_ext4_wbuf_init(struct bg_ext4_wbuf *wb, uint32_t blocks, uint32_t bs, struct bg_error *err)
{
  memset(wb, 0, sizeof(*wb));
  wb->buf = malloc((size_t)blocks * bs);
  if (wb->buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  wb->cap = blocks;
  return 0;
}

int bg_ext4_wbuf_flush(ext2_filsys fs, struct bg_ext4_wbuf *wb, struct bg_error *err)
{
  errcode_t rc;

  if (wb == NULL || wb->n == 0)
    return 0;
  rc = io_channel_write_blk64(fs->io, wb->start, (int)wb->n, wb->buf);
  wb->n = 0;
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing blocks %llu..", (unsigned long long)wb->start);
  return 0;
}

void bg_ext4_wbuf_free(struct bg_ext4_wbuf *wb)
{
  free(wb->buf);
  wb->buf = NULL;
  wb->n = wb->cap = 0;
}

/* Writes count blocks at blk, through the buffer when there is one. */
static int emit(ext2_filsys fs, struct bg_ext4_wbuf *wb, blk64_t blk, blk64_t count,
                const unsigned char *p, struct bg_error *err)
{
  const size_t bs = fs->blocksize;
  blk64_t take;
  errcode_t rc;

  if (wb == NULL) {
    rc = io_channel_write_blk64(fs->io, blk, (int)count, p);
    return rc != 0 ? bg_ext4_fail(err, rc, "while writing block %llu", (unsigned long long)blk)
                   : 0;
  }
  while (count > 0) {
    if (wb->n > 0 && (blk != wb->start + wb->n || wb->n == wb->cap) &&
        bg_ext4_wbuf_flush(fs, wb, err) != 0)
      return -1;
    if (wb->n == 0)
      wb->start = blk;
    take = count < wb->cap - wb->n ? count : wb->cap - wb->n;
    memcpy(wb->buf + (size_t)wb->n * bs, p, (size_t)take * bs);
    wb->n += (uint32_t)take;
    blk += take;
    p += take * bs;
    count -= take;
  }
  return 0;
}

int bg_ext4_put_data(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in, uint64_t size,
                     const struct bg_ext4_src *src, int flags, struct bg_ext4_cursor *at,
                     const char *what, struct bg_error *err)
{
  blk64_t *goal = &at->goal;
  const uint64_t bs = fs->blocksize;
  const uint64_t nblocks = (size + bs - 1) / bs;
  const int holes = flags & BG_EXT4_PUT_HOLES;
  struct extents x;
  struct mapped m = {0, 0};
  unsigned char *buf = NULL;
  blk64_t pstart = 0, plen = 0, pused = 0, used = 0, lbase, i, j, k, cnt, remain, rend;
  uint64_t off = 0, want, dstart, dend = 0;
  size_t have, got;
  errcode_t rc;
  int ret = -1, mapping = 0;
  /* the source writes its runs into the image file itself: nothing is read or checked here */
  const int copying = src->copy != NULL && (flags & BG_EXT4_PUT_HOLES);

  x.v = x.few;
  x.n = 0;
  x.alloc = sizeof(x.few) / sizeof(x.few[0]);
  if (nblocks > 0 && at->scratch != NULL) {
    buf = at->scratch;
  } else if (nblocks > 0 && !copying) {
    buf = malloc(nblocks * bs < CHUNK ? (size_t)(nblocks * bs) : CHUNK);
    if (buf == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
  }
  rend = nblocks;
  while (off < size) {
    if (src->data != NULL && off >= dend) { /* skip a hole without reading it */
      if (src->data(src->ctx, off, &dstart, &dend, err) != 0)
        goto out;
      if (dstart >= size)
        break;
      if (dstart > off)
        off = dstart / bs * bs;
      if (dend > size || dend <= off)
        dend = size;
      dend = (dend + bs - 1) / bs * bs;
      if (dend > size)
        dend = size;
      rend = (dend + bs - 1) / bs;
    }
    want = size - off < CHUNK ? size - off : CHUNK;
    if (src->data != NULL && want > dend - off)
      want = dend - off;
    lbase = off / bs;
    cnt = (want + bs - 1) / bs;
    for (have = copying ? want : 0; have < want; have += got) {
      if (src->read(src->ctx, off + have, buf + have, (size_t)(want - have), &got, err) != 0)
        goto out;
      if (got == 0) {
        bg_error_set(err, BG_EIO, "%s: content ended after %llu of %llu bytes", what,
                     (unsigned long long)(off + have), (unsigned long long)size);
        goto out;
      }
    }
    if (!copying)
      memset(buf + want, 0, (size_t)(cnt * bs - want));
    for (i = 0; i < cnt; i = j) {
      if (!copying && holes && bg_all_zero(buf + i * bs, (size_t)bs)) {
        j = i + 1;
        continue;
      }
      for (j = i + 1;
           j < cnt && (copying || !(holes && bg_all_zero(buf + j * bs, (size_t)bs))); j++)
        ;
      for (k = i; k < j; k += remain) {
        if (pused == plen) {
          remain = rend - (lbase + k); /* the rest of this run of data */
          if (*goal >= ext2fs_blocks_count(fs->super))
            *goal = fs->super->s_first_data_block;
          rc = EXT2_ET_BLOCK_ALLOC_FAIL;
          if (!(flags & BG_EXT4_PUT_SWEEP))
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
        if (copying) {
          /* the last block's tail past the file stays as the fresh image has it: zeros */
          uint64_t from = (lbase + k) * bs, n = remain * bs;

          if (n > size - from)
            n = size - from;
          if (src->copy(src->ctx, from, n, (pstart + pused) * bs, err) != 0) {
            bg_error_prefix(err, "%s", what);
            goto out;
          }
        } else if (emit(fs, at->wb, pstart + pused, remain, buf + k * bs, err) != 0) {
          bg_error_prefix(err, "%s", what);
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
  if (pused < plen) { /* the run was longer than the data: the rest goes to the next file */
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
  mapping = 1;
  if (ext2fs_has_feature_extents(fs->super) ? set_extents(fs, ino, in, &x, &m, what, err) != 0
                                            : set_indirect(fs, ino, in, &x, &m, what, err) != 0)
    goto out;
  ret = 0;
out:
  if (ret != 0) { /* give back everything this call took */
    if (pused < plen)
      ext2fs_block_alloc_stats_range(fs, pstart + pused, (blk_t)(plen - pused), -1);
    if (!mapping)
      m.extents = m.blocks = 0;
    give_back(fs, ino, in, &x, &m);
  }
  if (x.v != x.few)
    free(x.v);
  if (buf != at->scratch)
    free(buf);
  return ret;
}

/* ---- inline data ---- */

#define SYSTEM_INDEX 7 /* "system." in the xattr entry's name index */
#define DATA_ENTRY EXT2_EXT_ATTR_LEN(4) /* the entry of "system.data" */

size_t bg_ext4_inline_room(size_t inode_size, size_t extra_isize)
{
  size_t used = EXT2_GOOD_OLD_INODE_SIZE + extra_isize + 4 + DATA_ENTRY + 4;

  /* the magic, the entry and the end marker must fit; the value takes what is left */
  if (inode_size < used)
    return 0;
  return EXT4_MIN_INLINE_DATA_SIZE + (inode_size - used);
}

size_t bg_ext4_inline_ibody_use(uint64_t size)
{
  return DATA_ENTRY + EXT2_EXT_ATTR_SIZE(size > EXT4_MIN_INLINE_DATA_SIZE
                                              ? size - EXT4_MIN_INLINE_DATA_SIZE
                                              : 0);
}

int bg_ext4_inline_ok(ext2_filsys fs, const struct ext2_inode_large *in, uint64_t size)
{
  const size_t isz = EXT2_INODE_SIZE(fs->super);

  return ext2fs_has_feature_inline_data(fs->super) && size > 0 &&
         isz > EXT2_GOOD_OLD_INODE_SIZE + (size_t)in->i_extra_isize &&
         isz - EXT2_GOOD_OLD_INODE_SIZE - in->i_extra_isize <= BG_EXT4_IBODY_MAX &&
         size <= bg_ext4_inline_room(isz, in->i_extra_isize);
}

int bg_ext4_put_inline(ext2_filsys fs, struct ext2_inode_large *in, uint64_t size,
                       const struct bg_ext4_src *src, struct bg_ext4_ibody *ib, const char *what,
                       struct bg_error *err)
{
  const size_t isz = EXT2_INODE_SIZE(fs->super), room = bg_ext4_inline_room(isz, in->i_extra_isize);
  unsigned char data[BG_EXT4_IBODY_MAX + EXT4_MIN_INLINE_DATA_SIZE];
  struct ext2_ext_attr_entry e;
  const uint32_t magic = EXT2_EXT_ATTR_MAGIC;
  size_t have, got, vlen, store;

  if (size > room || isz - EXT2_GOOD_OLD_INODE_SIZE - in->i_extra_isize > sizeof(ib->b))
    return bg_error_set(err, BG_EINVAL, "%s: %llu bytes do not fit in the inode", what,
                        (unsigned long long)size);
  for (have = 0; have < size; have += got) {
    if (src->read(src->ctx, have, data + have, (size_t)size - have, &got, err) != 0)
      return -1;
    if (got == 0)
      return bg_error_set(err, BG_EIO, "%s: content ended after %zu of %llu bytes", what, have,
                          (unsigned long long)size);
  }
  /* the first 60 bytes in i_block, the rest as the value of "system.data", which an inline
   * inode has even when empty; laid out as libext2fs lays in-inode xattrs out: entries after
   * the magic, values from the end of the space down, no hash */
  memset(in->i_block, 0, sizeof(in->i_block));
  memcpy(in->i_block, data, size < EXT4_MIN_INLINE_DATA_SIZE ? (size_t)size
                                                               : EXT4_MIN_INLINE_DATA_SIZE);
  vlen = size > EXT4_MIN_INLINE_DATA_SIZE ? (size_t)size - EXT4_MIN_INLINE_DATA_SIZE : 0;
  store = isz - EXT2_GOOD_OLD_INODE_SIZE - in->i_extra_isize - 4; /* past the magic */
  ib->len = store + 4;
  memset(ib->b, 0, ib->len);
  memcpy(ib->b, &magic, 4);
  memset(&e, 0, sizeof(e));
  e.e_name_len = 4;
  e.e_name_index = SYSTEM_INDEX;
  e.e_value_size = (uint32_t)vlen;
  e.e_value_offs = (uint16_t)(store - EXT2_EXT_ATTR_SIZE(vlen));
  memcpy(ib->b + 4, &e, sizeof(e));
  memcpy(ib->b + 4 + sizeof(e), "data", 4);
  memcpy(ib->b + 4 + e.e_value_offs, data + EXT4_MIN_INLINE_DATA_SIZE, vlen);
  in->i_flags = (in->i_flags & ~EXT4_EXTENTS_FL) | EXT4_INLINE_DATA_FL;
  in->i_size = (uint32_t)size;
  in->i_size_high = 0;
  return 0;
}

int bg_ext4_put_symlink(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                        const char *target, struct bg_ext4_cursor *at, const char *what,
                        struct bg_error *err)
{
  size_t len = strlen(target);
  struct bg_ext4_memsrc m;
  struct bg_ext4_src src = {bg_ext4_mem_read, NULL, &m, NULL};

  if (len == 0)
    return bg_error_set(err, BG_EINVAL, "%s: empty symlink target", what);
  if (len >= fs->blocksize || len >= BG_TREE_PATH_MAX)
    return bg_error_set(err, BG_EINVAL,
                        "%s: symlink target of %zu bytes; this image holds at most %u", what, len,
                        (fs->blocksize < BG_TREE_PATH_MAX ? fs->blocksize : BG_TREE_PATH_MAX) - 1);
  if (len < sizeof(in->i_block)) { /* a fast symlink: the target lives in i_block */
    memset(in->i_block, 0, sizeof(in->i_block));
    memcpy(in->i_block, target, len);
    in->i_size = (uint32_t)len;
    return 0;
  }
  m.p = (const unsigned char *)target;
  m.len = len;
  return bg_ext4_put_data(fs, ino, in, len, &src, 0, at, what, err);
}
