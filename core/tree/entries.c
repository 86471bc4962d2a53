/* Making and removing entries by path, with the layer rules: a directory over a directory
 * changes attributes, anything else replaces what was there. */
#include <string.h>

#include "tree_internal.h"

/* Finds where path goes and removes what is there, unless both are directories. Returns the
 * existing directory node in *keep in that case. */
static int prepare(struct bg_tree *t, const char *path, int flags, int is_dir,
                   const struct bg_time *when, struct bg_node **dir, char *last,
                   struct bg_node **keep, struct bg_error *err)
{
  struct bg_node *old;

  *keep = NULL;
  if (bg_tree_parent(t, path, flags & BG_PARENTS, when, dir, last, err) != 0)
    return -1;
  old = bg_node_child(*dir, last, strlen(last));
  if (old == NULL)
    return 0;
  if (is_dir && S_ISDIR(old->inode->mode)) {
    *keep = old;
    return 0;
  }
  bg_tree_remove_node(t, old);
  return 0;
}

static int is_root_path(struct bg_tree *t, const char *path)
{
  struct bg_resolved r;
  struct bg_error e;

  bg_error_clear(&e);
  return bg_tree_resolve(t, path, 0, NULL, &r, &e) == 0 && r.node == t->root &&
         r.last[0] == '\0';
}

int bg_tree_mkdir(struct bg_tree *t, const char *path, const struct bg_meta *m, int flags,
                  struct bg_node **out, struct bg_error *err)
{
  struct bg_node *dir, *keep, *n;
  char last[BG_TREE_NAME_MAX + 1];

  if (is_root_path(t, path)) {
    if (!(flags & BG_KEEP))
      bg_inode_set_attrs(t->root->inode, m);
    n = t->root;
    goto done;
  }
  if (prepare(t, path, flags, 1, &m->mtime, &dir, last, &keep, err) != 0)
    return -1;
  if (keep != NULL) {
    if (!(flags & BG_KEEP))
      bg_inode_set_attrs(keep->inode, m);
    n = keep;
    goto done;
  }
  n = bg_tree_new_dir(t, dir, last, strlen(last), m, err);
  if (n == NULL)
    return -1;
done:
  if (out != NULL)
    *out = n;
  return 0;
}

static int add_inode(struct bg_tree *t, const char *path, struct bg_inode *ino, int flags,
                     struct bg_node **out, struct bg_error *err)
{
  struct bg_node *dir, *keep, *n;
  char last[BG_TREE_NAME_MAX + 1];

  if (prepare(t, path, flags, 0, &ino->mtime, &dir, last, &keep, err) != 0)
    goto fail;
  n = bg_tree_node_new(t, dir, last, strlen(last), ino, err);
  if (n == NULL)
    goto fail;
  if (out != NULL)
    *out = n;
  return 0;
fail:
  bg_inode_free(ino);
  return -1;
}

int bg_tree_add_file(struct bg_tree *t, const char *path, const struct bg_meta *m,
                     struct bg_content *content, uint64_t size, int flags, struct bg_node **out,
                     struct bg_error *err)
{
  struct bg_inode *ino = bg_inode_new(S_IFREG, m);

  if (ino == NULL) {
    bg_content_clear(content);
    return bg_error_set(err, BG_ENOMEM, "out of memory adding %s", path);
  }
  if (content != NULL) {
    ino->content = *content;
    memset(content, 0, sizeof(*content));
  }
  ino->size = size;
  return add_inode(t, path, ino, flags, out, err);
}

int bg_tree_symlink(struct bg_tree *t, const char *path, const char *target,
                    const struct bg_meta *m, int flags, struct bg_node **out,
                    struct bg_error *err)
{
  struct bg_inode *ino;
  size_t len = strlen(target);

  if (len == 0)
    return bg_error_set(err, BG_EINVAL, "%s: empty symlink target", path);
  if (len > BG_TREE_SYMLINK_MAX)
    return bg_error_set(err, BG_ETOOBIG, "%s: symlink target too long (%zu bytes, at most %d)",
                        path, len, BG_TREE_SYMLINK_MAX);
  ino = bg_inode_new(S_IFLNK, m);
  if (ino == NULL || (ino->target = strdup(target)) == NULL) {
    if (ino != NULL)
      bg_inode_free(ino);
    return bg_error_set(err, BG_ENOMEM, "out of memory adding %s", path);
  }
  ino->size = len;
  return add_inode(t, path, ino, flags, out, err);
}

int bg_tree_mknod(struct bg_tree *t, const char *path, uint32_t type, const struct bg_meta *m,
                  uint32_t major, uint32_t minor, int flags, struct bg_node **out,
                  struct bg_error *err)
{
  struct bg_inode *ino;

  if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO && type != S_IFSOCK)
    return bg_error_set(err, BG_EINVAL, "%s: not a device, fifo or socket type", path);
  if (major > BG_DEV_MAJOR_MAX || minor > BG_DEV_MINOR_MAX)
    return bg_error_set(err, BG_EINVAL,
                        "%s: device %u:%u cannot be encoded (major at most %u, minor at most "
                        "%u)", path, major, minor, BG_DEV_MAJOR_MAX, BG_DEV_MINOR_MAX);
  ino = bg_inode_new(type, m);
  if (ino == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory adding %s", path);
  ino->rdev_major = major;
  ino->rdev_minor = minor;
  return add_inode(t, path, ino, flags, out, err);
}

int bg_tree_link(struct bg_tree *t, const char *path, const char *existing, int flags,
                 struct bg_node **out, struct bg_error *err)
{
  struct bg_node *src = NULL, *dir, *keep, *n;
  struct bg_inode *ino;
  char last[BG_TREE_NAME_MAX + 1];
  int rc = -1;

  if (bg_tree_lookup(t, existing, 0, &src, err) != 0)
    return bg_error_prefix(err, "hardlink %s", path);
  ino = src->inode;
  if (S_ISDIR(ino->mode))
    return bg_error_set(err, BG_EINVAL, "hardlink %s: %s is a directory", path, existing);
  ino->nlink++; /* hold the inode while whatever is at path goes */
  if (prepare(t, path, flags, 0, &ino->mtime, &dir, last, &keep, err) != 0)
    goto out;
  n = bg_tree_node_new(t, dir, last, strlen(last), ino, err);
  if (n == NULL)
    goto out;
  if (out != NULL)
    *out = n;
  rc = 0;
out:
  bg_inode_unref(ino);
  return rc;
}

int bg_tree_remove(struct bg_tree *t, const char *path, struct bg_error *err)
{
  struct bg_resolved r;

  if (bg_tree_resolve(t, path, 0, NULL, &r, err) != 0)
    return -1;
  if (r.node == t->root || r.last[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "%s: cannot remove the root", path);
  if (r.node == NULL)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  bg_tree_remove_node(t, r.node);
  return 0;
}
