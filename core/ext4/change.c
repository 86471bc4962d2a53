/* The editor's changes: directories, files and symlinks made, names removed. A new inode is
 * complete before a name points at it and a replaced file goes only once its successor is in
 * place; a failure gives back what it took, so a failed edit leaves the image as it was. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext4_internal.h"

/* Frees an inode whose last name is gone: its blocks, its xattr block, its bitmap bit. */
static int free_inode(struct bg_ext4 *img, ext2_ino_t ino, const char *path, struct bg_error *err)
{
  struct ext2_inode_large in;
  errcode_t rc = 0;

  if (bg_ext4_read_inode(img, ino, &in, path, err) != 0)
    return -1;
  if (LINUX_S_ISDIR(in.i_mode))
    bg_ext4_dir_forget(img); /* its blocks leave the directory block cache */
  if (ext2fs_inode_has_valid_blocks2(img->fs, (struct ext2_inode *)&in))
    rc = ext2fs_punch(img->fs, ino, (struct ext2_inode *)&in, NULL, 0, ~0ULL);
  if (rc == 0 && ext2fs_file_acl_block(img->fs, (struct ext2_inode *)&in) != 0)
    rc = ext2fs_free_ext_attr(img->fs, ino, &in);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while freeing inode %u of %s", ino, path);
  in.i_links_count = 0;
  in.i_dtime = (uint32_t)bg_ext4_now(img);
  if (bg_ext4_write_inode(img, ino, &in, path, err) != 0)
    return -1;
  ext2fs_inode_alloc_stats2(img->fs, ino, -1, LINUX_S_ISDIR(in.i_mode));
  return 0;
}

/* One name of a non-directory is gone: one link less, freed at none. */
static int drop_link(struct bg_ext4 *img, ext2_ino_t ino, const char *path, struct bg_error *err)
{
  struct ext2_inode_large in;

  if (bg_ext4_read_inode(img, ino, &in, path, err) != 0)
    return -1;
  if (in.i_links_count > 1) {
    in.i_links_count--;
    return bg_ext4_write_inode(img, ino, &in, path, err);
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
  struct victim *nv;
  struct ext2_inode in;

  if (bg_ext4_dot_entry(d))
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

static int empty_visit(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
                       int blocksize, char *buf, void *priv)
{
  if (bg_ext4_dot_entry(d))
    return 0;
  *(int *)priv = 0;
  return DIRENT_ABORT;
}

static int dir_is_empty(struct bg_ext4 *img, ext2_ino_t ino, const char *path, int *empty,
                        struct bg_error *err)
{
  errcode_t rc;

  *empty = 1;
  rc = ext2fs_dir_iterate2(img->fs, ino, 0, NULL, empty_visit, empty);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reading %s", path);
  return 0;
}

/* Removes the name w->last from w->parent and whatever it alone kept alive. */
static int remove_entry(struct bg_ext4 *img, const struct bg_ext4_where *w, int recursive,
                        const char *path, struct bg_error *err)
{
  struct ext2_inode_large in, pin;
  int empty = 1;

  if (bg_ext4_read_inode(img, w->ino, &in, path, err) != 0)
    return -1;
  if (LINUX_S_ISDIR(in.i_mode)) {
    if (!recursive && dir_is_empty(img, w->ino, path, &empty, err) != 0)
      return -1;
    if (!empty)
      return bg_error_set(err, BG_EINVAL, "%s: directory not empty", path);
  }
  if (bg_ext4_dir_unlink(img, w->parent, w->last, w->ino, path, err) != 0)
    return -1;
  if (!LINUX_S_ISDIR(in.i_mode))
    return drop_link(img, w->ino, path, err);
  if (bg_ext4_read_inode(img, w->parent, &pin, path, err) != 0)
    return -1;
  if (pin.i_links_count > 2) { /* 1 means "many" (dir_nlink) and stays */
    pin.i_links_count--;
    if (bg_ext4_write_inode(img, w->parent, &pin, path, err) != 0)
      return -1;
  }
  return remove_tree(img, w->ino, path, err);
}

int bg_ext4_remove(struct bg_ext4 *img, const char *path, int flags, struct bg_error *err)
{
  struct bg_ext4_where w;

  if (bg_ext4_need_write(img, path, err) != 0 || bg_ext4_resolve(img, path, 0, &w, err) != 0)
    return -1;
  if (w.last[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "%s: cannot remove the root", path);
  if (w.ino == 0)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  if (remove_entry(img, &w, flags & BG_EXT4_RECURSIVE, path, err) != 0)
    return -1;
  return bg_ext4_writes_ok(img, img->path, err);
}

static void meta_times(struct bg_ext4 *img, const struct bg_meta *m, int flags,
                       struct bg_time t[3])
{
  if (flags & BG_EXT4_NOW) {
    t[0].sec = bg_ext4_now(img);
    t[0].nsec = 0;
    t[1] = t[2] = t[0];
  } else {
    t[0] = m->mtime;
    t[1] = m->atime;
    t[2] = m->ctime;
  }
}

/* A fresh inode for type|mode with m's owner and times; clamped times are noted. */
static void new_inode(struct bg_ext4 *img, struct ext2_inode_large *in, uint32_t type,
                      const struct bg_meta *m, int flags, const char *path)
{
  struct bg_time t[3];
  int large = bg_ext4_large_inodes(img), clamped;

  meta_times(img, m, flags, t);
  clamped = bg_ext4_inode_init(in, type | (m->mode & 07777), m->uid, m->gid, &t[0], &t[1], &t[2],
                               large);
  if (clamped)
    bg_ext4_note_clamped(&img->notes, path, clamped, &t[0], &t[1], &t[2], large);
}

/* Makes the inode written and counted; its name comes next. A failure gives its blocks back. */
static int commit_inode(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                        const struct bg_ext4_ibody *ib, const char *path, struct bg_error *err)
{
  if (bg_ext4_write_fresh_inode(img->fs, ino, in, ib, path, err) != 0) {
    bg_ext4_dir_forget(img);
    if (ext2fs_inode_has_valid_blocks2(img->fs, (struct ext2_inode *)in))
      ext2fs_punch(img->fs, ino, (struct ext2_inode *)in, NULL, 0, ~0ULL);
    return -1;
  }
  ext2fs_inode_alloc_stats2(img->fs, ino, +1, LINUX_S_ISDIR(in->i_mode));
  return 0;
}

/* The parent's link count with one subdirectory more: ext4 counts up to EXT2_LINK_MAX, past that
 * (dir_nlink) a count of 1 means "many" and stays 1. */
static int count_subdir(struct bg_ext4 *img, ext2_ino_t parent, struct ext2_inode_large *pin,
                        const char *path, struct bg_error *err)
{
  int nlink = ext2fs_has_feature_dir_nlink(img->fs->super);

  if (pin->i_links_count == 1 && nlink)
    return 0;
  if (pin->i_links_count >= EXT2_LINK_MAX) {
    if (!nlink)
      return bg_error_set(err, BG_ETOOBIG, "%s: its directory has the most subdirectories ext4 "
                          "holds without dir_nlink", path);
    pin->i_links_count = 1;
  } else {
    pin->i_links_count++;
  }
  return bg_ext4_write_inode(img, parent, pin, path, err);
}

static int make_dir(struct bg_ext4 *img, ext2_ino_t parent, const char *name,
                    const struct bg_meta *m, int flags, const char *path, struct bg_error *err)
{
  ext2_filsys fs = img->fs;
  struct ext2_inode_large in, pin;
  struct bg_ext4_memsrc ms;
  struct bg_ext4_src src = {bg_ext4_mem_read, NULL, &ms, NULL};
  unsigned char *blocks = NULL;
  uint32_t nb = 0;
  struct bg_ext4_cursor at = {0, NULL, NULL};
  ext2_ino_t ino;
  errcode_t rc;
  int indexed, ret = -1;

  if (bg_ext4_read_inode(img, parent, &pin, path, err) != 0 ||
      bg_ext4_dir_writable(img, parent, &pin, path, err) != 0)
    return -1;
  if (pin.i_links_count >= EXT2_LINK_MAX && !ext2fs_has_feature_dir_nlink(fs->super))
    return bg_error_set(err, BG_ETOOBIG, "%s: its directory has the most subdirectories ext4 "
                        "holds without dir_nlink", path);
  rc = ext2fs_new_inode(fs, parent, LINUX_S_IFDIR | 0755, NULL, &ino);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while allocating an inode for %s", path);
  if (bg_ext4_build_dir(fs, ino, parent, NULL, 0, 1, &blocks, &nb, &indexed, err) != 0)
    return -1;
  new_inode(img, &in, LINUX_S_IFDIR, m, flags, path);
  in.i_links_count = 2;
  ms.p = blocks;
  ms.len = (uint64_t)nb * fs->blocksize;
  at.goal = ext2fs_group_first_block2(fs, ext2fs_group_of_ino(fs, ino));
  if (bg_ext4_put_data(fs, ino, &in, ms.len, &src, 0, &at, path, err) != 0 ||
      commit_inode(img, ino, &in, NULL, path, err) != 0)
    goto out;
  if (bg_ext4_dir_link(img, parent, name, ino, LINUX_S_IFDIR, path, err) != 0) {
    free_inode(img, ino, path, err);
    goto out;
  }
  if (bg_ext4_read_inode(img, parent, &pin, path, err) != 0 ||
      count_subdir(img, parent, &pin, path, err) != 0)
    goto out;
  ret = 0;
out:
  free(blocks);
  return ret;
}

/* Makes path's directories; *made: the length of the first prefix it created (0: none), so
 * that a later failure can take back what this call added. */
static int make_dirs(struct bg_ext4 *img, const char *path, const struct bg_meta *m, int flags,
                     size_t *made, struct bg_error *err)
{
  char prefix[BG_TREE_PATH_MAX];
  struct ext2_inode_large in;
  struct bg_meta dm;
  struct bg_ext4_where w;
  size_t len = strlen(path), i;

  *made = 0;
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
    if (bg_ext4_resolve(img, prefix, BG_FOLLOW, &w, err) != 0)
      return -1;
    if (w.ino != 0) {
      if (bg_ext4_read_inode(img, w.ino, &in, path, err) != 0)
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
    if (*made == 0)
      *made = i;
  }
  return 0;
}

/* Removes the directories make_dirs created on the way to path (what a failed edit added);
 * the error that failed the edit stays the one reported. */
static void unmake_dirs(struct bg_ext4 *img, const char *path, size_t made)
{
  char prefix[BG_TREE_PATH_MAX];
  struct bg_error e;

  if (made == 0 || made >= sizeof(prefix))
    return;
  memcpy(prefix, path, made);
  prefix[made] = '\0';
  bg_error_clear(&e);
  bg_ext4_remove(img, prefix, BG_EXT4_RECURSIVE, &e);
}

int bg_ext4_mkdir(struct bg_ext4 *img, const char *path, const struct bg_meta *m, int flags,
                  struct bg_error *err)
{
  size_t made = 0;

  if (bg_ext4_need_write(img, path, err) != 0)
    return -1;
  if (make_dirs(img, path, m, flags, &made, err) != 0) {
    unmake_dirs(img, path, made);
    return -1;
  }
  return bg_ext4_writes_ok(img, img->path, err);
}

/* Creates the directories that would hold path (0755 0:0); *made as make_dirs. */
static int make_parents(struct bg_ext4 *img, const char *path, size_t *made,
                        struct bg_error *err)
{
  char dir[BG_TREE_PATH_MAX];
  const char *slash = strrchr(path, '/');
  struct bg_meta m;
  size_t n;

  *made = 0;
  if (slash == NULL || slash == path)
    return 0;
  n = (size_t)(slash - path);
  if (n >= sizeof(dir))
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
  memcpy(dir, path, n);
  dir[n] = '\0';
  memset(&m, 0, sizeof(m));
  m.mode = 0755;
  if (make_dirs(img, dir, &m, BG_PARENTS | BG_EXT4_NOW, made, err) != 0) {
    unmake_dirs(img, dir, *made);
    return -1;
  }
  return 0;
}

/* The new inode's content: a symlink target, a host file (holes kept) or bytes in memory; on
 * an inline_data image a file small enough for it goes in the inode (*ib). */
static int put_content(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                       uint32_t type, const struct bg_ext4_source *src, const char *target,
                       struct bg_ext4_ibody *ib, const char *path, struct bg_error *err)
{
  struct bg_ext4_cursor at = {ext2fs_group_first_block2(img->fs, ext2fs_group_of_ino(img->fs, ino)),
                              NULL, NULL};
  struct bg_ext4_memsrc ms;
  struct bg_ext4_src s = {bg_ext4_mem_read, NULL, &ms, NULL};
  struct bg_ext4_host h;
  uint64_t size;
  int rc;

  if (type == LINUX_S_IFLNK)
    return bg_ext4_put_symlink(img->fs, ino, in, target, &at, path, err);
  if (src->host_path == NULL) {
    ms.p = src->mem;
    ms.len = src->len;
    if (bg_ext4_inline_ok(img->fs, in, ms.len))
      return bg_ext4_put_inline(img->fs, in, ms.len, &s, ib, path, err);
    return bg_ext4_put_data(img->fs, ino, in, ms.len, &s, BG_EXT4_PUT_HOLES, &at, path, err);
  }
  if (bg_ext4_host_open(&h, src->host_path, &size, err) != 0)
    return -1;
  s.read = bg_ext4_host_read;
  s.data = bg_ext4_host_data;
  s.ctx = &h;
  if (bg_ext4_inline_ok(img->fs, in, size))
    rc = bg_ext4_put_inline(img->fs, in, size, &s, ib, path, err);
  else
    rc = bg_ext4_put_data(img->fs, ino, in, size, &s, BG_EXT4_PUT_HOLES, &at, path, err);
  bg_ext4_host_close(&h);
  return rc;
}

/* A new inode for path with its content, then its name: a failure gives back what it took. */
static int place_node(struct bg_ext4 *img, const char *path, uint32_t type,
                      const struct bg_ext4_source *src, const char *target,
                      const struct bg_meta *m, int flags, struct bg_error *err)
{
  struct ext2_inode_large in, old;
  struct bg_ext4_ibody ib;
  struct bg_ext4_where w;
  ext2_ino_t ino;
  errcode_t rc;

  ib.len = 0;
  if (bg_ext4_resolve(img, path, 0, &w, err) != 0)
    return -1;
  if (w.last[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "%s: names the root", path);
  if (w.ino != 0) {
    if (bg_ext4_read_inode(img, w.ino, &old, path, err) != 0)
      return -1;
    if (LINUX_S_ISDIR(old.i_mode))
      return bg_error_set(err, BG_EINVAL, "%s: is a directory", path);
  }
  rc = ext2fs_new_inode(img->fs, w.parent, (int)(type | 0644), NULL, &ino);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while allocating an inode for %s", path);
  new_inode(img, &in, type, m, flags, path);
  in.i_links_count = 1;
  if (put_content(img, ino, &in, type, src, target, &ib, path, err) != 0 ||
      commit_inode(img, ino, &in, &ib, path, err) != 0)
    return -1;
  if (w.ino == 0 ? bg_ext4_dir_link(img, w.parent, w.last, ino, type, path, err)
                 : bg_ext4_dir_relink(img, w.parent, w.last, w.ino, ino, type, path, err)) {
    free_inode(img, ino, path, err); /* the name never moved: the image is as before */
    return -1;
  }
  if (w.ino != 0 && drop_link(img, w.ino, path, err) != 0)
    return -1;
  return 0;
}

static int create_node(struct bg_ext4 *img, const char *path, uint32_t type,
                       const struct bg_ext4_source *src, const char *target,
                       const struct bg_meta *m, int flags, struct bg_error *err)
{
  size_t tl = target ? strlen(target) : 0, made = 0;

  if (bg_ext4_need_write(img, path, err) != 0)
    return -1;
  if (type == LINUX_S_IFLNK && (tl == 0 || tl >= img->fs->blocksize || tl >= BG_TREE_PATH_MAX))
    return bg_error_set(err, BG_EINVAL, "%s: symlink target of %zu bytes; this image holds "
                        "1 to %u", path, tl, (img->fs->blocksize < BG_TREE_PATH_MAX
                                                  ? img->fs->blocksize : BG_TREE_PATH_MAX) - 1);
  if ((flags & BG_PARENTS) && make_parents(img, path, &made, err) != 0)
    return -1;
  if (place_node(img, path, type, src, target, m, flags, err) != 0) {
    unmake_dirs(img, path, made); /* the directories made on the way go too */
    return -1;
  }
  return bg_ext4_writes_ok(img, img->path, err);
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
