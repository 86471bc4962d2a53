/* The merged filesystem tree: nodes made and freed, layer generations, notes, walking. Making
 * and removing entries by path is entries.c. */
#include "tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree_internal.h"

#define DEFAULT_MAX_ENTRIES 8000000u
#define DEFAULT_MAX_SPOOL ((uint64_t)256 << 30)

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
  t->host_fd = -1;
  memset(&m, 0, sizeof(m));
  m.mode = 0755;
  t->root = calloc(1, sizeof(*t->root) + 1);
  if (t->root == NULL)
    goto nomem;
  t->root->parent = t->root;
  t->root->inode = bg_inode_new(S_IFDIR, &m);
  t->root->children = bg_dirindex_new();
  if (t->root->inode == NULL || t->root->children == NULL)
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

struct stack {
  struct bg_node **v;
  size_t n, cap;
  int failed;
};

static void push(struct stack *s, struct bg_node *node)
{
  struct bg_node **p;

  if (s->n == s->cap) {
    p = realloc(s->v, (s->cap ? s->cap * 2 : 64) * sizeof(*p));
    if (p == NULL) {
      s->failed = 1;
      return;
    }
    s->v = p;
    s->cap = s->cap ? s->cap * 2 : 64;
  }
  s->v[s->n++] = node;
}

static void push_child(struct bg_node *child, void *ctx)
{
  push(ctx, child);
}

/* Frees node and everything below it, without recursion. The node must already be detached. */
static void free_subtree(struct bg_tree *t, struct bg_node *node)
{
  struct stack s = {NULL, 0, 0, 0};
  struct bg_node *cur = node;

  for (;;) {
    if (cur->children != NULL) {
      bg_dirindex_each(cur->children, push_child, &s);
      if (s.failed)
        abort(); /* cannot free without memory to track what to free */
      bg_dirindex_free(cur->children);
    }
    if (cur != t->root)
      t->entries--;
    bg_inode_unref(cur->inode);
    free(cur);
    if (s.n == 0)
      break;
    cur = s.v[--s.n];
  }
  free(s.v);
}

void bg_tree_remove_node(struct bg_tree *t, struct bg_node *node)
{
  if (node == t->root)
    return;
  bg_dirindex_delete(node->parent->children, node);
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
  bg_tree_spools_close(t);
  bg_notes_free(&t->notes);
  free(t);
}

struct bg_node *bg_tree_node_new(struct bg_tree *t, struct bg_node *dir, const char *name,
                                 size_t len, struct bg_inode *ino, struct bg_error *err)
{
  uint64_t pathlen = (uint64_t)dir->pathlen + 1 + len;
  struct bg_node *n;

  if (t->entries >= t->limits.max_entries) {
    bg_error_set(err, BG_ETOOBIG, "too many entries: the limit is %llu",
                 (unsigned long long)t->limits.max_entries);
    return NULL;
  }
  /* deeper names could not be looked up, walked or shown to a recipe: none is made */
  if (pathlen > BG_PATH_MAX) {
    bg_error_set(err, BG_ETOOBIG, "path too long (%llu bytes, at most %d)",
                 (unsigned long long)pathlen, BG_PATH_MAX);
    return NULL;
  }
  n = calloc(1, sizeof(*n) + len + 1);
  if (n == NULL)
    goto nomem;
  memcpy(n->name, name, len);
  n->name[len] = '\0';
  n->namelen = (uint32_t)len;
  n->pathlen = (uint32_t)pathlen;
  n->parent = dir;
  if (S_ISDIR(ino->mode)) {
    n->children = bg_dirindex_new();
    if (n->children == NULL)
      goto nomem;
    n->clean_gen = t->gen; /* nothing below it yet, least of all from a lower layer */
  }
  if (bg_dirindex_insert(dir->children, n) != 0)
    goto nomem;
  n->inode = ino;
  ino->nlink++;
  t->entries++;
  return n;
nomem:
  if (n != NULL) {
    bg_dirindex_free(n->children);
    free(n);
  }
  bg_error_set(err, BG_ENOMEM, "out of memory adding an entry");
  return NULL;
}

struct bg_node *bg_tree_new_dir(struct bg_tree *t, struct bg_node *dir, const char *name,
                                size_t len, const struct bg_meta *m, struct bg_error *err)
{
  struct bg_inode *ino = bg_inode_new(S_IFDIR, m);
  struct bg_node *n;

  if (ino == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory adding a directory");
    return NULL;
  }
  n = bg_tree_node_new(t, dir, name, len, ino, err);
  if (n == NULL)
    bg_inode_free(ino);
  return n;
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

int bg_tree_make_opaque(struct bg_tree *t, struct bg_node *dir, struct bg_error *err)
{
  struct stack dirs = {NULL, 0, 0, 0}, kids = {NULL, 0, 0, 0};
  struct bg_node *d, *k;
  size_t i;
  int rc = -1;

  if (t->gen == 0 || dir->children == NULL || dir->clean_gen == t->gen)
    return 0;
  push(&dirs, dir);
  while (dirs.n > 0 && !dirs.failed) {
    d = dirs.v[--dirs.n];
    if (d->clean_gen == t->gen)
      continue;
    /* removing changes the index: work on a list of the children */
    kids.n = 0;
    bg_dirindex_each(d->children, push_child, &kids);
    if (kids.failed)
      goto out;
    for (i = 0; i < kids.n; i++) {
      k = kids.v[i];
      if (k->gen != t->gen)
        bg_tree_remove_node(t, k);
      else if (k->children != NULL && k->clean_gen != t->gen)
        push(&dirs, k);
    }
    d->clean_gen = t->gen;
  }
  if (!dirs.failed)
    rc = 0;
out:
  if (rc != 0)
    bg_error_set(err, BG_ENOMEM, "out of memory applying a whiteout");
  free(dirs.v);
  free(kids.v);
  return rc;
}

struct bg_tree_layer_totals *bg_tree_layer_totals(struct bg_tree *t)
{
  return &t->layers;
}

/* ---- notes ---- */

int bg_tree_note(struct bg_tree *t, uint32_t layer, int kind, const char *path, const char *fmt,
                 ...)
{
  char detail[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  return bg_notes_add(&t->notes, kind, layer, path, "%s", detail);
}

const struct bg_notes *bg_tree_notes(const struct bg_tree *t)
{
  return &t->notes;
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
