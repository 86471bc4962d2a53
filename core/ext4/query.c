/* The editor's queries: stat, readlink, xattrs, read, list. */
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2_err.h>

#include "ext4_internal.h"

#define MAX_READ_DEFAULT ((uint64_t)64 << 20) /* read() without a cap stops here */

int bg_ext4_stat(struct bg_ext4 *img, const char *path, int flags, struct bg_ext4_stat *st,
                 struct bg_error *err)
{
  struct ext2_inode_large in;
  ext2_ino_t ino;

  if (bg_ext4_lookup(img, path, flags & BG_FOLLOW, &ino, &in, err) != 0)
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

  if (bg_ext4_lookup(img, path, 0, &ino, &in, err) != 0)
    return -1;
  if (!LINUX_S_ISLNK(in.i_mode))
    return bg_error_set(err, BG_EINVAL, "%s: not a symlink", path);
  return bg_ext4_link_target(img, ino, &in, buf, size, path, err);
}

struct xa_ctx {
  bg_ext4_xattr_fn fn;
  void *ctx;
  int stopped;
};

static int xa_visit(char *name, char *value, size_t len, void *data)
{
  struct xa_ctx *c = data;

  if (strcmp(name, "system.data") == 0)
    return 0; /* inline data's, not an xattr: the kernel does not list it either */
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

  if (bg_ext4_lookup(img, path, flags & BG_FOLLOW, &ino, &in, err) != 0)
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
  if (bg_ext4_lookup(img, path, BG_FOLLOW, &ino, &in, err) != 0)
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

  if (bg_ext4_dot_entry(d))
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
  if (bg_ext4_lookup(img, path, BG_FOLLOW, &ino, &in, err) != 0)
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
    if (bg_ext4_read_inode(img, c.v[i].ino, &in, path, err) != 0) {
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
