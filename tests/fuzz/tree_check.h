/* Invariants every tree must keep whatever was fed into it, checked after each fuzz input:
 * every name is one safe component that its directory finds again, every node's path leads back
 * to it (and fits Linux's PATH_MAX), link counts equal the names that share an inode, file
 * contents read back whole, and what an inode holds (targets, device numbers, xattrs) is what
 * ext4 stores and the kernel shows. */
#ifndef BG_FUZZ_TREE_CHECK_H
#define BG_FUZZ_TREE_CHECK_H

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "tree/tree.h"

struct fuzz_tree_ctx {
  struct bg_tree *t;
  int pass;
  uint64_t names;
};

static int fuzz_tree_visit(struct bg_node *node, void *ctx)
{
  struct fuzz_tree_ctx *c = ctx;
  char path[BG_TREE_PATH_MAX + 1];
  unsigned char buf[4096];
  struct bg_node *found = NULL;
  struct bg_error err;
  uint64_t off = 0;
  uint32_t i;
  size_t got;

  bg_error_clear(&err);
  if (c->pass == 0) {
    node->inode->user = NULL;
    return 0;
  }
  if (c->pass == 2) {
    /* directories carry one name each; everything else as many as share the inode */
    FUZZ_ASSERT(node->inode->nlink == (uint32_t)(uintptr_t)node->inode->user);
    return 0;
  }
  c->names++;
  node->inode->user = (void *)((uintptr_t)node->inode->user + 1);
  FUZZ_ASSERT(node->inode != NULL);
  if (node == bg_tree_root(c->t)) {
    FUZZ_ASSERT(node->parent == node && S_ISDIR(node->inode->mode));
    return 0;
  }
  FUZZ_ASSERT(node->namelen > 0 && node->namelen <= BG_TREE_NAME_MAX);
  FUZZ_ASSERT(strlen(node->name) == node->namelen);
  FUZZ_ASSERT(memchr(node->name, '/', node->namelen) == NULL);
  FUZZ_ASSERT(strcmp(node->name, ".") != 0 && strcmp(node->name, "..") != 0);
  FUZZ_ASSERT(S_ISDIR(node->parent->inode->mode));
  FUZZ_ASSERT(bg_node_child(node->parent, node->name, node->namelen) == node);
  FUZZ_ASSERT(!S_ISDIR(node->inode->mode) || node->inode->nlink == 1);
  /* every name's path fits Linux's PATH_MAX, so a walk or a lookup always reaches it */
  FUZZ_ASSERT(node->pathlen == node->parent->pathlen + 1 + node->namelen);
  FUZZ_ASSERT(node->pathlen <= BG_PATH_MAX);
  FUZZ_ASSERT(bg_node_path(node, path, sizeof(path), &err) == 0);
  FUZZ_ASSERT(bg_tree_lookup(c->t, path, 0, &found, &err) == 0);
  FUZZ_ASSERT(found == node);
  FUZZ_ASSERT(bg_tree_lookup(c->t, path, BG_EXACT, &found, &err) == 0);
  FUZZ_ASSERT(found == node);
  if (S_ISLNK(node->inode->mode))
    FUZZ_ASSERT(node->inode->target != NULL &&
                strlen(node->inode->target) == node->inode->size &&
                node->inode->size <= BG_TREE_SYMLINK_MAX);
  if (S_ISCHR(node->inode->mode) || S_ISBLK(node->inode->mode))
    FUZZ_ASSERT(node->inode->rdev_major <= BG_DEV_MAJOR_MAX &&
                node->inode->rdev_minor <= BG_DEV_MINOR_MAX);
  /* what the image will hold, the kernel can show */
  for (i = 0; i < node->inode->nxattrs; i++)
    FUZZ_ASSERT(bg_xattr_problem(node->inode->xattrs[i].name, strlen(node->inode->xattrs[i].name),
                                 node->inode->xattrs[i].value, node->inode->xattrs[i].len,
                                 node->inode->mode) == NULL);
  if (S_ISREG(node->inode->mode)) {
    for (;;) {
      FUZZ_ASSERT(bg_tree_read(c->t, node->inode, off, buf, sizeof(buf), &got, &err) == 0);
      if (got == 0)
        break;
      off += got;
    }
    FUZZ_ASSERT(off == node->inode->size);
  }
  return 0;
}

static void fuzz_tree_check(struct bg_tree *t)
{
  struct fuzz_tree_ctx c = {t, 0, 0};
  struct bg_tree_stats s;

  bg_tree_walk(t, fuzz_tree_visit, &c);
  c.pass = 1;
  bg_tree_walk(t, fuzz_tree_visit, &c);
  c.pass = 2;
  bg_tree_walk(t, fuzz_tree_visit, &c);
  FUZZ_ASSERT(c.names == bg_tree_entries(t) + 1 || c.names == bg_tree_entries(t));
  bg_tree_stats(t, 4096, &s);
  FUZZ_ASSERT(s.inodes <= c.names);
}

#endif
