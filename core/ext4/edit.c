/* The editor: debugfs-style primitives on an existing image, with chroot-style path resolution
 * so that nothing in the image can send a lookup or a write outside it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ext4_internal.h"

#define MAX_READ_DEFAULT ((uint64_t)64 << 20) /* read() without a cap stops here */

struct bg_ext4 {
  ext2_filsys fs;
  int writable;
};

static time_t img_now(struct bg_ext4 *img)
{
  return img->fs->now ? img->fs->now : time(NULL);
}

struct bg_ext4 *bg_ext4_open(const char *path, int flags, struct bg_error *err)
{
  int f = EXT2_FLAG_64BITS | ((flags & BG_EXT4_WRITE) ? EXT2_FLAG_RW : 0);
  struct bg_ext4 *img;
  ext2_filsys fs = NULL;
  errcode_t rc;

  bg_ext4_init();
  rc = ext2fs_open2(path, NULL, f, 0, 0, unix_io_manager, &fs);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "cannot open %s", path);
    return NULL;
  }
  if ((flags & BG_EXT4_WRITE) && ext2fs_has_feature_journal_needs_recovery(fs->super)) {
    ext2fs_close_free(&fs);
    bg_error_set(err, BG_EFS, "cannot open %s for writing: its journal needs recovery", path);
    return NULL;
  }
  rc = ext2fs_read_bitmaps(fs);
  if (rc != 0) {
    ext2fs_close_free(&fs);
    bg_ext4_fail(err, rc, "while reading the bitmaps of %s", path);
    return NULL;
  }
  img = calloc(1, sizeof(*img));
  if (img == NULL) {
    ext2fs_close_free(&fs);
    bg_error_set(err, BG_ENOMEM, "out of memory");
    return NULL;
  }
  img->fs = fs;
  img->writable = (flags & BG_EXT4_WRITE) != 0;
  return img;
}

int bg_ext4_close(struct bg_ext4 *img, struct bg_error *err)
{
  errcode_t rc;

  if (img == NULL)
    return 0;
  rc = ext2fs_close_free(&img->fs);
  free(img);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing the image back");
  return 0;
}

void bg_ext4_set_time(struct bg_ext4 *img, int64_t now)
{
  img->fs->now = (time_t)now;
}

/* ---- inodes ---- */

static int read_inode(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                      const char *path, struct bg_error *err)
{
  errcode_t rc;

  memset(in, 0, sizeof(*in));
  rc = ext2fs_read_inode_full(img->fs, ino, (struct ext2_inode *)in, sizeof(*in));
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reading inode %u of %s", ino, path);
  return 0;
}

static int write_inode(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                       const char *path, struct bg_error *err)
{
  errcode_t rc = ext2fs_write_inode_full(img->fs, ino, (struct ext2_inode *)in, sizeof(*in));

  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing inode %u of %s", ino, path);
  return 0;
}

static int has_extra(const struct ext2_inode_large *in, size_t field_end)
{
  return (size_t)EXT2_GOOD_OLD_INODE_SIZE + in->i_extra_isize >= field_end;
}

#define HAS_EXTRA(in, field)                                                                       \
  has_extra(in, offsetof(struct ext2_inode_large, field) + sizeof((in)->field))

/* A symlink's target: in i_block, inline data, or a data block. */
static int link_target(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                       char *buf, size_t size, const char *path, struct bg_error *err)
{
  uint64_t len = EXT2_I_SIZE(in);
  ext2_file_t f = NULL;
  unsigned int got = 0;
  size_t isz = 0;
  errcode_t rc;

  if (len == 0 || len >= size || len >= BG_TREE_PATH_MAX)
    return bg_error_set(err, BG_EFS, "%s: symlink target of %llu bytes", path,
                        (unsigned long long)len);
  if (in->i_flags & EXT4_INLINE_DATA_FL) {
    char tmp[BG_TREE_PATH_MAX + 64];

    rc = ext2fs_inline_data_size(img->fs, ino, &isz);
    if (rc == 0 && isz > sizeof(tmp))
      rc = EXT2_ET_INLINE_DATA_NO_SPACE;
    if (rc == 0)
      rc = ext2fs_inline_data_get(img->fs, ino, (struct ext2_inode *)in, tmp, &isz);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while reading the symlink %s", path);
    memcpy(buf, tmp, (size_t)len);
  } else if (ext2fs_is_fast_symlink((struct ext2_inode *)in)) {
    memcpy(buf, in->i_block, (size_t)len);
  } else {
    rc = ext2fs_file_open2(img->fs, ino, (struct ext2_inode *)in, 0, &f);
    if (rc == 0)
      rc = ext2fs_file_read(f, buf, (unsigned int)len, &got);
    if (f != NULL)
      ext2fs_file_close(f);
    if (rc == 0 && got != len)
      rc = EXT2_ET_SHORT_READ;
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while reading the symlink %s", path);
  }
  buf[len] = '\0';
  if (memchr(buf, '\0', (size_t)len) != NULL)
    return bg_error_set(err, BG_EFS, "%s: symlink target holds a NUL byte", path);
  return 0;
}

/* ---- paths ---- */

struct where {
  ext2_ino_t parent;           /* the directory holding the last component */
  char last[EXT2_NAME_LEN + 1]; /* "" when the path names the root */
  ext2_ino_t ino;               /* 0 when the last component does not exist */
};

/* Resolves path inside the image. Symlinks on the way are followed (absolute targets restart at
 * the root, ".." stops there); the last component only with follow. A missing last component
 * is fine (ino 0) for callers that create. */
static int resolve(struct bg_ext4 *img, const char *path, int follow, struct where *w,
                   struct bg_error *err)
{
  char rest[2 * BG_TREE_PATH_MAX + 2], target[BG_TREE_PATH_MAX + 1], comp[EXT2_NAME_LEN + 1];
  struct ext2_inode_large in;
  ext2_ino_t cur = EXT2_ROOT_INO, next;
  size_t n, len, tl;
  const char *p;
  int hops = 0, last, problem;
  errcode_t rc;

  /* the one path policy: "." and ".." in a caller's path are misuse, components and length
   * within Linux's limits */
  problem = bg_path_clean(path, strlen(path), BG_PATH_API, rest, BG_PATH_MAX, &len);
  if (problem != BG_PATH_OK)
    return bg_path_error(err, problem, path, strlen(path), path);
  w->parent = EXT2_ROOT_INO;
  w->last[0] = '\0';
  w->ino = EXT2_ROOT_INO;
  p = rest;
  for (;;) {
    while (*p == '/')
      p++;
    if (*p == '\0') { /* the path names a directory reached so far */
      w->ino = cur;
      w->last[0] = '\0';
      return 0;
    }
    n = strcspn(p, "/");
    if (n > EXT2_NAME_LEN)
      return bg_error_set(err, BG_EINVAL, "%s: a component is longer than 255 bytes", path);
    memcpy(comp, p, n);
    comp[n] = '\0';
    p += n;
    while (*p == '/')
      p++;
    last = *p == '\0';
    if (strcmp(comp, ".") == 0)
      continue;
    if (strcmp(comp, "..") == 0) {
      if (cur != EXT2_ROOT_INO) {
        rc = ext2fs_lookup(img->fs, cur, "..", 2, NULL, &next);
        if (rc != 0)
          return bg_ext4_fail(err, rc, "while looking up .. on the way to %s", path);
        cur = next;
      }
      continue;
    }
    rc = ext2fs_lookup(img->fs, cur, comp, (int)n, NULL, &next);
    if (rc == EXT2_ET_FILE_NOT_FOUND) {
      if (!last)
        return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
      w->parent = cur;
      memcpy(w->last, comp, n + 1);
      w->ino = 0;
      return 0;
    }
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while looking up %s", path);
    if (read_inode(img, next, &in, path, err) != 0)
      return -1;
    if (LINUX_S_ISLNK(in.i_mode) && (!last || follow)) {
      if (++hops > BG_EXT4_MAX_HOPS)
        return bg_error_set(err, BG_EINVAL, "%s: too many levels of symbolic links", path);
      if (link_target(img, next, &in, target, sizeof(target), path, err) != 0)
        return -1;
      tl = strlen(target);
      len = strlen(p);
      if (tl + 1 + len + 1 > sizeof(rest) || tl + 1 + len >= 2 * BG_TREE_PATH_MAX)
        return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
      memmove(rest + tl + 1, p, len + 1);
      memcpy(rest, target, tl);
      rest[tl] = '/';
      p = rest;
      if (target[0] == '/')
        cur = EXT2_ROOT_INO;
      continue;
    }
    if (last) {
      w->parent = cur;
      memcpy(w->last, comp, n + 1);
      w->ino = next;
      return 0;
    }
    if (!LINUX_S_ISDIR(in.i_mode))
      return bg_error_set(err, BG_EINVAL, "%s: not a directory on the way", path);
    cur = next;
  }
}

static int lookup(struct bg_ext4 *img, const char *path, int follow, ext2_ino_t *ino,
                  struct ext2_inode_large *in, struct bg_error *err)
{
  struct where w;

  if (resolve(img, path, follow, &w, err) != 0)
    return -1;
  if (w.ino == 0)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  *ino = w.ino;
  return read_inode(img, w.ino, in, path, err);
}

static int need_write(struct bg_ext4 *img, const char *path, struct bg_error *err)
{
  if (!img->writable)
    return bg_error_set(err, BG_EINVAL, "%s: the image is open read-only", path);
  return 0;
}

/* ---- reading ---- */

int bg_ext4_stat(struct bg_ext4 *img, const char *path, int flags, struct bg_ext4_stat *st,
                 struct bg_error *err)
{
  struct ext2_inode_large in;
  ext2_ino_t ino;

  if (lookup(img, path, flags & BG_FOLLOW, &ino, &in, err) != 0)
    return -1;
  memset(st, 0, sizeof(*st));
  st->ino = ino;
  st->mode = in.i_mode;
  st->uid = inode_uid(in);
  st->gid = inode_gid(in);
  st->size = EXT2_I_SIZE(&in);
  st->links = in.i_links_count;
  st->flags = in.i_flags;
  st->mtime = bg_ext4_time_get(in.i_mtime, in.i_mtime_extra, HAS_EXTRA(&in, i_mtime_extra));
  st->atime = bg_ext4_time_get(in.i_atime, in.i_atime_extra, HAS_EXTRA(&in, i_atime_extra));
  st->ctime = bg_ext4_time_get(in.i_ctime, in.i_ctime_extra, HAS_EXTRA(&in, i_ctime_extra));
  st->blocks = in.i_blocks;
  if (ext2fs_has_feature_huge_file(img->fs->super))
    st->blocks |= (uint64_t)in.osd2.linux2.l_i_blocks_hi << 32;
  if (ext2fs_has_feature_huge_file(img->fs->super) && (in.i_flags & EXT4_HUGE_FILE_FL))
    st->blocks *= img->fs->blocksize / 512;
  if (LINUX_S_ISCHR(in.i_mode) || LINUX_S_ISBLK(in.i_mode))
    bg_ext4_get_rdev(&in, &st->rdev_major, &st->rdev_minor);
  return 0;
}

int bg_ext4_readlink(struct bg_ext4 *img, const char *path, char *buf, size_t size,
                     struct bg_error *err)
{
  struct ext2_inode_large in;
  ext2_ino_t ino;

  if (lookup(img, path, 0, &ino, &in, err) != 0)
    return -1;
  if (!LINUX_S_ISLNK(in.i_mode))
    return bg_error_set(err, BG_EINVAL, "%s: not a symlink", path);
  return link_target(img, ino, &in, buf, size, path, err);
}

struct xa_ctx {
  bg_ext4_xattr_fn fn;
  void *ctx;
  int stopped;
};

static int xa_visit(char *name, char *value, size_t len, void *data)
{
  struct xa_ctx *c = data;

  if (c->fn(name, value, len, c->ctx) != 0) {
    c->stopped = 1;
    return XATTR_ABORT;
  }
  return 0;
}

int bg_ext4_xattrs(struct bg_ext4 *img, const char *path, int flags, bg_ext4_xattr_fn fn,
                   void *ctx, struct bg_error *err)
{
  struct ext2_xattr_handle *h = NULL;
  struct ext2_inode_large in;
  struct xa_ctx c = {fn, ctx, 0};
  ext2_ino_t ino;
  errcode_t rc;

  if (lookup(img, path, flags & BG_FOLLOW, &ino, &in, err) != 0)
    return -1;
  rc = ext2fs_xattrs_open(img->fs, ino, &h);
  if (rc == 0)
    rc = ext2fs_xattrs_read(h);
  if (rc == 0)
    rc = ext2fs_xattrs_iterate(h, xa_visit, &c);
  if (h != NULL)
    ext2fs_xattrs_close(&h);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reading the xattrs of %s", path);
  return c.stopped ? -1 : 0;
}

int bg_ext4_read(struct bg_ext4 *img, const char *path, uint64_t max, unsigned char **out,
                 size_t *len, struct bg_error *err)
{
  struct ext2_inode_large in;
  ext2_file_t f = NULL;
  unsigned char *buf = NULL;
  unsigned int got;
  uint64_t size, have = 0;
  ext2_ino_t ino;
  errcode_t rc = 0;

  *out = NULL;
  *len = 0;
  if (lookup(img, path, BG_FOLLOW, &ino, &in, err) != 0)
    return -1;
  if (!LINUX_S_ISREG(in.i_mode))
    return bg_error_set(err, BG_EINVAL, "%s: not a regular file", path);
  size = EXT2_I_SIZE(&in);
  if (max == 0) {
    if (size > MAX_READ_DEFAULT)
      return bg_error_set(err, BG_ETOOBIG, "%s: %llu bytes is more than read returns (64 MiB)",
                          path, (unsigned long long)size);
    max = size;
  }
  if (size > max)
    size = max;
  buf = malloc(size ? (size_t)size : 1);
  if (buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  rc = ext2fs_file_open2(img->fs, ino, (struct ext2_inode *)&in, 0, &f);
  while (rc == 0 && have < size) {
    uint64_t want = size - have > (1u << 30) ? (1u << 30) : size - have;

    rc = ext2fs_file_read(f, buf + have, (unsigned int)want, &got);
    if (rc == 0 && got == 0)
      rc = EXT2_ET_SHORT_READ;
    have += got;
  }
  if (f != NULL)
    ext2fs_file_close(f);
  if (rc != 0) {
    free(buf);
    return bg_ext4_fail(err, rc, "while reading %s", path);
  }
  *out = buf;
  *len = (size_t)size;
  return 0;
}

struct list_ctx {
  struct bg_ext4_dirent *v;
  size_t n, alloc;
  int failed;
};

static int list_visit(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
                      int blocksize, char *buf, void *priv)
{
  struct list_ctx *c = priv;
  int nl = ext2fs_dirent_name_len(d);
  struct bg_ext4_dirent *nv;

  if ((nl == 1 && d->name[0] == '.') || (nl == 2 && d->name[0] == '.' && d->name[1] == '.'))
    return 0;
  if (c->n == c->alloc) {
    c->alloc = c->alloc ? c->alloc * 2 : 32;
    nv = realloc(c->v, c->alloc * sizeof(*nv));
    if (nv == NULL) {
      c->failed = 1;
      return DIRENT_ABORT;
    }
    c->v = nv;
  }
  c->v[c->n].name = strndup(d->name, (size_t)nl);
  c->v[c->n].ino = d->inode;
  c->v[c->n].mode = 0;
  if (c->v[c->n].name == NULL) {
    c->failed = 1;
    return DIRENT_ABORT;
  }
  c->n++;
  return 0;
}

static int cmp_dirent(const void *a, const void *b)
{
  return strcmp(((const struct bg_ext4_dirent *)a)->name, ((const struct bg_ext4_dirent *)b)->name);
}

void bg_ext4_dirents_free(struct bg_ext4_dirent *d, size_t n)
{
  size_t i;

  for (i = 0; i < n && d != NULL; i++)
    free(d[i].name);
  free(d);
}

int bg_ext4_list(struct bg_ext4 *img, const char *path, struct bg_ext4_dirent **out, size_t *n,
                 struct bg_error *err)
{
  struct list_ctx c = {NULL, 0, 0, 0};
  struct ext2_inode_large in;
  ext2_ino_t ino;
  errcode_t rc;
  size_t i;

  *out = NULL;
  *n = 0;
  if (lookup(img, path, BG_FOLLOW, &ino, &in, err) != 0)
    return -1;
  if (!LINUX_S_ISDIR(in.i_mode))
    return bg_error_set(err, BG_EINVAL, "%s: not a directory", path);
  rc = ext2fs_dir_iterate2(img->fs, ino, 0, NULL, list_visit, &c);
  if (rc != 0 || c.failed) {
    bg_ext4_dirents_free(c.v, c.n);
    if (c.failed)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
    return bg_ext4_fail(err, rc, "while listing %s", path);
  }
  for (i = 0; i < c.n; i++) {
    if (read_inode(img, c.v[i].ino, &in, path, err) != 0) {
      bg_ext4_dirents_free(c.v, c.n);
      return -1;
    }
    c.v[i].mode = in.i_mode;
  }
  qsort(c.v, c.n, sizeof(*c.v), cmp_dirent);
  *out = c.v;
  *n = c.n;
  return 0;
}

/* ---- changing ---- */

static int link_name(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                     uint32_t mode, const char *path, struct bg_error *err)
{
  errcode_t rc = ext2fs_link(img->fs, dir, name, ino, bg_ext4_ftype(mode));

  if (rc == EXT2_ET_DIR_NO_SPACE) { /* a full linear directory grows by a block */
    rc = ext2fs_expand_dir(img->fs, dir);
    if (rc == 0)
      rc = ext2fs_link(img->fs, dir, name, ino, bg_ext4_ftype(mode));
  }
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while linking %s", path);
  return 0;
}

/* Frees an inode whose last name is gone: its blocks, its xattr block, its bitmap bit. */
static int free_inode(struct bg_ext4 *img, ext2_ino_t ino, const char *path, struct bg_error *err)
{
  struct ext2_inode_large in;
  errcode_t rc = 0;

  if (read_inode(img, ino, &in, path, err) != 0)
    return -1;
  if (ext2fs_inode_has_valid_blocks2(img->fs, (struct ext2_inode *)&in))
    rc = ext2fs_punch(img->fs, ino, (struct ext2_inode *)&in, NULL, 0, ~0ULL);
  if (rc == 0 && ext2fs_file_acl_block(img->fs, (struct ext2_inode *)&in) != 0)
    rc = ext2fs_free_ext_attr(img->fs, ino, &in);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while freeing inode %u of %s", ino, path);
  in.i_links_count = 0;
  in.i_dtime = (uint32_t)img_now(img);
  if (write_inode(img, ino, &in, path, err) != 0)
    return -1;
  ext2fs_inode_alloc_stats2(img->fs, ino, -1, LINUX_S_ISDIR(in.i_mode));
  return 0;
}

/* One name of a non-directory is gone: one link less, freed at none. */
static int drop_link(struct bg_ext4 *img, ext2_ino_t ino, const char *path, struct bg_error *err)
{
  struct ext2_inode_large in;

  if (read_inode(img, ino, &in, path, err) != 0)
    return -1;
  if (in.i_links_count > 1) {
    in.i_links_count--;
    return write_inode(img, ino, &in, path, err);
  }
  return free_inode(img, ino, path, err);
}

/* A directory below the removed one: its inode and everything under it, without recursion. */
struct victim {
  ext2_ino_t ino;
  int dir;
};

struct collect {
  struct bg_ext4 *img;
  struct victim *v;
  size_t n, alloc;
  ext2fs_inode_bitmap seen;
  int failed; /* 1: out of memory, 2: a directory reached twice */
};

static int collect_visit(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
                         int blocksize, char *buf, void *priv)
{
  struct collect *c = priv;
  int nl = ext2fs_dirent_name_len(d);
  struct victim *nv;
  struct ext2_inode in;

  if ((nl == 1 && d->name[0] == '.') || (nl == 2 && d->name[0] == '.' && d->name[1] == '.'))
    return 0;
  if (d->inode == 0 || d->inode > c->img->fs->super->s_inodes_count)
    return 0;
  if (c->n == c->alloc) {
    c->alloc = c->alloc ? c->alloc * 2 : 64;
    nv = realloc(c->v, c->alloc * sizeof(*nv));
    if (nv == NULL) {
      c->failed = 1;
      return DIRENT_ABORT;
    }
    c->v = nv;
  }
  if (ext2fs_read_inode(c->img->fs, d->inode, &in) != 0)
    return 0;
  c->v[c->n].ino = d->inode;
  c->v[c->n].dir = LINUX_S_ISDIR(in.i_mode);
  if (c->v[c->n].dir) {
    if (ext2fs_test_inode_bitmap2(c->seen, d->inode)) {
      c->failed = 2;
      return DIRENT_ABORT;
    }
    ext2fs_mark_inode_bitmap2(c->seen, d->inode);
  }
  c->n++;
  return 0;
}

static int remove_tree(struct bg_ext4 *img, ext2_ino_t top, const char *path,
                       struct bg_error *err)
{
  struct collect c;
  errcode_t rc;
  size_t i;
  int ret = -1;

  memset(&c, 0, sizeof(c));
  c.img = img;
  rc = ext2fs_allocate_inode_bitmap(img->fs, "removal", &c.seen);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while removing %s", path);
  c.v = malloc(64 * sizeof(*c.v));
  if (c.v == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  c.alloc = 64;
  c.v[0].ino = top;
  c.v[0].dir = 1;
  c.n = 1;
  ext2fs_mark_inode_bitmap2(c.seen, top);
  /* breadth first: the list grows behind the cursor */
  for (i = 0; i < c.n; i++) {
    if (!c.v[i].dir)
      continue;
    rc = ext2fs_dir_iterate2(img->fs, c.v[i].ino, 0, NULL, collect_visit, &c);
    if (c.failed == 1) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
    if (c.failed == 2) {
      bg_error_set(err, BG_EFS, "%s: a directory is linked twice below it", path);
      goto out;
    }
    if (rc != 0) {
      bg_ext4_fail(err, rc, "while reading a directory below %s", path);
      goto out;
    }
  }
  for (i = c.n; i-- > 0;) {
    if ((c.v[i].dir ? free_inode(img, c.v[i].ino, path, err)
                    : drop_link(img, c.v[i].ino, path, err)) != 0)
      goto out;
  }
  ret = 0;
out:
  free(c.v);
  ext2fs_free_inode_bitmap(c.seen);
  return ret;
}

static int dir_is_empty(struct bg_ext4 *img, ext2_ino_t ino, const char *path, int *empty,
                        struct bg_error *err)
{
  struct list_ctx c = {NULL, 0, 0, 0};
  errcode_t rc = ext2fs_dir_iterate2(img->fs, ino, 0, NULL, list_visit, &c);

  *empty = c.n == 0;
  bg_ext4_dirents_free(c.v, c.n);
  if (c.failed)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reading %s", path);
  return 0;
}

/* Removes the name w->last from w->parent and whatever it alone kept alive. */
static int remove_entry(struct bg_ext4 *img, const struct where *w, int recursive,
                        const char *path, struct bg_error *err)
{
  struct ext2_inode_large in, pin;
  int empty = 1;
  errcode_t rc;

  if (read_inode(img, w->ino, &in, path, err) != 0)
    return -1;
  if (LINUX_S_ISDIR(in.i_mode)) {
    if (!recursive && dir_is_empty(img, w->ino, path, &empty, err) != 0)
      return -1;
    if (!empty)
      return bg_error_set(err, BG_EINVAL, "%s: directory not empty", path);
  }
  rc = ext2fs_unlink(img->fs, w->parent, w->last, w->ino, 0);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while unlinking %s", path);
  if (!LINUX_S_ISDIR(in.i_mode))
    return drop_link(img, w->ino, path, err);
  if (read_inode(img, w->parent, &pin, path, err) != 0)
    return -1;
  if (pin.i_links_count > 2) { /* 1 means "many" (dir_nlink) and stays */
    pin.i_links_count--;
    if (write_inode(img, w->parent, &pin, path, err) != 0)
      return -1;
  }
  return remove_tree(img, w->ino, path, err);
}

int bg_ext4_remove(struct bg_ext4 *img, const char *path, int flags, struct bg_error *err)
{
  struct where w;

  if (need_write(img, path, err) != 0 || resolve(img, path, 0, &w, err) != 0)
    return -1;
  if (w.last[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "%s: cannot remove the root", path);
  if (w.ino == 0)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  return remove_entry(img, &w, flags & BG_EXT4_RECURSIVE, path, err);
}

static void meta_times(struct bg_ext4 *img, const struct bg_meta *m, int flags,
                       struct bg_time t[3])
{
  if (flags & BG_EXT4_NOW) {
    t[0].sec = img_now(img);
    t[0].nsec = 0;
    t[1] = t[2] = t[0];
  } else {
    t[0] = m->mtime;
    t[1] = m->atime;
    t[2] = m->ctime;
  }
}

static int make_dir(struct bg_ext4 *img, ext2_ino_t parent, const char *name,
                    const struct bg_meta *m, int flags, const char *path, struct bg_error *err)
{
  struct ext2_inode_large in;
  struct bg_time t[3];
  ext2_ino_t ino;
  errcode_t rc;

  rc = ext2fs_new_inode(img->fs, parent, LINUX_S_IFDIR | 0755, NULL, &ino);
  if (rc == 0)
    rc = ext2fs_mkdir(img->fs, parent, ino, NULL); /* linked below, growing the parent if full */
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while creating directory %s", path);
  if (read_inode(img, ino, &in, path, err) != 0)
    return -1;
  meta_times(img, m, flags, t);
  in.i_mode = (uint16_t)(LINUX_S_IFDIR | (m->mode & 07777));
  bg_ext4_set_uid(&in, m->uid);
  bg_ext4_set_gid(&in, m->gid);
  if (in.i_extra_isize < BG_EXT4_EXTRA_ISIZE && img->fs->super->s_inode_size >= 160)
    in.i_extra_isize = BG_EXT4_EXTRA_ISIZE;
  bg_ext4_time_set(&in.i_mtime, &in.i_mtime_extra, &t[0]);
  bg_ext4_time_set(&in.i_atime, &in.i_atime_extra, &t[1]);
  bg_ext4_time_set(&in.i_ctime, &in.i_ctime_extra, &t[2]);
  if (write_inode(img, ino, &in, path, err) != 0)
    return -1;
  return link_name(img, parent, name, ino, LINUX_S_IFDIR, path, err);
}

int bg_ext4_mkdir(struct bg_ext4 *img, const char *path, const struct bg_meta *m, int flags,
                  struct bg_error *err)
{
  char prefix[BG_TREE_PATH_MAX];
  struct ext2_inode_large in;
  struct bg_meta dm;
  struct where w;
  size_t len = strlen(path), i;

  if (need_write(img, path, err) != 0)
    return -1;
  if (len >= sizeof(prefix))
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
  memset(&dm, 0, sizeof(dm));
  dm.mode = 0755;
  for (i = 0; i <= len; i++) { /* each prefix ending at a component boundary, the whole last */
    if (i < len && !(path[i] == '/' && i > 0 && path[i - 1] != '/'))
      continue;
    if (i < len && !(flags & BG_PARENTS))
      continue;
    memcpy(prefix, path, i);
    prefix[i] = '\0';
    if (resolve(img, prefix, BG_FOLLOW, &w, err) != 0)
      return -1;
    if (w.ino != 0) {
      if (read_inode(img, w.ino, &in, path, err) != 0)
        return -1;
      if (!LINUX_S_ISDIR(in.i_mode))
        return bg_error_set(err, BG_EINVAL, "%s: %s exists and is not a directory", path,
                            prefix);
      if (i == len && !(flags & BG_PARENTS))
        return bg_error_set(err, BG_EINVAL, "%s: already exists", path);
      continue;
    }
    if (make_dir(img, w.parent, w.last, i == len ? m : &dm, i == len ? flags : BG_EXT4_NOW,
                 path, err) != 0)
      return -1;
  }
  return 0;
}

struct hostsrc {
  int fd;
};

static int host_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                     struct bg_error *err)
{
  struct hostsrc *h = ctx;
  ssize_t r;

  do
    r = pread(h->fd, buf, n, (off_t)off);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return bg_error_errno(err, errno, "cannot read a host file");
  *got = (size_t)r;
  return 0;
}

/* Finds where a new name goes; an existing non-directory there is removed first. */
static int make_room(struct bg_ext4 *img, const char *path, struct where *w, struct bg_error *err)
{
  struct ext2_inode_large in;

  if (need_write(img, path, err) != 0 || resolve(img, path, 0, w, err) != 0)
    return -1;
  if (w->last[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "%s: names the root", path);
  if (w->ino == 0)
    return 0;
  if (read_inode(img, w->ino, &in, path, err) != 0)
    return -1;
  if (LINUX_S_ISDIR(in.i_mode))
    return bg_error_set(err, BG_EINVAL, "%s: is a directory", path);
  if (remove_entry(img, w, 0, path, err) != 0)
    return -1;
  w->ino = 0;
  return 0;
}

/* Creates the directories that would hold path (0755 0:0). */
static int make_parents(struct bg_ext4 *img, const char *path, struct bg_error *err)
{
  char dir[BG_TREE_PATH_MAX];
  const char *slash = strrchr(path, '/');
  struct bg_meta m;
  size_t n;

  if (slash == NULL || slash == path)
    return 0;
  n = (size_t)(slash - path);
  if (n >= sizeof(dir))
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
  memcpy(dir, path, n);
  dir[n] = '\0';
  memset(&m, 0, sizeof(m));
  m.mode = 0755;
  return bg_ext4_mkdir(img, dir, &m, BG_PARENTS | BG_EXT4_NOW, err);
}

static int create_node(struct bg_ext4 *img, const char *path, uint32_t type,
                       const struct bg_ext4_source *src, const char *target,
                       const struct bg_meta *m, int flags, struct bg_error *err)
{
  struct ext2_inode_large in;
  struct bg_ext4_memsrc ms;
  struct hostsrc hs = {-1};
  struct bg_time t[3];
  struct where w;
  struct stat st;
  blk64_t goal;
  ext2_ino_t ino;
  errcode_t rc;
  int ret = -1;

  if ((flags & BG_PARENTS) && make_parents(img, path, err) != 0)
    return -1;
  if (make_room(img, path, &w, err) != 0)
    return -1;
  rc = ext2fs_new_inode(img->fs, w.parent, (int)(type | 0644), NULL, &ino);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while allocating an inode for %s", path);
  meta_times(img, m, flags, t);
  bg_ext4_inode_init(&in, type | (m->mode & 07777), m->uid, m->gid, &t[0], &t[1], &t[2]);
  in.i_links_count = 1;
  if (img->fs->super->s_inode_size < 160)
    in.i_extra_isize = 0;
  goal = ext2fs_group_first_block2(img->fs, ext2fs_group_of_ino(img->fs, ino));
  if (type == LINUX_S_IFLNK) {
    if (bg_ext4_put_symlink(img->fs, ino, &in, target, &goal, path, err) != 0)
      goto out;
  } else if (src->host_path != NULL) {
    hs.fd = open(src->host_path, O_RDONLY | O_CLOEXEC);
    if (hs.fd < 0 || fstat(hs.fd, &st) != 0) {
      bg_error_errno(err, errno, "cannot use %s", src->host_path);
      goto out;
    }
    if (bg_ext4_put_data(img->fs, ino, &in, (uint64_t)st.st_size, host_read, &hs, 1, &goal, path,
                         err) != 0)
      goto out;
  } else {
    ms.p = src->mem;
    ms.len = src->len;
    if (bg_ext4_put_data(img->fs, ino, &in, ms.len, bg_ext4_mem_read, &ms, 1, &goal, path,
                         err) != 0)
      goto out;
  }
  /* clears the whole on-disk inode first: a freed inode may have left in-inode xattrs */
  rc = ext2fs_write_new_inode(img->fs, ino, (struct ext2_inode *)&in);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while writing the inode of %s", path);
    goto out;
  }
  if (write_inode(img, ino, &in, path, err) != 0)
    goto out;
  ext2fs_inode_alloc_stats2(img->fs, ino, +1, 0);
  if (link_name(img, w.parent, w.last, ino, type, path, err) != 0)
    goto out;
  ret = 0;
out:
  if (hs.fd >= 0)
    close(hs.fd);
  return ret;
}

int bg_ext4_write(struct bg_ext4 *img, const char *path, const struct bg_ext4_source *src,
                  const struct bg_meta *m, int flags, struct bg_error *err)
{
  return create_node(img, path, LINUX_S_IFREG, src, NULL, m, flags, err);
}

int bg_ext4_symlink(struct bg_ext4 *img, const char *path, const char *target,
                    const struct bg_meta *m, int flags, struct bg_error *err)
{
  return create_node(img, path, LINUX_S_IFLNK, NULL, target, m, flags, err);
}

int bg_ext4_set_field(struct bg_ext4 *img, const char *path, const char *field, int64_t value,
                      struct bg_error *err)
{
  struct ext2_inode_large in;
  struct bg_time t;
  ext2_ino_t ino;
  uint32_t *lo = NULL, *extra = NULL;
  int nsec = 0;
  errcode_t rc;

  if (need_write(img, path, err) != 0 || lookup(img, path, 0, &ino, &in, err) != 0)
    return -1;
  if (strcmp(field, "uid") == 0 || strcmp(field, "gid") == 0) {
    if (value < 0 || value > UINT32_MAX)
      return bg_error_set(err, BG_EINVAL, "%s: %s %lld out of range", path, field,
                          (long long)value);
    if (field[0] == 'u')
      bg_ext4_set_uid(&in, (uint32_t)value);
    else
      bg_ext4_set_gid(&in, (uint32_t)value);
  } else if (strcmp(field, "mode") == 0) {
    if (value < 0 || value > 0xffff)
      return bg_error_set(err, BG_EINVAL, "%s: mode %lld out of range", path, (long long)value);
    in.i_mode = (uint16_t)value;
  } else if (strcmp(field, "links_count") == 0) {
    if (value < 0 || value > 0xffff)
      return bg_error_set(err, BG_EINVAL, "%s: links_count %lld out of range", path,
                          (long long)value);
    in.i_links_count = (uint16_t)value;
  } else if (strcmp(field, "flags") == 0) {
    in.i_flags = (uint32_t)value;
  } else if (strcmp(field, "generation") == 0) {
    in.i_generation = (uint32_t)value;
  } else if (strcmp(field, "size") == 0) {
    if (value < 0)
      return bg_error_set(err, BG_EINVAL, "%s: size %lld out of range", path, (long long)value);
    rc = ext2fs_inode_size_set(img->fs, (struct ext2_inode *)&in, (uint64_t)value);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while setting the size of %s", path);
  } else {
    if (strncmp(field, "mtime", 5) == 0) {
      lo = &in.i_mtime;
      extra = &in.i_mtime_extra;
    } else if (strncmp(field, "atime", 5) == 0) {
      lo = &in.i_atime;
      extra = &in.i_atime_extra;
    } else if (strncmp(field, "ctime", 5) == 0) {
      lo = &in.i_ctime;
      extra = &in.i_ctime_extra;
    } else if (strncmp(field, "crtime", 6) == 0) {
      lo = &in.i_crtime;
      extra = &in.i_crtime_extra;
    }
    if (lo == NULL || (strchr(field, '_') != NULL && strcmp(strchr(field, '_'), "_nsec") != 0) ||
        (strchr(field, '_') == NULL && strcmp(field, "mtime") != 0 &&
         strcmp(field, "atime") != 0 && strcmp(field, "ctime") != 0 &&
         strcmp(field, "crtime") != 0))
      return bg_error_set(err, BG_EINVAL, "unknown inode field \"%s\"", field);
    nsec = strchr(field, '_') != NULL;
    if (in.i_extra_isize < BG_EXT4_EXTRA_ISIZE && (nsec || lo == &in.i_crtime))
      return bg_error_set(err, BG_EINVAL, "%s: the inode has no room for %s", path, field);
    t = bg_ext4_time_get(*lo, *extra, in.i_extra_isize >= BG_EXT4_EXTRA_ISIZE);
    if (nsec) {
      if (value < 0 || value >= 1000000000)
        return bg_error_set(err, BG_EINVAL, "%s: %s %lld out of range", path, field,
                            (long long)value);
      t.nsec = (uint32_t)value;
    } else {
      t.sec = value;
    }
    if (in.i_extra_isize >= BG_EXT4_EXTRA_ISIZE)
      bg_ext4_time_set(lo, extra, &t);
    else
      *lo = (uint32_t)t.sec;
  }
  return write_inode(img, ino, &in, path, err);
}
