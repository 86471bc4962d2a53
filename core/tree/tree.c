/* The merged filesystem tree: nodes, inodes, chroot-style path resolution, removal. */
#include "tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tree_internal.h"

#define DEFAULT_MAX_ENTRIES 8000000u
#define DEFAULT_MAX_SPOOL ((uint64_t)256 << 30)

struct bg_dirindex {
  struct bg_node **slots; /* open addressing; NULL empty, TOMBSTONE removed */
  uint32_t cap;           /* a power of two, or 0 */
  uint32_t count;
  uint32_t used;          /* count + tombstones */
  struct bg_node **sorted;
  size_t nsorted;
  int sorted_valid;
};

static struct bg_node tombstone_node;
#define TOMBSTONE (&tombstone_node)

/* ---- inodes ---- */

static struct bg_inode *inode_new(uint32_t mode, const struct bg_meta *m)
{
  struct bg_inode *ino = calloc(1, sizeof(*ino));

  if (ino == NULL)
    return NULL;
  ino->mode = mode | (m->mode & 07777);
  ino->uid = m->uid;
  ino->gid = m->gid;
  ino->mtime = m->mtime;
  ino->atime = m->atime;
  ino->ctime = m->ctime;
  return ino;
}

void bg_content_clear(struct bg_content *c)
{
  free(c->mem);
  free(c->host_path);
  memset(c, 0, sizeof(*c));
}

static void inode_free(struct bg_inode *ino)
{
  uint32_t i;

  for (i = 0; i < ino->nxattrs; i++) {
    free(ino->xattrs[i].name);
    free(ino->xattrs[i].value);
  }
  free(ino->xattrs);
  free(ino->target);
  bg_content_clear(&ino->content);
  free(ino);
}

static void inode_unref(struct bg_inode *ino)
{
  if (--ino->nlink == 0)
    inode_free(ino);
}

/* ---- directory index ---- */

static uint32_t hash_name(const char *name, size_t len)
{
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= (unsigned char)name[i];
    h *= 16777619u;
  }
  return h;
}

static int index_resize(struct bg_dirindex *d, uint32_t cap)
{
  struct bg_node **old = d->slots;
  uint32_t oldcap = d->cap, i, j;
  struct bg_node *n;

  d->slots = calloc(cap, sizeof(*d->slots));
  if (d->slots == NULL) {
    d->slots = old;
    return -1;
  }
  d->cap = cap;
  d->used = d->count;
  for (i = 0; i < oldcap; i++) {
    n = old[i];
    if (n == NULL || n == TOMBSTONE)
      continue;
    j = hash_name(n->name, n->namelen) & (cap - 1);
    while (d->slots[j] != NULL)
      j = (j + 1) & (cap - 1);
    d->slots[j] = n;
  }
  free(old);
  return 0;
}

struct bg_node *bg_node_child(struct bg_node *dir, const char *name, size_t len)
{
  struct bg_dirindex *d = dir->children;
  struct bg_node *n;
  uint32_t j;

  if (d == NULL || d->cap == 0)
    return NULL;
  j = hash_name(name, len) & (d->cap - 1);
  while ((n = d->slots[j]) != NULL) {
    if (n != TOMBSTONE && n->namelen == len && memcmp(n->name, name, len) == 0)
      return n;
    j = (j + 1) & (d->cap - 1);
  }
  return NULL;
}

static int index_insert(struct bg_dirindex *d, struct bg_node *node)
{
  uint32_t j;

  if ((uint64_t)(d->used + 1) * 4 > (uint64_t)d->cap * 3) {
    uint32_t cap = d->cap ? d->cap : 8;
    while ((uint64_t)(d->count + 1) * 2 > cap)
      cap *= 2;
    if (index_resize(d, cap) != 0)
      return -1;
  }
  j = hash_name(node->name, node->namelen) & (d->cap - 1);
  while (d->slots[j] != NULL && d->slots[j] != TOMBSTONE)
    j = (j + 1) & (d->cap - 1);
  if (d->slots[j] == NULL)
    d->used++;
  d->slots[j] = node;
  d->count++;
  d->sorted_valid = 0;
  return 0;
}

static void index_delete(struct bg_dirindex *d, struct bg_node *node)
{
  uint32_t j;

  if (d->cap == 0)
    return;
  j = hash_name(node->name, node->namelen) & (d->cap - 1);
  while (d->slots[j] != NULL) {
    if (d->slots[j] == node) {
      d->slots[j] = TOMBSTONE;
      d->count--;
      d->sorted_valid = 0;
      return;
    }
    j = (j + 1) & (d->cap - 1);
  }
}

static void index_free(struct bg_dirindex *d)
{
  if (d == NULL)
    return;
  free(d->slots);
  free(d->sorted);
  free(d);
}

static int cmp_nodes(const void *a, const void *b)
{
  const struct bg_node *x = *(struct bg_node *const *)a;
  const struct bg_node *y = *(struct bg_node *const *)b;
  size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
  int c = memcmp(x->name, y->name, n);

  if (c != 0)
    return c;
  return x->namelen < y->namelen ? -1 : x->namelen > y->namelen;
}

struct bg_node *const *bg_node_children(struct bg_node *dir, size_t *n)
{
  struct bg_dirindex *d = dir->children;
  struct bg_node **p;
  uint32_t i;
  size_t k = 0;

  *n = 0;
  if (d == NULL || d->count == 0)
    return NULL;
  if (!d->sorted_valid) {
    p = realloc(d->sorted, d->count * sizeof(*p));
    if (p == NULL)
      return NULL;
    d->sorted = p;
    for (i = 0; i < d->cap; i++)
      if (d->slots[i] != NULL && d->slots[i] != TOMBSTONE)
        p[k++] = d->slots[i];
    qsort(p, k, sizeof(*p), cmp_nodes);
    d->nsorted = k;
    d->sorted_valid = 1;
  }
  *n = d->nsorted;
  return d->sorted;
}

/* ---- the tree ---- */

struct bg_tree *bg_tree_new(const struct bg_tree_limits *limits, struct bg_error *err)
{
  struct bg_tree *t = calloc(1, sizeof(*t));
  struct bg_meta m;

  if (t == NULL)
    goto nomem;
  t->limits.max_entries = DEFAULT_MAX_ENTRIES;
  t->limits.max_spool_bytes = DEFAULT_MAX_SPOOL;
  if (limits != NULL && limits->max_entries != 0)
    t->limits.max_entries = limits->max_entries;
  if (limits != NULL && limits->max_spool_bytes != 0)
    t->limits.max_spool_bytes = limits->max_spool_bytes;
  t->spool_fd = -1;
  t->host_fd = -1;
  memset(&m, 0, sizeof(m));
  m.mode = 0755;
  t->root = calloc(1, sizeof(*t->root));
  if (t->root == NULL)
    goto nomem;
  t->root->name = strdup("");
  t->root->parent = t->root;
  t->root->inode = inode_new(S_IFDIR, &m);
  t->root->children = calloc(1, sizeof(struct bg_dirindex));
  if (t->root->name == NULL || t->root->inode == NULL || t->root->children == NULL)
    goto nomem;
  t->root->inode->nlink = 1;
  return t;
nomem:
  bg_error_set(err, BG_ENOMEM, "out of memory creating a tree");
  bg_tree_free(t);
  return NULL;
}

struct bg_node *bg_tree_root(struct bg_tree *t)
{
  return t->root;
}

uint64_t bg_tree_entries(const struct bg_tree *t)
{
  return t->entries;
}

/* Frees node and everything below it, without recursion. The node must already be detached. */
static void free_subtree(struct bg_tree *t, struct bg_node *node)
{
  struct bg_node **stack = NULL, **p;
  size_t n = 0, cap = 0;
  struct bg_node *cur;
  struct bg_dirindex *d;
  uint32_t i;

  cur = node;
  for (;;) {
    d = cur->children;
    if (d != NULL) {
      for (i = 0; i < d->cap; i++) {
        if (d->slots[i] == NULL || d->slots[i] == TOMBSTONE)
          continue;
        if (n == cap) {
          cap = cap ? cap * 2 : 64;
          p = realloc(stack, cap * sizeof(*p));
          if (p == NULL)
            abort(); /* cannot free without memory to track what to free */
          stack = p;
        }
        stack[n++] = d->slots[i];
      }
      index_free(d);
    }
    if (cur != t->root)
      t->entries--;
    inode_unref(cur->inode);
    free(cur->name);
    free(cur);
    if (n == 0)
      break;
    cur = stack[--n];
  }
  free(stack);
}

void bg_tree_remove_node(struct bg_tree *t, struct bg_node *node)
{
  if (node == t->root)
    return;
  index_delete(node->parent->children, node);
  free_subtree(t, node);
}

void bg_tree_free(struct bg_tree *t)
{
  if (t == NULL)
    return;
  if (t->root != NULL) {
    t->root->parent = NULL;
    free_subtree(t, t->root);
  }
  bg_spool_close(t);
  free(t);
}

static struct bg_node *node_new(struct bg_tree *t, struct bg_node *dir, const char *name,
                                size_t len, struct bg_inode *ino, struct bg_error *err)
{
  struct bg_node *n;

  if (t->entries >= t->limits.max_entries) {
    bg_error_set(err, BG_ETOOBIG, "too many entries: the limit is %llu",
                 (unsigned long long)t->limits.max_entries);
    return NULL;
  }
  n = calloc(1, sizeof(*n));
  if (n == NULL)
    goto nomem;
  n->name = malloc(len + 1);
  if (n->name == NULL)
    goto nomem;
  memcpy(n->name, name, len);
  n->name[len] = '\0';
  n->namelen = (uint32_t)len;
  n->parent = dir;
  if (S_ISDIR(ino->mode)) {
    n->children = calloc(1, sizeof(*n->children));
    if (n->children == NULL)
      goto nomem;
  }
  if (index_insert(dir->children, n) != 0)
    goto nomem;
  n->inode = ino;
  ino->nlink++;
  t->entries++;
  return n;
nomem:
  if (n != NULL) {
    free(n->name);
    index_free(n->children);
    free(n);
  }
  bg_error_set(err, BG_ENOMEM, "out of memory adding an entry");
  return NULL;
}

/* ---- paths ---- */

/* Appends the components of src to dst (at *len), dropping empty and "." components, so the
 * result is "a/b/c" or "". Components over BG_TREE_NAME_MAX and results over cap fail. */
static int normalise_into(char *dst, size_t *len, size_t cap, const char *src, size_t srclen,
                          struct bg_error *err)
{
  size_t i = 0, s;

  while (i < srclen) {
    while (i < srclen && src[i] == '/')
      i++;
    s = i;
    while (i < srclen && src[i] != '/')
      i++;
    if (i == s || (i - s == 1 && src[s] == '.'))
      continue;
    if (i - s > BG_TREE_NAME_MAX)
      return bg_error_set(err, BG_EINVAL, "path component too long (%zu bytes, at most %d)",
                          i - s, BG_TREE_NAME_MAX);
    if (*len + (*len ? 1 : 0) + (i - s) + 1 > cap)
      return bg_error_set(err, BG_ETOOBIG, "path too long");
    if (*len)
      dst[(*len)++] = '/';
    memcpy(dst + *len, src + s, i - s);
    *len += i - s;
    dst[*len] = '\0';
  }
  if (*len < cap)
    dst[*len] = '\0';
  return 0;
}

struct resolved {
  struct bg_node *dir;  /* directory holding the last component */
  struct bg_node *node; /* what the path names, or NULL if the last component is missing */
  char last[BG_TREE_NAME_MAX + 1]; /* "" when the path names the root or ends in ".." */
};

/* The one resolver: chroot semantics, symlinks followed on the way (and at the end with
 * BG_FOLLOW), missing directories created with BG_PARENTS. */
static int resolve(struct bg_tree *t, const char *path, int flags, const struct bg_time *when,
                   struct resolved *r, struct bg_error *err)
{
  char buf[2 * BG_TREE_PATH_MAX + 2];
  char tmp[2 * BG_TREE_PATH_MAX + 2];
  struct bg_node *cur = t->root, *child;
  size_t len = 0, pos = 0, s, e, tl;
  int hops = 0, is_last;
  struct bg_meta m;

  if (strlen(path) > BG_TREE_PATH_MAX)
    return bg_error_set(err, BG_ETOOBIG, "path too long (%zu bytes)", strlen(path));
  buf[0] = '\0';
  if (normalise_into(buf, &len, sizeof(buf), path, strlen(path), err) != 0)
    return -1;
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
    if (e - s == 2 && buf[s] == '.' && buf[s + 1] == '.') {
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
    if (child != NULL && S_ISLNK(child->inode->mode) && (!is_last || (flags & BG_FOLLOW))) {
      if (++hops > BG_TREE_MAX_HOPS)
        return bg_error_set(err, BG_EINVAL, "%s: too many levels of symbolic links", path);
      if (child->inode->target != NULL && child->inode->target[0] == '/')
        cur = t->root;
      /* the rest of the path goes after the target */
      memcpy(tmp, buf + pos, len - pos);
      tl = len - pos;
      len = 0;
      buf[0] = '\0';
      if (normalise_into(buf, &len, sizeof(buf), child->inode->target,
                         strlen(child->inode->target), err) != 0)
        return -1;
      if (normalise_into(buf, &len, sizeof(buf), tmp, tl, err) != 0)
        return -1;
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
  struct resolved r;

  if (resolve(t, path, flags & BG_FOLLOW, NULL, &r, err) != 0)
    return -1;
  if (r.node == NULL)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  *out = r.node;
  return 0;
}

int bg_tree_parent(struct bg_tree *t, const char *path, int flags, const struct bg_time *when,
                   struct bg_node **dir, char *last, struct bg_error *err)
{
  struct resolved r;

  if (resolve(t, path, flags & BG_PARENTS, when, &r, err) != 0)
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
  size_t need = 0, pos;

  if (node->parent == node) {
    if (size < 2)
      return bg_error_set(err, BG_ETOOBIG, "path buffer too small");
    memcpy(buf, "/", 2);
    return 0;
  }
  for (n = node; n->parent != n; n = n->parent)
    need += 1 + n->namelen;
  if (need + 1 > size)
    return bg_error_set(err, BG_ETOOBIG, "path too long for its buffer (%zu bytes)", need);
  pos = need;
  buf[pos] = '\0';
  for (n = node; n->parent != n; n = n->parent) {
    pos -= n->namelen;
    memcpy(buf + pos, n->name, n->namelen);
    buf[--pos] = '/';
  }
  return 0;
}

/* ---- creating entries ---- */

struct bg_node *bg_tree_new_dir(struct bg_tree *t, struct bg_node *dir, const char *name,
                                size_t len, const struct bg_meta *m, struct bg_error *err)
{
  struct bg_inode *ino = inode_new(S_IFDIR, m);
  struct bg_node *n;

  if (ino == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory adding a directory");
    return NULL;
  }
  n = node_new(t, dir, name, len, ino, err);
  if (n == NULL)
    inode_free(ino);
  return n;
}

static void set_attrs(struct bg_inode *ino, const struct bg_meta *m)
{
  ino->mode = (ino->mode & S_IFMT) | (m->mode & 07777);
  ino->uid = m->uid;
  ino->gid = m->gid;
  ino->mtime = m->mtime;
  ino->atime = m->atime;
  ino->ctime = m->ctime;
}

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
  struct resolved r;
  struct bg_error e;

  bg_error_clear(&e);
  return resolve(t, path, 0, NULL, &r, &e) == 0 && r.node == t->root && r.last[0] == '\0';
}

int bg_tree_mkdir(struct bg_tree *t, const char *path, const struct bg_meta *m, int flags,
                  struct bg_node **out, struct bg_error *err)
{
  struct bg_node *dir, *keep, *n;
  char last[BG_TREE_NAME_MAX + 1];

  if (is_root_path(t, path)) {
    if (!(flags & BG_KEEP))
      set_attrs(t->root->inode, m);
    n = t->root;
    goto done;
  }
  if (prepare(t, path, flags, 1, &m->mtime, &dir, last, &keep, err) != 0)
    return -1;
  if (keep != NULL) {
    if (!(flags & BG_KEEP))
      set_attrs(keep->inode, m);
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
  n = node_new(t, dir, last, strlen(last), ino, err);
  if (n == NULL)
    goto fail;
  if (out != NULL)
    *out = n;
  return 0;
fail:
  inode_free(ino);
  return -1;
}

int bg_tree_add_file(struct bg_tree *t, const char *path, const struct bg_meta *m,
                     struct bg_content *content, uint64_t size, int flags, struct bg_node **out,
                     struct bg_error *err)
{
  struct bg_inode *ino = inode_new(S_IFREG, m);

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
  if (len > BG_TREE_PATH_MAX)
    return bg_error_set(err, BG_ETOOBIG, "%s: symlink target too long (%zu bytes)", path, len);
  ino = inode_new(S_IFLNK, m);
  if (ino == NULL || (ino->target = strdup(target)) == NULL) {
    if (ino != NULL)
      inode_free(ino);
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
  ino = inode_new(type, m);
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
  n = node_new(t, dir, last, strlen(last), ino, err);
  if (n == NULL)
    goto out;
  if (out != NULL)
    *out = n;
  rc = 0;
out:
  inode_unref(ino);
  return rc;
}

int bg_tree_remove(struct bg_tree *t, const char *path, struct bg_error *err)
{
  struct resolved r;

  if (resolve(t, path, 0, NULL, &r, err) != 0)
    return -1;
  if (r.node == t->root || r.last[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "%s: cannot remove the root", path);
  if (r.node == NULL)
    return bg_error_set(err, BG_ENOTFOUND, "%s: no such file or directory", path);
  bg_tree_remove_node(t, r.node);
  return 0;
}

/* ---- layers ---- */

uint32_t bg_tree_begin_layer(struct bg_tree *t)
{
  return ++t->gen;
}

uint32_t bg_tree_layer_gen(const struct bg_tree *t)
{
  return t->gen;
}

void bg_tree_touch(struct bg_tree *t, struct bg_node *node)
{
  /* stops at the first ancestor already marked: each name is marked once per layer */
  while (node->gen != t->gen) {
    node->gen = t->gen;
    if (node->parent == node)
      break;
    node = node->parent;
  }
}

/* ---- walking ---- */

int bg_tree_walk(struct bg_tree *t, bg_tree_visit_fn fn, void *ctx)
{
  struct bg_node **stack = NULL, **p;
  struct bg_node *const *kids;
  size_t n = 0, cap = 0, k, i;
  struct bg_node *cur;
  int rc = 0;

  cur = t->root;
  for (;;) {
    rc = fn(cur, ctx);
    if (rc != 0)
      break;
    if (cur->children != NULL) {
      kids = bg_node_children(cur, &k);
      if (k > 0 && kids == NULL) {
        rc = -1;
        break;
      }
      if (n + k > cap) {
        cap = (n + k) * 2;
        p = realloc(stack, cap * sizeof(*p));
        if (p == NULL) {
          rc = -1;
          break;
        }
        stack = p;
      }
      /* pushed in reverse so the smallest name comes off first */
      for (i = k; i > 0; i--)
        stack[n++] = kids[i - 1];
    }
    if (n == 0)
      break;
    cur = stack[--n];
  }
  free(stack);
  return rc;
}

/* ---- xattrs ---- */

int bg_inode_set_xattr(struct bg_inode *ino, const char *name, const void *value, size_t len,
                       struct bg_error *err)
{
  struct bg_xattr *x;
  uint32_t i, j;
  int c;

  for (i = 0; i < ino->nxattrs; i++) {
    c = strcmp(ino->xattrs[i].name, name);
    if (c == 0)
      break;
    if (c > 0)
      break;
  }
  if (i < ino->nxattrs && strcmp(ino->xattrs[i].name, name) == 0) {
    if (value == NULL) {
      free(ino->xattrs[i].name);
      free(ino->xattrs[i].value);
      for (j = i + 1; j < ino->nxattrs; j++)
        ino->xattrs[j - 1] = ino->xattrs[j];
      ino->nxattrs--;
      return 0;
    }
    x = &ino->xattrs[i];
    free(x->value);
    x->value = NULL;
  } else {
    if (value == NULL)
      return 0;
    x = realloc(ino->xattrs, (ino->nxattrs + 1) * sizeof(*x));
    if (x == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory setting xattr %s", name);
    ino->xattrs = x;
    for (j = ino->nxattrs; j > i; j--)
      ino->xattrs[j] = ino->xattrs[j - 1];
    ino->nxattrs++;
    x = &ino->xattrs[i];
    x->name = strdup(name);
    x->value = NULL;
    if (x->name == NULL) {
      for (j = i + 1; j < ino->nxattrs; j++)
        ino->xattrs[j - 1] = ino->xattrs[j];
      ino->nxattrs--;
      return bg_error_set(err, BG_ENOMEM, "out of memory setting xattr %s", name);
    }
  }
  x->value = malloc(len ? len : 1);
  if (x->value == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory setting xattr %s", name);
  memcpy(x->value, value, len);
  x->len = len;
  return 0;
}

/* ---- stats ---- */

struct stats_ctx {
  struct bg_tree_stats *s;
  uint64_t bs;
  uint64_t mark;
};

static uint64_t blocks_for(uint64_t bytes, uint64_t bs)
{
  return (bytes + bs - 1) / bs;
}

static int stats_visit(struct bg_node *node, void *ctx)
{
  struct stats_ctx *c = ctx;
  struct bg_inode *ino = node->inode;
  struct bg_node *const *kids;
  uint64_t dirbytes = 0, xbytes = 0;
  size_t k, i;

  c->s->entries++;
  /* a hardlinked inode is counted at its first name only */
  if (ino->user == (void *)&c->mark)
    return 0;
  if (ino->nlink > 1)
    ino->user = (void *)&c->mark;
  c->s->inodes++;
  for (i = 0; i < ino->nxattrs; i++)
    xbytes += 16 + strlen(ino->xattrs[i].name) + ino->xattrs[i].len;
  if (xbytes > 100) /* what does not fit beside a 256-byte inode takes a block */
    c->s->data_blocks += 1;
  if (S_ISREG(ino->mode)) {
    c->s->files++;
    c->s->bytes += ino->size;
    c->s->data_blocks += blocks_for(ino->size, c->bs);
    /* past four extents of 128 MiB an extent index block is needed */
    if (ino->size > ((uint64_t)4 << 27))
      c->s->data_blocks += 1 + ino->size / ((uint64_t)340 << 27);
  } else if (S_ISDIR(ino->mode)) {
    c->s->dirs++;
    kids = bg_node_children(node, &k);
    for (i = 0; i < k; i++)
      dirbytes += 8 + ((kids[i]->namelen + 3) & ~(uint64_t)3);
    /* "." and "..", leaf slack of a quarter, and hash-tree index blocks for big directories */
    dirbytes = 24 + dirbytes + dirbytes / 4;
    c->s->data_blocks += blocks_for(dirbytes, c->bs);
    if (dirbytes > c->bs)
      c->s->data_blocks += 1 + blocks_for(dirbytes, c->bs) / 500;
  } else if (S_ISLNK(ino->mode)) {
    c->s->symlinks++;
    if (ino->size >= 60)
      c->s->data_blocks += 1;
  } else {
    c->s->specials++;
  }
  return 0;
}

static int clear_mark(struct bg_node *node, void *ctx)
{
  node->inode->user = NULL;
  return 0;
}

void bg_tree_stats(struct bg_tree *t, uint32_t block_size, struct bg_tree_stats *s)
{
  struct stats_ctx c;

  memset(s, 0, sizeof(*s));
  c.s = s;
  c.bs = block_size ? block_size : 4096;
  bg_tree_walk(t, stats_visit, &c);
  bg_tree_walk(t, clear_mark, NULL);
}
