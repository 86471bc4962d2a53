/* The writer: a whole tree laid out as a new ext4 image in one pass, the way mkfs.ext4 would
 * format it, with every inode as the tree says and every file's data in runs of blocks taken in
 * order (what the sizing model counts on). What ext4 cannot hold as given is changed and noted:
 * more than BG_EXT4_LINK_MAX names for one inode, times outside what the inode holds, a
 * /lost+found that is not a directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ext4_internal.h"
#include "layout.h"
#include "../util/path.h"

#define WBUF_BLOCKS 256 /* 1 MiB: the data of consecutive small files goes out in one write */
#define ITABLE_BLOCKS 256 /* 1 MiB of inode table: 4,096 inodes in one write */

/* One inode of the image (a copy, for a tree inode with more names than ext4 holds). */
struct winfo {
  struct bg_node *node; /* its first name (directories: their only name) */
  uint32_t links;       /* names that refer to it */
  uint32_t subdirs;     /* directories: child directories */
  uint32_t parent;      /* directories: the parent's inode number */
  uint32_t cur;         /* the first copy: the copy that takes the next names */
  uint32_t copies;      /* the first copy: how many there are */
};

/* Names that belong to a later copy of their inode: node -> inode number (open addressing). */
struct nodemap {
  struct bg_node **keys;
  uint32_t *vals;
  size_t cap, n;
};

struct writer {
  ext2_filsys fs;
  struct bg_tree *tree;
  struct winfo *w;
  uint64_t nw;
  uint32_t next; /* next free inode number */
  struct bg_ext4_cursor at; /* where the next run goes, through a buffer joining the runs */
  struct bg_ext4_copier *copier;
  struct bg_ext4_wbuf wb;
  struct bg_ext4_itable it;
  unsigned char *scratch;
  struct bg_time now;
  int own_lpf;   /* lost+found is ours, not the tree's */
  struct nodemap split;
  struct bg_notes *notes;
  struct bg_error *err;
  int failed;
  const struct bg_ext4_opts *opts;
};

static size_t slot_of(const struct nodemap *m, const struct bg_node *node)
{
  size_t h = (size_t)((uintptr_t)node >> 4) * 0x9e3779b97f4a7c15ULL;

  return h & (m->cap - 1);
}

static int nodemap_put(struct nodemap *m, struct bg_node *node, uint32_t ino,
                       struct bg_error *err)
{
  size_t i, cap;

  if (2 * (m->n + 1) > m->cap) { /* grow at half full */
    struct nodemap g = {NULL, NULL, m->cap ? m->cap * 2 : 1024, 0};

    g.keys = calloc(g.cap, sizeof(*g.keys));
    g.vals = calloc(g.cap, sizeof(*g.vals));
    if (g.keys == NULL || g.vals == NULL) {
      free(g.keys);
      free(g.vals);
      return bg_error_set(err, BG_ENOMEM, "out of memory");
    }
    for (cap = 0; cap < m->cap; cap++)
      if (m->keys[cap] != NULL)
        nodemap_put(&g, m->keys[cap], m->vals[cap], err);
    free(m->keys);
    free(m->vals);
    *m = g;
  }
  for (i = slot_of(m, node); m->keys[i] != NULL; i = (i + 1) & (m->cap - 1))
    ;
  m->keys[i] = node;
  m->vals[i] = ino;
  m->n++;
  return 0;
}

static uint32_t ino_of(const struct nodemap *m, const struct bg_node *node)
{
  size_t i;

  if (m->n > 0)
    for (i = slot_of(m, node); m->keys[i] != NULL; i = (i + 1) & (m->cap - 1))
      if (m->keys[i] == node)
        return m->vals[i];
  return node->inode->ino;
}

static int reset_visit(struct bg_node *node, void *ctx)
{
  node->inode->ino = 0;
  return 0;
}

static int new_ino(struct writer *wr, uint32_t *ino)
{
  if (wr->next >= wr->nw) { /* the model counted fewer: never expected */
    wr->failed = 1;
    return bg_error_set(wr->err, BG_ENOSPC, "image too small: out of inodes");
  }
  *ino = wr->next++;
  return 0;
}

static int number_visit(struct bg_node *node, void *ctx)
{
  struct writer *wr = ctx;
  struct bg_inode *ti = node->inode;
  uint32_t ino = 0, first;

  if (node->parent == node) { /* the root */
    ti->ino = EXT2_ROOT_INO;
    wr->w[EXT2_ROOT_INO].node = node;
    wr->w[EXT2_ROOT_INO].parent = EXT2_ROOT_INO;
    return 0;
  }
  if (bg_ext4_lpf_replaced(node)) {
    bg_notes_add(wr->notes, BG_NOTE_LOST_FOUND, 0, "/lost+found",
                 "the tree has a %s there; the image needs a directory, so it takes its place",
                 S_ISLNK(ti->mode) ? "symlink" : "non-directory");
    return 0;
  }
  if (ti->ino == 0) {
    if (bg_ext4_is_lpf(node) && S_ISDIR(ti->mode)) {
      ino = BG_EXT4_LPF_INO;
      wr->own_lpf = 0;
    } else if (new_ino(wr, &ino) != 0) {
      return 1;
    }
    ti->ino = ino;
    wr->w[ino].node = node;
    wr->w[ino].cur = ino;
    wr->w[ino].copies = 1;
  }
  first = ti->ino;
  ino = wr->w[first].cur;
  if (wr->w[ino].links == BG_EXT4_LINK_MAX) { /* a copy that shares nothing takes the rest */
    if (new_ino(wr, &ino) != 0)
      return 1;
    wr->w[ino].node = node;
    wr->w[first].cur = ino;
    wr->w[first].copies++;
  }
  if (ino != first && nodemap_put(&wr->split, node, ino, wr->err) != 0) {
    wr->failed = 1;
    return 1;
  }
  wr->w[ino].links++;
  if (S_ISDIR(ti->mode)) {
    wr->w[ino].parent = node->parent->inode->ino;
    wr->w[node->parent->inode->ino].subdirs++;
  }
  return 0;
}

static void note_splits(struct writer *wr)
{
  char path[BG_TREE_PATH_MAX];
  struct bg_error e;
  uint32_t ino;
  struct winfo *w;

  for (ino = BG_EXT4_LPF_INO + 1; ino < wr->next; ino++) {
    w = &wr->w[ino];
    if (w->copies < 2)
      continue;
    bg_error_clear(&e);
    if (bg_node_path(w->node, path, sizeof(path), &e) != 0)
      snprintf(path, sizeof(path), "inode %u", ino);
    bg_notes_add(wr->notes, BG_NOTE_HARDLINKS_SPLIT, 0, path,
                 "%llu names; ext4 holds %u per inode, so they are split over %u copies that "
                 "share nothing",
                 (unsigned long long)(w->copies - 1) * BG_EXT4_LINK_MAX + wr->w[w->cur].links,
                 BG_EXT4_LINK_MAX, w->copies);
  }
}

static int write_inode(struct writer *wr, ext2_ino_t ino, struct ext2_inode_large *in,
                       const struct bg_ext4_ibody *ib, const char *what)
{
  return bg_ext4_itable_put(&wr->it, ino, in, ib, what, wr->err);
}

static int set_xattrs(struct writer *wr, ext2_ino_t ino, const struct bg_inode *ti,
                      const char *what)
{
  struct ext2_xattr_handle *h = NULL;
  errcode_t rc, rc2;
  uint32_t i;

  /* libext2fs reads the inode and writes it back: it must be on disk, and stays its to write */
  if (bg_ext4_itable_flush(&wr->it, wr->err) != 0)
    return -1;
  bg_ext4_itable_outside(&wr->it, ino);
  rc = ext2fs_xattrs_open(wr->fs, ino, &h);
  if (rc == 0)
    rc = ext2fs_xattrs_read(h);
  for (i = 0; rc == 0 && i < ti->nxattrs; i++) {
    /* overlayfs keeps its private state here; it never belongs in an image */
    if (strncmp(ti->xattrs[i].name, "trusted.overlay.", 16) == 0)
      continue;
    rc = ext2fs_xattr_set(h, ti->xattrs[i].name, ti->xattrs[i].value, ti->xattrs[i].len);
    if (rc != 0) {
      ext2fs_xattrs_close(&h);
      return bg_ext4_fail(wr->err, rc, "while setting xattr %s of %s", ti->xattrs[i].name, what);
    }
  }
  if (h != NULL) {
    rc2 = ext2fs_xattrs_close(&h);
    if (rc == 0)
      rc = rc2;
  }
  if (rc != 0)
    return bg_ext4_fail(wr->err, rc, "while writing the xattrs of %s", what);
  return 0;
}

static int write_dir(struct writer *wr, ext2_ino_t ino, struct ext2_inode_large *in,
                     struct bg_node *node, const char *what)
{
  struct bg_node *const *kids = NULL;
  struct bg_ext4_dentry *ents = NULL;
  struct bg_ext4_memsrc m;
  struct bg_ext4_src src = {bg_ext4_mem_read, NULL, &m, NULL};
  unsigned char *blocks = NULL;
  size_t nk = 0, n = 0, i;
  uint32_t nb = 0, links;
  int indexed = 0, ret = -1;

  if (node != NULL)
    kids = bg_node_children(node, &nk);
  ents = calloc(nk + 1, sizeof(*ents));
  if (ents == NULL)
    return bg_error_set(wr->err, BG_ENOMEM, "out of memory");
  if (ino == EXT2_ROOT_INO && wr->own_lpf) {
    ents[n].name = "lost+found";
    ents[n].len = 10;
    ents[n].ino = BG_EXT4_LPF_INO;
    ents[n].ftype = EXT2_FT_DIR;
    n++;
  }
  for (i = 0; i < nk; i++) {
    if (ino == EXT2_ROOT_INO && bg_ext4_lpf_replaced(kids[i]))
      continue;
    ents[n].name = kids[i]->name;
    ents[n].len = kids[i]->namelen;
    ents[n].ino = ino_of(&wr->split, kids[i]);
    ents[n].ftype = bg_ext4_ftype(kids[i]->inode->mode);
    n++;
  }
  if (bg_ext4_build_dir(wr->fs, ino, wr->w[ino].parent, ents, n, ino == BG_EXT4_LPF_INO ? 4 : 1,
                        &blocks, &nb, &indexed, wr->err) != 0)
    goto out;
  m.p = blocks;
  m.len = (uint64_t)nb * wr->fs->blocksize;
  if (bg_ext4_put_data(wr->fs, ino, in, m.len, &src, BG_EXT4_PUT_SWEEP, &wr->at, what,
                       wr->err) != 0)
    goto out;
  if (indexed)
    in->i_flags |= EXT2_INDEX_FL;
  links = 2 + wr->w[ino].subdirs + (ino == EXT2_ROOT_INO && wr->own_lpf);
  in->i_links_count = links > EXT2_LINK_MAX ? 1 : (uint16_t)links; /* dir_nlink */
  ret = 0;
out:
  free(blocks);
  free(ents);
  return ret;
}

static int write_file(struct writer *wr, ext2_ino_t ino, struct ext2_inode_large *in,
                      const struct bg_inode *ti, struct bg_ext4_ibody *ib, const char *what)
{
  const int flags = BG_EXT4_PUT_HOLES | BG_EXT4_PUT_SWEEP;
  const int inl = wr->opts->inline_data && bg_ext4_goes_inline(ti);
  struct bg_ext4_treesrc ts = {wr->tree, ti, wr->copier};
  struct bg_ext4_src src = {bg_ext4_tree_read, bg_ext4_tree_data, &ts, NULL};
  struct bg_ext4_host h;
  int rc;

  /* a layer's file with no block of zeros goes from the spool to the image in the kernel */
  if (ti->content.kind == BG_CONTENT_SPOOL && (ti->content.flags & BG_CONTENT_DENSE))
    src.copy = bg_ext4_tree_copy;
  if (inl && ti->content.kind != BG_CONTENT_HOST)
    return bg_ext4_put_inline(wr->fs, in, ti->size, &src, ib, what, wr->err);
  if (ti->content.kind != BG_CONTENT_HOST || ti->size == 0)
    return bg_ext4_put_data(wr->fs, ino, in, ti->size, &src, flags, &wr->at, what, wr->err);
  /* a host file is read here, holes skipped */
  if (bg_ext4_host_open(&h, ti->content.host_path, NULL, wr->err) != 0)
    return bg_error_prefix(wr->err, "%s", what);
  src.read = bg_ext4_host_read;
  src.data = bg_ext4_host_data;
  src.ctx = &h;
  if (inl)
    rc = bg_ext4_put_inline(wr->fs, in, ti->size, &src, ib, what, wr->err);
  else
    rc = bg_ext4_put_data(wr->fs, ino, in, ti->size, &src, flags, &wr->at, what, wr->err);
  bg_ext4_host_close(&h);
  return rc;
}

static int write_one(struct writer *wr, ext2_ino_t ino)
{
  struct winfo *w = &wr->w[ino];
  const struct bg_inode *ti = w->node ? w->node->inode : NULL;
  struct ext2_inode_large in;
  struct bg_ext4_ibody ib;
  char what[BG_TREE_PATH_MAX];
  struct bg_error e;
  int clamped;

  ib.len = 0;
  bg_error_clear(&e);
  if (w->node == NULL || bg_node_path(w->node, what, sizeof(what), &e) != 0)
    snprintf(what, sizeof(what), "inode %u", ino);
  bg_ext4_itable_building(&wr->it, ino);
  if (ino == EXT2_ROOT_INO || ti == NULL) { /* the root, or a lost+found of our own */
    bg_ext4_inode_init(&in, ino == EXT2_ROOT_INO ? LINUX_S_IFDIR | 0755 : LINUX_S_IFDIR | 0700,
                       0, 0, &wr->now, &wr->now, &wr->now, 1);
    if (write_dir(wr, ino, &in, w->node, what) != 0)
      return -1;
    if (write_inode(wr, ino, &in, NULL, what) != 0)
      return -1;
    goto xattrs;
  }
  clamped = bg_ext4_inode_init(&in, ti->mode, ti->uid, ti->gid, &ti->mtime, &ti->atime,
                               &ti->ctime, 1);
  if (clamped && ino == ti->ino)
    bg_ext4_note_clamped(wr->notes, what, clamped, &ti->mtime, &ti->atime, &ti->ctime, 1);
  in.i_links_count = (uint16_t)w->links;
  switch (ti->mode & S_IFMT) {
  case S_IFREG:
    if (write_file(wr, ino, &in, ti, &ib, what) != 0)
      return -1;
    break;
  case S_IFDIR:
    if (write_dir(wr, ino, &in, w->node, what) != 0)
      return -1;
    break;
  case S_IFLNK:
    if (ti->target == NULL)
      return bg_error_set(wr->err, BG_EINVAL, "%s: symlink without a target", what);
    if (bg_ext4_put_symlink(wr->fs, ino, &in, ti->target, &wr->at, what, wr->err) != 0)
      return -1;
    break;
  case S_IFCHR:
  case S_IFBLK:
    bg_ext4_set_rdev(&in, ti->rdev_major, ti->rdev_minor);
    break;
  case S_IFIFO:
  case S_IFSOCK:
    break;
  default:
    return bg_error_set(wr->err, BG_EINVAL, "%s: unknown file type %o", what, ti->mode);
  }
  if (write_inode(wr, ino, &in, &ib, what) != 0)
    return -1;
xattrs:
  ext2fs_inode_alloc_stats2(wr->fs, ino, +1, LINUX_S_ISDIR(in.i_mode));
  if (ti != NULL && ti->nxattrs > 0 && set_xattrs(wr, ino, ti, what) != 0)
    return -1;
  return 0;
}

static int populate(struct writer *wr)
{
  ext2_ino_t ino;

  bg_tree_walk(wr->tree, reset_visit, NULL);
  wr->next = BG_EXT4_LPF_INO + 1;
  wr->own_lpf = 1;
  wr->w[BG_EXT4_LPF_INO].parent = EXT2_ROOT_INO;
  bg_tree_walk(wr->tree, number_visit, wr);
  if (wr->failed)
    return -1;
  note_splits(wr);
  if (write_one(wr, EXT2_ROOT_INO) != 0 || write_one(wr, BG_EXT4_LPF_INO) != 0)
    return -1;
  for (ino = BG_EXT4_LPF_INO + 1; ino < wr->next; ino++) {
    if (write_one(wr, ino) != 0)
      return -1;
    if (wr->opts->progress != NULL && (ino & 255) == 0)
      wr->opts->progress(wr->opts->progress_ctx, ino, wr->next - 1);
  }
  if (wr->opts->progress != NULL)
    wr->opts->progress(wr->opts->progress_ctx, wr->next - 1, wr->next - 1);
  return 0;
}

/* Does the tree fit? Decided before any file exists, by the sizing model. */
static int check_fits(const struct bg_ext4_opts *opts, uint64_t size, struct bg_tree *tree,
                      uint64_t *inodes, uint64_t *highest, struct bg_error *err)
{
  struct bg_ext4_need nd;
  uint64_t have = 0, want;
  int r;

  if (bg_ext4_measure(tree, opts->inline_data, &nd, err) != 0)
    return -1;
  *inodes = bg_ext4_inode_count(opts, size, &nd);
  *highest = nd.inodes;
  r = bg_ext4_fits(opts, size, *inodes, &nd, NULL, &have, err);
  if (r < 0)
    return -1;
  if (r > 0)
    return 0;
  if (opts->inodes && have != 0 && have < nd.inodes)
    return bg_error_set(err, BG_ENOSPC, "image too small: needs at least %llu inodes, has %llu",
                        (unsigned long long)nd.inodes, (unsigned long long)have);
  if (bg_ext4_min_size(opts, tree, &want, err) != 0)
    return -1;
  return bg_error_set(err, BG_ENOSPC, "image too small: needs at least %llu MiB",
                      (unsigned long long)(want >> 20));
}

struct bg_ext4 *bg_ext4_build(const char *path, const struct bg_ext4_opts *opts,
                              struct bg_tree *tree, struct bg_error *err)
{
  char dir[PATH_MAX], prefix[PATH_MAX];
  struct ext2_super_block param;
  struct writer wr;
  struct bg_ext4 *img = NULL;
  const char *base;
  ext2_filsys fs = NULL;
  uint64_t size = opts->size - opts->size % BG_EXT4_BLOCK_SIZE, inodes, highest;
  time_t now = opts->have_time ? (time_t)opts->time : time(NULL);
  int ok = 0, n;
  errcode_t rc;

  memset(&wr, 0, sizeof(wr));
  bg_ext4_init();
  if (size < BG_EXT4_MIN_SIZE)
    return bg_error_set(err, BG_EINVAL, "image size %llu is below the minimum of 64 MiB",
                        (unsigned long long)opts->size),
           NULL;
  if (size > BG_EXT4_MAX_SIZE)
    return bg_error_set(err, BG_EINVAL, "image size %llu is above the maximum of %llu TiB",
                        (unsigned long long)opts->size,
                        (unsigned long long)(BG_EXT4_MAX_SIZE >> 40)),
           NULL;
  if (opts->label != NULL && strlen(opts->label) > EXT2_LABEL_LEN)
    return bg_error_set(err, BG_EINVAL, "label \"%s\" is longer than %d bytes", opts->label,
                        EXT2_LABEL_LEN),
           NULL;
  if (opts->reserved_permille > 500)
    return bg_error_set(err, BG_EINVAL, "reserved blocks above 50%%"), NULL;
  if (bg_path_split(path, dir, sizeof(dir), &base, err) != 0)
    return NULL;
  if (check_fits(opts, size, tree, &inodes, &highest, err) != 0)
    return NULL;

  /* written as .NAME.tmp-PID-XXXXXX, locked while open (util/tmpfile.h); such files left by
   * a build killed with -9 are swept here, by the next build into the directory */
  n = snprintf(prefix, sizeof(prefix), ".%s.tmp-", base);
  if (n < 0 || (size_t)n >= sizeof(prefix) || strlen(dir) + (size_t)n + 24 >= PATH_MAX)
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path), NULL;
  img = calloc(1, sizeof(*img));
  if (img == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory"), NULL;
  img->tmp.fd = -1;
  img->tmp.slot = -1;
  bg_notes_init(&img->notes);
  bg_tmpfile_sweep(dir, NULL);
  if (bg_tmpfile_open(&img->tmp, dir, prefix, 0666, err) != 0)
    goto out;
  if (ftruncate(img->tmp.fd, (off_t)size) != 0) {
    bg_error_errno(err, errno, "cannot make %s %llu bytes long", img->tmp.path,
                   (unsigned long long)size);
    goto out;
  }

  bg_ext4_fill_param(&param, opts, size, inodes);
  rc = ext2fs_initialize(img->tmp.path, EXT2_FLAG_64BITS, &param, unix_io_manager, &fs);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while formatting %s", path);
    goto out;
  }
  img->fs = fs;
  bg_ext4_watch_writes(img);
  if (bg_ext4_format(fs, opts, now, 0, err) != 0)
    goto out;
  img->path = strdup(path);
  if (img->path == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  wr.fs = fs;
  wr.opts = opts;
  wr.tree = tree;
  wr.err = err;
  wr.notes = &img->notes;
  wr.now.sec = now;
  wr.nw = highest + 1; /* what the tree needs, not what the image could hold */
  wr.w = calloc(wr.nw, sizeof(*wr.w));
  if (wr.w == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  if (bg_ext4_wbuf_init(&wr.wb, WBUF_BLOCKS, BG_EXT4_BLOCK_SIZE, err) != 0 ||
      bg_ext4_itable_init(&wr.it, fs, ITABLE_BLOCKS, err) != 0)
    goto out;
  wr.scratch = malloc(BG_EXT4_CHUNK);
  if (wr.scratch == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  bg_ext4_itable_hook(img, &wr.it);
  img->copier = wr.copier = bg_ext4_copier_start(img->tmp.fd, err);
  if (wr.copier == NULL)
    goto out;
  bg_ext4_guard_copies(img);
  wr.at.goal = fs->super->s_first_data_block;
  wr.at.wb = &wr.wb;
  wr.at.scratch = wr.scratch;
  if (populate(&wr) != 0 || bg_ext4_itable_flush(&wr.it, err) != 0 ||
      bg_ext4_wbuf_flush(fs, &wr.wb, err) != 0 || bg_ext4_writes_ok(img, path, err) != 0) {
    bg_error_prefix(err, "building %s", path);
    goto out;
  }
  img->writable = 1;
  ok = 1;
out:
  if (img != NULL && img->fs != NULL)
    bg_ext4_itable_hook(img, NULL);
  bg_ext4_wbuf_free(&wr.wb);
  bg_ext4_itable_free(&wr.it);
  free(wr.scratch);
  free(wr.w);
  free(wr.split.keys);
  free(wr.split.vals);
  if (ok)
    return img;
  bg_ext4_copier_free(img->copier); /* before the file goes: it writes there */
  if (fs != NULL)
    ext2fs_free(fs); /* discards: nothing more reaches the file */
  bg_tmpfile_discard(&img->tmp); /* removes it */
  bg_notes_free(&img->notes);
  free(img->path);
  free(img);
  return NULL;
}

int bg_ext4_create(const char *path, const struct bg_ext4_opts *opts, struct bg_tree *tree,
                   struct bg_error *err)
{
  struct bg_ext4 *img = bg_ext4_build(path, opts, tree, err);

  if (img == NULL)
    return -1;
  return bg_ext4_close(img, err);
}
