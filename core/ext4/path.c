/* Paths inside an image, resolved the way a chroot would: absolute symlink targets restart at
 * the image root, ".." stops there, more than BG_EXT4_MAX_HOPS symlinks is an error. Nothing an
 * image contains can send a lookup or a write outside it. */
#include <string.h>

#include <ext2fs/ext2_err.h>

#include "ext4_internal.h"
#include "../util/path.h"

/* A symlink's target: in i_block, inline data, or a data block. */
int bg_ext4_link_target(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
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

int bg_ext4_resolve(struct bg_ext4 *img, const char *path, int follow, struct bg_ext4_where *w,
                    struct bg_error *err)
{
  char rest[2 * BG_TREE_PATH_MAX + 2], target[BG_TREE_PATH_MAX + 1], comp[EXT2_NAME_LEN + 1];
  struct ext2_inode_large in;
  ext2_ino_t cur = EXT2_ROOT_INO, next;
  size_t n, len, tl;
  const char *p;
  int hops = 0, last, found, problem;
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
    found = bg_ext4_dir_lookup(img, cur, comp, n, &next, err);
    if (found < 0)
      return -1;
    if (found > 0) {
      if (!last)
        return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
      w->parent = cur;
      memcpy(w->last, comp, n + 1);
      w->ino = 0;
      return 0;
    }
    if (bg_ext4_read_inode(img, next, &in, path, err) != 0)
      return -1;
    if (LINUX_S_ISLNK(in.i_mode) && (!last || follow)) {
      if (++hops > BG_EXT4_MAX_HOPS)
        return bg_error_set(err, BG_EINVAL, "%s: too many levels of symbolic links", path);
      if (bg_ext4_link_target(img, next, &in, target, sizeof(target), path, err) != 0)
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

int bg_ext4_lookup(struct bg_ext4 *img, const char *path, int follow, ext2_ino_t *ino,
                   struct ext2_inode_large *in, struct bg_error *err)
{
  struct bg_ext4_where w;

  if (bg_ext4_resolve(img, path, follow, &w, err) != 0)
    return -1;
  if (w.ino == 0)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  *ino = w.ino;
  return bg_ext4_read_inode(img, w.ino, in, path, err);
}
