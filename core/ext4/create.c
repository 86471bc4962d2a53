/* The writer: a whole tree laid out as a new ext4 image in one pass, the way mkfs.ext4 would
 * format it, with every inode as the tree says and every file's data in one run of blocks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ext4_internal.h"
#include "../util/path.h"
#include "../util/tmpfile.h"
#include "../digest/digest.h"

#define LPF_INO 11 /* lost+found, where mkfs.ext4 puts it */
#define DEFAULT_INODE_RATIO 16384
#define SLACK_BLOCKS 64 /* beyond the tree's estimate: lost+found, extent and xattr blocks */

void bg_ext4_opts_init(struct bg_ext4_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->journal = 1;
  o->reserved_permille = 50;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int bg_ext4_parse_uuid(const char *s, unsigned char uuid[16], struct bg_error *err)
{
  size_t i, k = 0;
  int hi, lo;

  if (strlen(s) != 36)
    return bg_error_set(err, BG_EINVAL, "invalid UUID \"%s\"", s);
  for (i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return bg_error_set(err, BG_EINVAL, "invalid UUID \"%s\"", s);
      continue;
    }
    hi = hexval(s[i]);
    lo = hexval(s[i + 1]);
    if (hi < 0 || lo < 0)
      return bg_error_set(err, BG_EINVAL, "invalid UUID \"%s\"", s);
    uuid[k++] = (unsigned char)(hi << 4 | lo);
    i++;
  }
  return 0;
}

/* What the tree asks of an image. */
struct need {
  struct bg_tree_stats st;
  uint64_t blocks; /* data, directories, slack */
  uint64_t inodes; /* the highest inode number used */
  int has_lpf;     /* the tree has /lost+found as a directory */
};

static void measure(struct bg_tree *tree, struct need *nd)
{
  struct bg_node *lpf = bg_node_child(bg_tree_root(tree), "lost+found", 10);

  bg_tree_stats(tree, BG_EXT4_BLOCK_SIZE, &nd->st);
  nd->has_lpf = lpf != NULL && S_ISDIR(lpf->inode->mode);
  nd->blocks = nd->st.data_blocks + SLACK_BLOCKS + nd->st.data_blocks / 256;
  nd->inodes = LPF_INO + nd->st.inodes - 1 - (uint64_t)nd->has_lpf;
}

static uint64_t inode_count(const struct bg_ext4_opts *o, uint64_t size, const struct need *nd)
{
  uint64_t n;

  if (o->inodes)
    return o->inodes;
  n = size / (o->inode_ratio ? o->inode_ratio : DEFAULT_INODE_RATIO);
  /* without an explicit count or ratio the image grows the inodes the tree needs */
  if (o->inode_ratio == 0 && n < nd->inodes + nd->inodes / 8 + 16)
    n = nd->inodes + nd->inodes / 8 + 16;
  return n;
}

static void fill_param(struct ext2_super_block *p, const struct bg_ext4_opts *o, uint64_t size,
                       uint64_t inodes)
{
  uint64_t blocks = size / BG_EXT4_BLOCK_SIZE;

  memset(p, 0, sizeof(*p));
  p->s_rev_level = EXT2_DYNAMIC_REV;
  p->s_log_block_size = 2; /* 1024 << 2 */
  p->s_log_cluster_size = 2;
  p->s_inode_size = BG_EXT4_INODE_SIZE;
  p->s_min_extra_isize = BG_EXT4_EXTRA_ISIZE;
  p->s_want_extra_isize = BG_EXT4_EXTRA_ISIZE;
  p->s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
  p->s_log_groups_per_flex = 4;
  p->s_inodes_count = inodes > UINT32_MAX ? UINT32_MAX : (uint32_t)inodes;
  ext2fs_blocks_count_set(p, blocks);
  ext2fs_r_blocks_count_set(p, blocks * o->reserved_permille / 1000);
  p->s_feature_compat = EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_RESIZE_INODE |
                        EXT2_FEATURE_COMPAT_DIR_INDEX;
  p->s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_EXTENTS |
                          EXT4_FEATURE_INCOMPAT_64BIT | EXT4_FEATURE_INCOMPAT_FLEX_BG;
  p->s_feature_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
                           EXT2_FEATURE_RO_COMPAT_LARGE_FILE | EXT4_FEATURE_RO_COMPAT_HUGE_FILE |
                           EXT4_FEATURE_RO_COMPAT_DIR_NLINK |
                           EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |
                           EXT4_FEATURE_RO_COMPAT_METADATA_CSUM;
  p->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
  p->s_errors = EXT2_ERRORS_CONTINUE;
  p->s_max_mnt_count = 0xffff; /* -1: no periodic checks */
}

/* Formats in memory against /dev/null (nothing is written) and reports what is left for files. */
static int probe(const struct bg_ext4_opts *o, uint64_t size, const struct need *nd,
                 uint64_t *free_blocks, uint64_t *inodes, struct bg_error *err)
{
  struct ext2fs_journal_params jp;
  struct ext2_super_block p;
  ext2_filsys fs = NULL;
  uint64_t used = 1; /* the resize inode's block */
  errcode_t rc;

  fill_param(&p, o, size, inode_count(o, size, nd));
  rc = ext2fs_initialize("/dev/null", EXT2_FLAG_64BITS, &p, unix_io_manager, &fs);
  if (rc == 0)
    rc = ext2fs_allocate_tables(fs);
  if (rc != 0) {
    if (fs != NULL)
      ext2fs_free(fs);
    return bg_ext4_fail(err, rc, "while laying out a %llu-byte image", (unsigned long long)size);
  }
  if (o->journal) {
    rc = ext2fs_get_journal_params(&jp, fs);
    if (rc == 0)
      used += jp.num_journal_blocks + jp.num_fc_blocks;
  }
  *free_blocks = ext2fs_free_blocks_count(fs->super);
  *free_blocks = *free_blocks > used ? *free_blocks - used : 0;
  *inodes = fs->super->s_inodes_count;
  ext2fs_free(fs);
  return 0;
}

static int fits(const struct bg_ext4_opts *o, uint64_t size, const struct need *nd, int *ok,
                struct bg_error *err)
{
  uint64_t fb, ni;

  if (probe(o, size, nd, &fb, &ni, err) != 0)
    return -1;
  *ok = fb >= nd->blocks && ni >= nd->inodes;
  return 0;
}

static int min_size(const struct bg_ext4_opts *o, const struct need *nd, uint64_t *bytes,
                    struct bg_error *err)
{
  const uint64_t mib = 1 << 20, limit = (uint64_t)1 << 44; /* 16 TiB */
  uint64_t lo = BG_EXT4_MIN_SIZE / mib, hi = lo, mid;
  int ok = 0;

  for (;;) { /* lo does not fit (or is the floor), hi does */
    if (fits(o, hi * mib, nd, &ok, err) != 0)
      return -1;
    if (ok)
      break;
    lo = hi;
    hi *= 2;
    if (hi * mib > limit)
      return bg_error_set(err, BG_ETOOBIG, "the tree needs an image over 16 TiB");
  }
  if (hi == BG_EXT4_MIN_SIZE / mib) {
    *bytes = hi * mib;
    return 0;
  }
  while (hi - lo > 1) {
    mid = lo + (hi - lo) / 2;
    if (fits(o, mid * mib, nd, &ok, err) != 0)
      return -1;
    if (ok)
      hi = mid;
    else
      lo = mid;
  }
  *bytes = hi * mib;
  return 0;
}

int bg_ext4_min_size(const struct bg_ext4_opts *opts, struct bg_tree *tree, uint64_t *bytes,
                     struct bg_error *err)
{
  struct need nd;

  measure(tree, &nd);
  return min_size(opts, &nd, bytes, err);
}

/* ---- writing the tree ---- */

struct winfo {
  struct bg_node *node;  /* the first name of the inode (directories: their only name) */
  uint32_t links;        /* names that refer to it */
  uint32_t subdirs;      /* directories: child directories */
  uint32_t parent;       /* directories: the parent's inode number */
};

struct writer {
  ext2_filsys fs;
  struct bg_tree *tree;
  struct winfo *w;
  uint64_t nw;
  uint32_t next;   /* next free inode number */
  blk64_t goal;    /* where the next run of blocks is searched from */
  struct bg_time now;
  int own_lpf;     /* lost+found is ours, not the tree's */
  struct bg_error *err;
  int failed;
  const struct bg_ext4_opts *opts;
};

static int reset_visit(struct bg_node *node, void *ctx)
{
  node->inode->ino = 0;
  return 0;
}

static int number_visit(struct bg_node *node, void *ctx)
{
  struct writer *wr = ctx;
  struct bg_inode *ti = node->inode;
  uint32_t ino;

  if (node->parent == node) { /* the root */
    ti->ino = EXT2_ROOT_INO;
    wr->w[EXT2_ROOT_INO].node = node;
    wr->w[EXT2_ROOT_INO].parent = EXT2_ROOT_INO;
    return 0;
  }
  if (ti->ino == 0) {
    if (node->parent->parent == node->parent && S_ISDIR(ti->mode) && node->namelen == 10 &&
        memcmp(node->name, "lost+found", 10) == 0) {
      ti->ino = LPF_INO;
      wr->own_lpf = 0;
    } else {
      if (wr->next >= wr->nw) {
        wr->failed = 1;
        bg_error_set(wr->err, BG_ENOSPC, "image too small: out of inodes");
        return 1;
      }
      ti->ino = wr->next++;
    }
    wr->w[ti->ino].node = node;
  }
  ino = ti->ino;
  wr->w[ino].links++;
  if (S_ISDIR(ti->mode)) {
    wr->w[ino].parent = node->parent->inode->ino;
    wr->w[node->parent->inode->ino].subdirs++;
  }
  return 0;
}

struct treesrc {
  struct bg_tree *tree;
  const struct bg_inode *ti;
};

static int tree_src_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                         struct bg_error *err)
{
  struct treesrc *s = ctx;

  return bg_tree_read(s->tree, s->ti, off, buf, n, got, err);
}

static int tree_src_data(void *ctx, uint64_t off, uint64_t *data, struct bg_error *err)
{
  struct treesrc *s = ctx;

  return bg_tree_next_data(s->tree, s->ti, off, data, err);
}

static int write_inode(struct writer *wr, ext2_ino_t ino, struct ext2_inode_large *in,
                       const char *what)
{
  errcode_t rc = ext2fs_write_inode_full(wr->fs, ino, (struct ext2_inode *)in, sizeof(*in));

  if (rc != 0)
    return bg_ext4_fail(wr->err, rc, "while writing inode %u (%s)", ino, what);
  return 0;
}

static int set_xattrs(struct writer *wr, ext2_ino_t ino, const struct bg_inode *ti,
                      const char *what)
{
  struct ext2_xattr_handle *h = NULL;
  errcode_t rc;
  uint32_t i;

  rc = ext2fs_xattrs_open(wr->fs, ino, &h);
  if (rc == 0)
    rc = ext2fs_xattrs_read(h);
  for (i = 0; rc == 0 && i < ti->nxattrs; i++) {
    /* overlayfs keeps its private state here; it never belongs in an image */
    if (strncmp(ti->xattrs[i].name, "trusted.overlay.", 16) == 0)
      continue;
    rc = ext2fs_xattr_set(h, ti->xattrs[i].name, ti->xattrs[i].value, ti->xattrs[i].len);
    if (rc != 0)
      return ext2fs_xattrs_close(&h),
             bg_ext4_fail(wr->err, rc, "while setting xattr %s of %s", ti->xattrs[i].name, what);
  }
  if (h != NULL) {
    errcode_t rc2 = ext2fs_xattrs_close(&h);

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
    ents[n].ino = LPF_INO;
    ents[n].ftype = EXT2_FT_DIR;
    n++;
  }
  for (i = 0; i < nk; i++) {
    ents[n].name = kids[i]->name;
    ents[n].len = kids[i]->namelen;
    ents[n].ino = kids[i]->inode->ino;
    ents[n].ftype = bg_ext4_ftype(kids[i]->inode->mode);
    n++;
  }
  if (bg_ext4_build_dir(wr->fs, ino, wr->w[ino].parent, ents, n, ino == LPF_INO ? 4 : 1,
                        &blocks, &nb, &indexed, wr->err) != 0)
    goto out;
  m.p = blocks;
  m.len = (uint64_t)nb * wr->fs->blocksize;
  if (bg_ext4_put_data(wr->fs, ino, in, m.len, bg_ext4_mem_read, &m, 0, &wr->goal, what,
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

static int write_one(struct writer *wr, ext2_ino_t ino)
{
  struct winfo *w = &wr->w[ino];
  const struct bg_inode *ti = w->node ? w->node->inode : NULL;
  struct ext2_inode_large in;
  struct treesrc src;
  char what[BG_TREE_PATH_MAX];

  if (w->node == NULL || bg_node_path(w->node, what, sizeof(what), wr->err) != 0)
    snprintf(what, sizeof(what), "inode %u", ino);
  if (ino == EXT2_ROOT_INO || ti == NULL) { /* the root, or a lost+found of our own */
    bg_ext4_inode_init(&in, ino == EXT2_ROOT_INO ? LINUX_S_IFDIR | 0755 : LINUX_S_IFDIR | 0700,
                       0, 0, &wr->now, &wr->now, &wr->now);
    if (write_dir(wr, ino, &in, w->node, what) != 0)
      return -1;
    if (write_inode(wr, ino, &in, what) != 0)
      return -1;
    goto xattrs;
  }
  bg_ext4_inode_init(&in, ti->mode, ti->uid, ti->gid, &ti->mtime, &ti->atime, &ti->ctime);
  in.i_links_count = (uint16_t)(w->links > EXT2_LINK_MAX ? EXT2_LINK_MAX : w->links);
  switch (ti->mode & S_IFMT) {
  case S_IFREG:
    src.tree = wr->tree;
    src.ti = ti;
    if (bg_ext4_put_sparse(wr->fs, ino, &in, ti->size, tree_src_read, tree_src_data, &src,
                           &wr->goal, what, wr->err) != 0)
      return -1;
    break;
  case S_IFDIR:
    if (write_dir(wr, ino, &in, w->node, what) != 0)
      return -1;
    break;
  case S_IFLNK:
    if (ti->target == NULL)
      return bg_error_set(wr->err, BG_EINVAL, "%s: symlink without a target", what);
    if (bg_ext4_put_symlink(wr->fs, ino, &in, ti->target, &wr->goal, what, wr->err) != 0)
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
  if (write_inode(wr, ino, &in, what) != 0)
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
  wr->next = LPF_INO + 1;
  wr->own_lpf = 1;
  wr->w[LPF_INO].parent = EXT2_ROOT_INO;
  bg_tree_walk(wr->tree, number_visit, wr);
  if (wr->failed)
    return -1;
  if (write_one(wr, EXT2_ROOT_INO) != 0 || write_one(wr, LPF_INO) != 0)
    return -1;
  for (ino = LPF_INO + 1; ino < wr->next; ino++) {
    if (write_one(wr, ino) != 0)
      return -1;
    if (wr->opts->progress != NULL && (ino & 255) == 0)
      wr->opts->progress(wr->opts->progress_ctx, ino, wr->next - 1);
  }
  if (wr->opts->progress != NULL)
    wr->opts->progress(wr->opts->progress_ctx, wr->next - 1, wr->next - 1);
  return 0;
}

static void seed_bytes(const char *seed, const char *what, unsigned char out[16])
{
  unsigned char raw[BG_SHA256_LEN];
  char buf[1024];
  struct bg_error e;
  int n;

  n = snprintf(buf, sizeof(buf), "banger-ext4 %s %s", what, seed);
  bg_error_clear(&e);
  if (n < 0 || (size_t)n >= sizeof(buf) ||
      bg_sha256_buf(buf, (size_t)n, raw, &e) != 0) { /* a seed that long: hash it in two steps */
    bg_sha256_buf(seed, strlen(seed), raw, &e);
  }
  memcpy(out, raw, 16);
}

/* The identity of the new filesystem: UUID and hash seed from the seed, else random. */
static int identity(ext2_filsys fs, const struct bg_ext4_opts *o, struct bg_error *err)
{
  unsigned char u[16], h[16];

  if (o->seed != NULL) {
    seed_bytes(o->seed, "uuid", u);
    seed_bytes(o->seed, "hash", h);
  } else if (getrandom(u, sizeof(u), 0) != sizeof(u) || getrandom(h, sizeof(h), 0) != sizeof(h)) {
    return bg_error_errno(err, errno, "cannot get random bytes for the UUID");
  }
  if (o->have_uuid)
    memcpy(u, o->uuid, 16);
  else {
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* a version 4 UUID, as uuidgen makes */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
  }
  memcpy(fs->super->s_uuid, u, 16);
  memcpy(fs->super->s_hash_seed, h, 16);
  return 0;
}

static int format(ext2_filsys fs, const struct bg_ext4_opts *o, time_t now,
                  struct bg_error *err)
{
  struct ext2fs_journal_params jp;
  ext2_ino_t i;
  dgrp_t g;
  errcode_t rc;

  rc = ext2fs_allocate_tables(fs);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while allocating the inode tables");
  if (identity(fs, o, err) != 0)
    return -1;
  fs->now = now;
  fs->super->s_mkfs_time = fs->super->s_lastcheck = (uint32_t)now;
  fs->super->s_def_hash_version = EXT2_HASH_HALF_MD4;
  fs->super->s_flags &= ~EXT2_FLAGS_SIGNED_HASH;
  fs->super->s_flags |= EXT2_FLAGS_UNSIGNED_HASH; /* the same hashes on every host */
  fs->super->s_checksum_type = EXT2_CRC32C_CHKSUM;
  fs->super->s_min_extra_isize = BG_EXT4_EXTRA_ISIZE;
  fs->super->s_want_extra_isize = BG_EXT4_EXTRA_ISIZE;
  memset(fs->super->s_volume_name, 0, sizeof(fs->super->s_volume_name));
  if (o->label != NULL)
    memcpy(fs->super->s_volume_name, o->label, strlen(o->label));
  ext2fs_init_csum_seed(fs);
  /* a fresh sparse file reads as zeros: the inode tables need no writing */
  for (g = 0; g < fs->group_desc_count; g++) {
    ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
    ext2fs_group_desc_csum_set(fs, g);
  }
  for (i = 1; i < EXT2_FIRST_INO(fs->super); i++)
    if (i != EXT2_ROOT_INO)
      ext2fs_inode_alloc_stats2(fs, i, +1, 0);
  rc = ext2fs_update_bb_inode(fs, NULL);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while writing the bad block inode");
  rc = ext2fs_create_resize_inode(fs);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reserving blocks for online resize");
  if (o->journal) {
    rc = ext2fs_get_journal_params(&jp, fs);
    if (rc == 0)
      rc = ext2fs_add_journal_inode3(fs, &jp, ~0ULL,
                                     EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while creating the journal");
  }
  return 0;
}

static int split_path(const char *path, char *dir, size_t dsz, const char **base,
                      struct bg_error *err)
{
  return bg_path_split(path, dir, dsz, base, err);
}

static int sync_path(const char *path, int dir, struct bg_error *err)
{
  int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);

  if (fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", path);
  if (fsync(fd) != 0) {
    bg_error_errno(err, errno, "cannot sync %s", path);
    close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

int bg_ext4_create(const char *path, const struct bg_ext4_opts *opts, struct bg_tree *tree,
                   struct bg_error *err)
{
  char dir[PATH_MAX], prefix[PATH_MAX];
  struct bg_tmpfile t = {.fd = -1};
  struct ext2_super_block param;
  struct writer wr;
  struct need nd;
  const char *base;
  ext2_filsys fs = NULL;
  uint64_t size = opts->size - opts->size % BG_EXT4_BLOCK_SIZE, fb, ni, want;
  time_t now = opts->have_time ? (time_t)opts->time : time(NULL);
  int ret = -1, n;
  errcode_t rc;

  memset(&wr, 0, sizeof(wr));
  if (size < BG_EXT4_MIN_SIZE)
    return bg_error_set(err, BG_EINVAL, "image size %llu is below the minimum of 64 MiB",
                        (unsigned long long)opts->size);
  if (opts->label != NULL && strlen(opts->label) > EXT2_LABEL_LEN)
    return bg_error_set(err, BG_EINVAL, "label \"%s\" is longer than %d bytes", opts->label,
                        EXT2_LABEL_LEN);
  if (opts->reserved_permille > 500)
    return bg_error_set(err, BG_EINVAL, "reserved blocks above 50%%");
  if (split_path(path, dir, sizeof(dir), &base, err) != 0)
    return -1;

  /* does it fit? decided before any file exists */
  measure(tree, &nd);
  if (probe(opts, size, &nd, &fb, &ni, err) != 0)
    return -1;
  if (ni < nd.inodes && opts->inodes)
    return bg_error_set(err, BG_ENOSPC, "image too small: needs at least %llu inodes, has %llu",
                        (unsigned long long)nd.inodes, (unsigned long long)ni);
  if (fb < nd.blocks || ni < nd.inodes) {
    if (min_size(opts, &nd, &want, err) != 0)
      return -1;
    return bg_error_set(err, BG_ENOSPC, "image too small: needs at least %llu MiB",
                        (unsigned long long)(want >> 20));
  }

  /* written as .NAME.tmp-PID-XXXXXX, locked while open (util/tmpfile.h); such files left by
   * a build killed with -9 are swept here, by the next build into the directory */
  n = snprintf(prefix, sizeof(prefix), ".%s.tmp-", base);
  if (n < 0 || (size_t)n >= sizeof(prefix) || strlen(dir) + (size_t)n + 24 >= PATH_MAX)
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", path);
  bg_tmpfile_sweep(dir, NULL);
  if (bg_tmpfile_open(&t, dir, prefix, 0666, err) != 0)
    return -1;
  if (ftruncate(t.fd, (off_t)size) != 0) {
    bg_error_errno(err, errno, "cannot size %s", t.path);
    goto out;
  }

  fill_param(&param, opts, size, inode_count(opts, size, &nd));
  rc = ext2fs_initialize(t.path, EXT2_FLAG_64BITS, &param, unix_io_manager, &fs);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while formatting %s", path);
    goto out;
  }
  if (format(fs, opts, now, err) != 0)
    goto out;
  wr.fs = fs;
  wr.opts = opts;
  wr.tree = tree;
  wr.err = err;
  wr.now.sec = now;
  wr.nw = fs->super->s_inodes_count + 1;
  wr.w = calloc(wr.nw, sizeof(*wr.w));
  if (wr.w == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  wr.goal = fs->super->s_first_data_block;
  if (populate(&wr) != 0) {
    bg_error_prefix(err, "building %s", path);
    goto out;
  }
  rc = ext2fs_close_free(&fs);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while writing %s", path);
    goto out;
  }
  if (sync_path(t.path, 0, err) != 0 || bg_tmpfile_commit(&t, path, err) != 0 ||
      bg_tmpfile_close(&t, err) != 0)
    goto out;
  if (sync_path(dir, 1, err) != 0)
    goto out;
  ret = 0;
out:
  if (fs != NULL)
    ext2fs_free(fs); /* discards: nothing more reaches the file */
  bg_tmpfile_discard(&t);
  free(wr.w);
  return ret;
}
