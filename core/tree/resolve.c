/* Resolving paths inside the tree the way a chroot would, and the paths of nodes. */
#include <string.h>

#include "tree_internal.h"

int bg_tree_resolve(struct bg_tree *t, const char *path, int flags, const struct bg_time *when,
                    struct bg_resolved *r, struct bg_error *err)
{
  /* a target and the rest of the path after it */
  char buf[2 * BG_PATH_MAX + 2];
  char tmp[2 * BG_PATH_MAX + 2];
  struct bg_node *cur = t->root, *child;
  size_t len = 0, pos = 0, s, e, tl, plen = strlen(path);
  int hops = 0, is_last, problem;
  struct bg_meta m;

  problem = bg_path_clean(path, plen, BG_PATH_API, buf, BG_PATH_MAX, &len);
  if (problem != BG_PATH_OK)
    return bg_path_error(err, problem, path, plen, path);
  r->dir = t->root;
  r->node = t->root;
  r->last[0] = '\0';
  while (pos < len) {
    s = pos;
    e = s;
    while (e < len && buf[e] != '/')
      e++;
    pos = e < len ? e + 1 : e;
    is_last = pos >= len;
    if (e - s == 2 && buf[s] == '.' && buf[s + 1] == '.') { /* from a symlink's target */
      cur = cur->parent;
      if (is_last) {
        r->dir = cur;
        r->node = cur;
        r->last[0] = '\0';
      }
      continue;
    }
    child = bg_node_child(cur, buf + s, e - s);
    if (child == NULL && !is_last) {
      if (!(flags & BG_PARENTS))
        return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
      memset(&m, 0, sizeof(m));
      m.mode = 0755;
      if (when != NULL)
        m.mtime = m.atime = m.ctime = *when;
      child = bg_tree_new_dir(t, cur, buf + s, e - s, &m, err);
      if (child == NULL)
        return -1;
    }
    if (child != NULL && S_ISLNK(child->inode->mode) && !(flags & BG_EXACT) &&
        (!is_last || (flags & BG_FOLLOW))) {
      if (++hops > BG_TREE_MAX_HOPS)
        return bg_error_set(err, BG_EINVAL, "%s: too many levels of symbolic links", path);
      if (child->inode->target != NULL && child->inode->target[0] == '/')
        cur = t->root;
      /* the rest of the path goes after the target */
      tl = len - pos;
      memcpy(tmp, buf + pos, tl);
      len = 0;
      problem = bg_path_append(buf, sizeof(buf), &len, child->inode->target,
                               strlen(child->inode->target), 0);
      if (problem == BG_PATH_OK)
        problem = bg_path_append(buf, sizeof(buf), &len, tmp, tl, 0);
      if (problem != BG_PATH_OK)
        return bg_path_error(err, problem, child->inode->target, strlen(child->inode->target),
                             path);
      pos = 0;
      if (len == 0) {
        r->dir = cur;
        r->node = cur;
        r->last[0] = '\0';
      }
      continue;
    }
    if (is_last) {
      r->dir = cur;
      r->node = child;
      memcpy(r->last, buf + s, e - s);
      r->last[e - s] = '\0';
      break;
    }
    if (!S_ISDIR(child->inode->mode))
      return bg_error_set(err, BG_EINVAL, "%s: %.*s is not a directory", path, (int)e, buf);
    cur = child;
  }
  if (len == 0 && hops == 0) {
    r->dir = t->root;
    r->node = t->root;
  }
  return 0;
}

int bg_tree_lookup(struct bg_tree *t, const char *path, int flags, struct bg_node **out,
                   struct bg_error *err)
{
  struct bg_resolved r;

  if (bg_tree_resolve(t, path, flags & (BG_FOLLOW | BG_EXACT), NULL, &r, err) != 0)
    return -1;
  if (r.node == NULL)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  *out = r.node;
  return 0;
}

int bg_tree_parent(struct bg_tree *t, const char *path, int flags, const struct bg_time *when,
                   struct bg_node **dir, char *last, struct bg_error *err)
{
  struct bg_resolved r;

  if (bg_tree_resolve(t, path, flags & BG_PARENTS, when, &r, err) != 0)
    return -1;
  if (r.last[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "%s: names a directory, not an entry in one", path);
  *dir = r.dir;
  memcpy(last, r.last, strlen(r.last) + 1);
  return 0;
}

int bg_node_path(const struct bg_node *node, char *buf, size_t size, struct bg_error *err)
{
  const struct bg_node *n;
  size_t pos;

  if (node->parent == node) {
    if (size < 2)
      return bg_error_set(err, BG_ETOOBIG, "path buffer too small");
    memcpy(buf, "/", 2);
    return 0;
  }
  if ((size_t)node->pathlen + 1 > size)
    return bg_error_set(err, BG_ETOOBIG, "path too long for its buffer (%u bytes)",
                        node->pathlen);
  pos = node->pathlen;
  buf[pos] = '\0';
  for (n = node; n->parent != n; n = n->parent) {
    pos -= n->namelen;
    memcpy(buf + pos, n->name, n->namelen);
    buf[--pos] = '/';
  }
  return 0;
}
