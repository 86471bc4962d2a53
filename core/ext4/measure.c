/* The one sizing model. The tree is measured the way the writer writes it (inode numbers,
 * hardlink copies, directory blocks, xattr placement, extent blocks); the image is formatted in
 * memory by the writer's own code, so its free space is exact; the few things the layout decides
 * (where a run of free blocks ends an extent) have a bound. The writer refuses what this model
 * says does not fit, so the size it returns builds and one MiB less fails cleanly. */
#include <stdio.h>
#include <string.h>

#include "ext4_internal.h"

#include <ext2fs/ext2_ext_attr.h>
#include "layout.h"

#define MIB ((uint64_t)1 << 20)
#define MAX_32 0xffffffffULL
#define MANY_EXTENTS 1000 /* past this a file's extent tree can gain a level from one extent */

int bg_ext4_is_lpf(const struct bg_node *node)
{
  return node->parent != node && node->parent->parent == node->parent && node->namelen == 10 &&
         memcmp(node->name, "lost+found", 10) == 0;
}

int bg_ext4_lpf_replaced(const struct bg_node *node)
{
  return bg_ext4_is_lpf(node) && !S_ISDIR(node->inode->mode);
}

/* libext2fs's name prefixes: an xattr entry stores the name without its prefix */
static const char *const xattr_prefixes[] = {
  "gnu.", "system.posix_acl_default", "system.posix_acl_access", "system.richacl", "security.",
  "trusted.", "system.", "user.", NULL,
};

static size_t short_name_len(const char *name)
{
  size_t i, n;

  for (i = 0; xattr_prefixes[i] != NULL; i++) {
    n = strlen(xattr_prefixes[i]);
    if (strncmp(name, xattr_prefixes[i], n) == 0)
      return strlen(name) - n;
  }
  return strlen(name);
}

/* Whether the inode's xattrs need a block: ext2fs_xattr_set puts each one, in the order the
 * writer sets them, in the inode when it fits in what is left there (after `used` bytes, inline
 * data's), else in the block. -1: they fit in neither. */
static int xattr_place(const struct bg_inode *ti, int used, int *block)
{
  int ibody = BG_EXT4_INODE_SIZE - EXT2_GOOD_OLD_INODE_SIZE - BG_EXT4_EXTRA_ISIZE - 8 - used;
  int bfree = BG_EXT4_BLOCK_SIZE - (int)sizeof(struct ext2_ext_attr_header) - 4;
  int need;
  uint32_t i;

  *block = 0;
  for (i = 0; i < ti->nxattrs; i++) {
    if (strncmp(ti->xattrs[i].name, "trusted.overlay.", 16) == 0)
      continue; /* never written */
    /* an ACL shrinks on disk: its size here is an upper bound */
    need = (int)(EXT2_EXT_ATTR_LEN(short_name_len(ti->xattrs[i].name)) +
                 EXT2_EXT_ATTR_SIZE(ti->xattrs[i].len > BG_EXT4_BLOCK_SIZE ? BG_EXT4_BLOCK_SIZE
                                                                           : ti->xattrs[i].len));
    if (need <= ibody) {
      ibody -= need;
    } else if (need <= bfree) {
      bfree -= need;
      *block = 1;
    } else {
      return -1;
    }
  }
  return 0;
}

int bg_ext4_goes_inline(const struct bg_inode *ti)
{
  int block;

  return S_ISREG(ti->mode) && ti->size > 0 && ti->size <= BG_EXT4_INLINE_MAX &&
         xattr_place(ti, (int)bg_ext4_inline_ibody_use(ti->size), &block) == 0;
}

struct mctx {
  struct bg_tree *tree;
  struct bg_ext4_need *nd;
  int own_lpf; /* the image's lost+found is made by the writer */
  int inline_data;
  struct bg_error *err;
};

/* The inode's path for a message, made only when one is needed (a million inodes need none). */
static const char *path_of(struct bg_node *node, char *buf, size_t size)
{
  struct bg_error e;

  bg_error_clear(&e);
  if (bg_node_path(node, buf, size, &e) != 0)
    snprintf(buf, size, "%.*s", (int)node->namelen, node->name);
  return buf;
}

static int dir_cost(struct mctx *c, struct bg_node *node, const char *what, uint64_t *blocks)
{
  struct bg_node *const *kids;
  uint64_t n = 0, sum = 0, nb;
  uint32_t max = 0, rec;
  size_t k, i;
  int root = node->parent == node;

  kids = bg_node_children(node, &k);
  for (i = 0; i < k; i++) {
    if (root && bg_ext4_lpf_replaced(kids[i]))
      continue;
    rec = bg_ext4_rec_len(kids[i]->namelen);
    sum += rec;
    max = rec > max ? rec : max;
    n++;
  }
  if (root && c->own_lpf) {
    rec = bg_ext4_rec_len(10);
    sum += rec;
    max = rec > max ? rec : max;
    n++;
  }
  if (bg_ext4_dir_blocks_bound(n, sum, max, bg_ext4_is_lpf(node) ? 4 : 1, &nb, what, c->err) !=
      0)
    return -1;
  *blocks = nb + bg_ext4_extent_index_blocks((nb + BG_EXT4_EXT_MAX_LEN - 1) /
                                             BG_EXT4_EXT_MAX_LEN);
  return 0;
}

static int file_cost(struct mctx *c, struct bg_node *node, const struct bg_inode *ti,
                     uint64_t *blocks)
{
  char what[BG_TREE_PATH_MAX];
  const uint64_t bs = BG_EXT4_BLOCK_SIZE;
  uint64_t nb = (ti->size + bs - 1) / bs, runs = 1, extents;
  struct bg_ext4_treesrc ts = {c->tree, ti, NULL};
  struct bg_ext4_src src = {bg_ext4_tree_read, bg_ext4_tree_data, &ts, NULL};
  struct bg_ext4_host h;
  int rc;

  /* holes cost nothing: a host file's (SEEK_DATA), and the spool's where the layer had zeros */
  if (ti->content.kind == BG_CONTENT_HOST && ti->size > 0) {
    if (bg_ext4_host_open(&h, ti->content.host_path, NULL, c->err) != 0)
      return bg_error_prefix(c->err, "%s", path_of(node, what, sizeof(what)));
    src.read = bg_ext4_host_read;
    src.data = bg_ext4_host_data;
    src.ctx = &h;
    rc = bg_ext4_extent_count(&src, ti->size, (uint32_t)bs, &nb, &runs, c->err);
    bg_ext4_host_close(&h);
    if (rc != 0)
      return bg_error_prefix(c->err, "%s", path_of(node, what, sizeof(what)));
  } else if (ti->content.kind == BG_CONTENT_SPOOL && ti->zero_blocks > 0) {
    if (bg_ext4_extent_count(&src, ti->size, (uint32_t)bs, &nb, &runs, c->err) != 0)
      return bg_error_prefix(c->err, "%s", path_of(node, what, sizeof(what)));
  }
  extents = (nb + BG_EXT4_EXT_MAX_LEN - 1) / BG_EXT4_EXT_MAX_LEN + (runs > 1 ? runs : 0);
  *blocks = nb + bg_ext4_extent_index_blocks(extents);
  if (extents > MANY_EXTENTS)
    c->nd->spread++;
  return 0;
}

/* The blocks one inode (one copy of it) takes. */
static int inode_cost(struct mctx *c, struct bg_node *node, struct bg_inode *ti)
{
  char what[BG_TREE_PATH_MAX];
  uint64_t blocks = 0;
  int xblock, used = 0;

  switch (ti->mode & S_IFMT) {
  case S_IFREG:
    if (c->inline_data && bg_ext4_goes_inline(ti)) {
      used = (int)bg_ext4_inline_ibody_use(ti->size); /* and no block */
      break;
    }
    if (file_cost(c, node, ti, &blocks) != 0)
      return -1;
    break;
  case S_IFDIR:
    if (dir_cost(c, node, path_of(node, what, sizeof(what)), &blocks) != 0)
      return -1;
    break;
  case S_IFLNK:
    if (ti->target == NULL || strlen(ti->target) >= BG_EXT4_BLOCK_SIZE)
      return bg_error_set(c->err, BG_EINVAL, "%s: symlink target of %zu bytes; ext4 holds at "
                          "most %u", path_of(node, what, sizeof(what)),
                          ti->target ? strlen(ti->target) : 0,
                          BG_EXT4_BLOCK_SIZE - 1);
    blocks = strlen(ti->target) >= 60 ? 1 : 0;
    break;
  }
  if (ti->nxattrs > 0) {
    if (xattr_place(ti, used, &xblock) != 0)
      return bg_error_set(c->err, BG_ETOOBIG, "%s: its xattrs do not fit in an inode and a block",
                          path_of(node, what, sizeof(what)));
    blocks += (uint64_t)xblock;
    c->nd->spread += (uint64_t)xblock;
  }
  c->nd->blocks += blocks;
  return 0;
}

static int measure_visit(struct bg_node *node, void *ctx)
{
  struct mctx *c = ctx;
  struct bg_inode *ti = node->inode;

  if (node->parent == node)
    return inode_cost(c, node, ti) != 0;
  if (bg_ext4_lpf_replaced(node))
    return 0; /* not written */
  /* ino counts the names seen: a copy of the inode starts at every BG_EXT4_LINK_MAX of them */
  if (ti->ino++ % BG_EXT4_LINK_MAX != 0)
    return 0;
  if (!(bg_ext4_is_lpf(node) && S_ISDIR(ti->mode)))
    c->nd->written++;
  return inode_cost(c, node, ti) != 0;
}

static int reset_visit(struct bg_node *node, void *ctx)
{
  node->inode->ino = 0;
  return 0;
}

int bg_ext4_measure(struct bg_tree *tree, int inline_data, struct bg_ext4_need *nd,
                    struct bg_error *err)
{
  struct bg_node *lpf = bg_node_child(bg_tree_root(tree), "lost+found", 10);
  struct mctx c;
  int rc;

  memset(nd, 0, sizeof(*nd));
  c.tree = tree;
  c.nd = nd;
  c.own_lpf = lpf == NULL || !S_ISDIR(lpf->inode->mode);
  c.err = err;
  c.inline_data = inline_data;
  if (c.own_lpf)
    nd->blocks += 4; /* mkfs.ext4's lost+found: four empty blocks */
  bg_tree_walk(tree, reset_visit, NULL);
  rc = bg_tree_walk(tree, measure_visit, &c);
  bg_tree_walk(tree, reset_visit, NULL);
  if (rc != 0)
    return -1;
  nd->inodes = BG_EXT4_LPF_INO + nd->written;
  return 0;
}

uint64_t bg_ext4_inode_count(const struct bg_ext4_opts *o, uint64_t size,
                             const struct bg_ext4_need *nd)
{
  uint64_t n;

  if (o->inodes)
    return o->inodes;
  n = size / bg_ext4_inode_ratio(o, size);
  /* without an explicit count or ratio the image grows the inodes the tree needs */
  if (o->inode_ratio == 0 && n < nd->inodes + nd->inodes / 8 + 16)
    n = nd->inodes + nd->inodes / 8 + 16;
  return n > MAX_32 ? MAX_32 : n;
}

/* x * fraction, rounded up, at most cap */
static uint64_t part(uint64_t x, double fraction, uint64_t cap)
{
  double v = (double)x * fraction;
  uint64_t f;

  if (v >= (double)cap)
    return cap;
  f = (uint64_t)v;
  return (double)f < v ? f + 1 : f;
}

static uint64_t want_free_bytes(const struct bg_ext4_need *nd, const struct bg_ext4_policy *pol)
{
  uint64_t f = part(nd->blocks * BG_EXT4_BLOCK_SIZE, pol->headroom, BG_EXT4_MAX_SIZE);

  return f > pol->min_free ? f : pol->min_free;
}

static uint64_t want_inodes(const struct bg_ext4_need *nd, const struct bg_ext4_policy *pol)
{
  uint64_t f = part(nd->written, pol->headroom, MAX_32), n;

  if (f < pol->min_free_inodes)
    f = pol->min_free_inodes;
  n = nd->inodes + f;
  return n > MAX_32 ? MAX_32 : n;
}

int bg_ext4_fits(const struct bg_ext4_opts *o, uint64_t size, uint64_t inodes,
                 const struct bg_ext4_need *nd, const struct bg_ext4_policy *pol,
                 uint64_t *have_inodes, struct bg_error *err)
{
  struct bg_ext4_layout l;
  uint64_t take, left;
  int r;

  if (have_inodes != NULL)
    *have_inodes = 0;
  r = bg_ext4_probe(o, size, inodes, &l, err);
  if (r <= 0)
    return r;
  if (have_inodes != NULL)
    *have_inodes = l.inodes;
  if (l.inodes < nd->inodes)
    return 0;
  /* every run of free space, and every block placed outside the sweep, can end one extent
   * early: an extent more, which costs at most two extent blocks */
  take = nd->blocks + 2 * (l.runs + nd->spread);
  if (l.free < take)
    return 0;
  if (pol == NULL)
    return 1;
  left = l.free - take;
  left = left > l.reserved ? left - l.reserved : 0;
  return left * BG_EXT4_BLOCK_SIZE >= want_free_bytes(nd, pol) &&
         l.inodes >= want_inodes(nd, pol);
}

/* The smallest whole MiB that fits: doubling from the floor, then halving the gap. */
static int search(const struct bg_ext4_opts *o, const struct bg_ext4_need *nd,
                  const struct bg_ext4_policy *pol, uint64_t inodes, uint64_t *bytes,
                  struct bg_error *err)
{
  const uint64_t floor = BG_EXT4_MIN_SIZE / MIB, top = BG_EXT4_MAX_SIZE / MIB;
  uint64_t lo = floor, hi = floor, mid;
  int r;

  for (;;) { /* lo does not fit (or is the floor), hi is to be tried */
    r = bg_ext4_fits(o, hi * MIB, inodes ? inodes : bg_ext4_inode_count(o, hi * MIB, nd), nd,
                     pol, NULL, err);
    if (r < 0)
      return -1;
    if (r > 0)
      break;
    if (hi == top)
      return bg_error_set(err, BG_ETOOBIG, "the tree needs an image over %llu TiB, the largest "
                          "this writer makes", (unsigned long long)(BG_EXT4_MAX_SIZE >> 40));
    lo = hi;
    hi = hi * 2 > top ? top : hi * 2;
  }
  if (hi == floor) {
    *bytes = hi * MIB;
    return 0;
  }
  while (hi - lo > 1) {
    mid = lo + (hi - lo) / 2;
    r = bg_ext4_fits(o, mid * MIB, inodes ? inodes : bg_ext4_inode_count(o, mid * MIB, nd), nd,
                     pol, NULL, err);
    if (r < 0)
      return -1;
    if (r > 0)
      hi = mid;
    else
      lo = mid;
  }
  *bytes = hi * MIB;
  return 0;
}

int bg_ext4_size_for(const struct bg_ext4_opts *opts, struct bg_tree *tree,
                     const struct bg_ext4_policy *pol, uint64_t *bytes, uint64_t *inodes,
                     struct bg_error *err)
{
  struct bg_ext4_need nd;
  struct bg_ext4_opts o = *opts;
  uint64_t n = 0;

  if (pol != NULL && !(pol->headroom >= 0 && pol->headroom <= 1000))
    return bg_error_set(err, BG_EINVAL, "headroom must be within 0..1000");
  if (bg_ext4_measure(tree, opts->inline_data, &nd, err) != 0)
    return -1;
  if (pol != NULL) {
    n = want_inodes(&nd, pol);
    o.inodes = n;
  }
  if (search(&o, &nd, pol, n, bytes, err) != 0)
    return -1;
  if (inodes != NULL)
    *inodes = pol != NULL ? n : bg_ext4_inode_count(&o, *bytes, &nd);
  return 0;
}

int bg_ext4_min_size(const struct bg_ext4_opts *opts, struct bg_tree *tree, uint64_t *bytes,
                     struct bg_error *err)
{
  return bg_ext4_size_for(opts, tree, NULL, bytes, NULL, err);
}
