/* What sizing an image needs to know about a tree. */
#include <string.h>

#include "tree_internal.h"

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
  uint64_t dirbytes = 0, xbytes = 0, blocks, holes;
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
    blocks = blocks_for(ino->size, c->bs);
    /* blocks of zeros become holes: a 4 KiB one is 4096 / bs of them */
    holes = ino->zero_blocks * (4096 / c->bs);
    c->s->data_blocks += holes < blocks ? blocks - holes : 0;
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
