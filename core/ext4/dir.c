/* The editor's lookups and changes of single names in directories. Hash-indexed directories are
 * searched through their index, checked blocks are kept, and the edit that follows a lookup
 * starts where it ended, so that a big directory costs a few blocks per edit. */
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2_err.h>

#include "ext4_internal.h"

/* Directory blocks the editor has read and checked, by block number, so that a run of edits in
 * one big directory reads and checksums its index blocks once. Anything that frees blocks or lets
 * libext2fs change a directory forgets them all (a new generation). */
#define CACHE_SLOTS 1024

struct cached {
  blk64_t pblk;
  uint32_t gen; /* 0: empty */
  unsigned char *buf;
};

/* Where the last lookup ended, so that the edit that follows it does not search again. */
struct memo {
  uint32_t gen; /* 0: none */
  ext2_ino_t dir;
  char name[EXT2_NAME_LEN + 1];
  int found;
  ext2_ino_t ino;
  blk64_t pblk; /* found: the entry's block; not found, indexed: the leaf its hash goes to */
  unsigned int off, prev;
  int has_prev;
};

struct bg_ext4_dircache {
  uint32_t gen;
  struct cached slot[CACHE_SLOTS];
  struct memo last;
};

void bg_ext4_dir_forget(struct bg_ext4 *img)
{
  if (img->dirs != NULL && ++img->dirs->gen == 0)
    img->dirs->gen = 1; /* after a wrap every slot is stale anyway: start over */
}

void bg_ext4_dir_cache_free(struct bg_ext4 *img)
{
  size_t i;

  if (img->dirs == NULL)
    return;
  for (i = 0; i < CACHE_SLOTS; i++)
    free(img->dirs->slot[i].buf);
  free(img->dirs);
  img->dirs = NULL;
}

static struct bg_ext4_dircache *cache_of(struct bg_ext4 *img)
{
  if (img->dirs == NULL) {
    img->dirs = calloc(1, sizeof(*img->dirs));
    if (img->dirs != NULL)
      img->dirs->gen = 1;
  }
  return img->dirs; /* NULL: work without */
}

static struct cached *slot_for(struct bg_ext4 *img, blk64_t pblk)
{
  struct bg_ext4_dircache *c = cache_of(img);

  return c == NULL ? NULL : &c->slot[pblk % CACHE_SLOTS];
}

static void remember_block(struct bg_ext4 *img, blk64_t pblk, const unsigned char *buf)
{
  struct cached *e = slot_for(img, pblk);
  size_t bs = img->fs->blocksize;

  if (e == NULL)
    return;
  if (e->buf == NULL)
    e->buf = malloc(bs);
  if (e->buf == NULL)
    return;
  memcpy(e->buf, buf, bs);
  e->pblk = pblk;
  e->gen = img->dirs->gen;
}

static int corrupt(struct bg_error *err, ext2_ino_t dir)
{
  return bg_error_set(err, BG_EFS, "directory inode %u is corrupted", dir);
}

/* Reads logical block lblk of a directory: 0, 1 for a hole, -1 on error. */
static int read_block(struct bg_ext4 *img, ext2_ino_t dir, struct ext2_inode_large *din,
                      blk64_t lblk, blk64_t *pblk, unsigned char *buf, struct bg_error *err)
{
  ext2_filsys fs = img->fs;
  struct cached *e;
  int flags = 0;
  errcode_t rc;

  *pblk = 0;
  rc = ext2fs_bmap2(fs, dir, (struct ext2_inode *)din, NULL, 0, lblk, &flags, pblk);
  if (rc == 0 && (*pblk == 0 || (flags & BMAP_RET_UNINIT)))
    return 1;
  if (rc == 0) {
    e = slot_for(img, *pblk);
    if (e != NULL && e->gen == img->dirs->gen && e->pblk == *pblk) {
      memcpy(buf, e->buf, fs->blocksize);
      return 0;
    }
    rc = ext2fs_read_dir_block4(fs, *pblk, buf, 0, dir);
  }
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reading block %llu of directory inode %u",
                        (unsigned long long)lblk, dir);
  remember_block(img, *pblk, buf);
  return 0;
}

static int write_block(struct bg_ext4 *img, ext2_ino_t dir, blk64_t pblk, unsigned char *buf,
                       const char *path, struct bg_error *err)
{
  errcode_t rc = ext2fs_write_dir_block4(img->fs, pblk, buf, 0, dir); /* sets the checksum */

  if (rc != 0) {
    bg_ext4_dir_forget(img);
    return bg_ext4_fail(err, rc, "while writing the directory of %s", path);
  }
  remember_block(img, pblk, buf);
  return 0;
}

/* Where a found entry lives: its block, its offset, and the entry before it in that block. */
struct slot {
  blk64_t pblk;
  unsigned int off, prev;
  int has_prev;
};

/* Looks for name in one directory block: 1 found (with *slot), 0 not, -1 corrupted. */
static int scan_block(ext2_filsys fs, const unsigned char *buf, const char *name, size_t len,
                      ext2_ino_t *ino, struct slot *s)
{
  const unsigned int bs = fs->blocksize;
  unsigned int off = 0, rec, prev = 0, nl;
  int has_prev = 0;

  while (off + 8 <= bs) {
    const struct ext2_dir_entry *d = (const struct ext2_dir_entry *)(buf + off);

    if (ext2fs_get_rec_len(fs, (struct ext2_dir_entry *)d, &rec) != 0 || rec < 8 || rec % 4 ||
        off + rec > bs)
      return -1;
    nl = (unsigned int)ext2fs_dirent_name_len(d);
    if (nl + 8 > rec)
      return -1;
    if (d->inode != 0 && nl == len && memcmp(d->name, name, len) == 0) {
      *ino = d->inode;
      s->off = off;
      s->prev = prev;
      s->has_prev = has_prev;
      return 1;
    }
    prev = off;
    has_prev = 1;
    off += rec;
  }
  return 0;
}

/* Every block, in order: directories without an index (and a fallback for odd indexes). */
static int linear_find(struct bg_ext4 *img, ext2_ino_t dir, struct ext2_inode_large *din,
                       const char *name, size_t len, unsigned char *buf, ext2_ino_t *ino,
                       struct slot *s, struct bg_error *err)
{
  uint64_t n = EXT2_I_SIZE(din) / img->fs->blocksize, lblk;
  int r;

  for (lblk = 0; lblk < n; lblk++) {
    r = read_block(img, dir, din, lblk, &s->pblk, buf, err);
    if (r < 0)
      return -1;
    if (r > 0)
      continue;
    r = scan_block(img->fs, buf, name, len, ino, s);
    if (r < 0)
      return corrupt(err, dir);
    if (r > 0)
      return 1;
  }
  return 0;
}

struct frame {
  unsigned char *buf;
  struct ext2_dx_entry *entries;
  unsigned int count, at;
};

/* The index entry at level whose range holds hash: the kernel's dx_probe. */
static int dx_descend(ext2_filsys fs, ext2_ino_t dir, struct frame *f, unsigned int level,
                      uint32_t hash, struct bg_error *err)
{
  struct ext2_dx_countlimit *cl;
  unsigned int lo, hi, mid;
  errcode_t rc;
  int offset;

  rc = ext2fs_get_dx_countlimit(fs, (struct ext2_dir_entry *)f[level].buf, &cl, &offset);
  if (rc != 0 || cl->count == 0 || cl->count > cl->limit)
    return corrupt(err, dir);
  f[level].entries = (struct ext2_dx_entry *)cl;
  f[level].count = cl->count;
  lo = 1;
  hi = cl->count;
  while (lo < hi) { /* the last entry whose hash is <= hash; entry 0 has none and takes the rest */
    mid = lo + (hi - lo) / 2;
    if (f[level].entries[mid].hash > hash)
      hi = mid;
    else
      lo = mid + 1;
  }
  f[level].at = lo - 1;
  return 0;
}

static uint32_t dx_block(const struct frame *f)
{
  return f->entries[f->at].block & 0x0fffffff;
}

/* Hash-indexed lookup: 1 found, 0 not (*leaf: where the name would go), 2 the index is not one
 * this code reads (use linear_find), -1 error. */
static int dx_find(struct bg_ext4 *img, ext2_ino_t dir, struct ext2_inode_large *din,
                   const char *name, size_t len, unsigned char *buf, ext2_ino_t *ino,
                   struct slot *s, blk64_t *leaf, struct bg_error *err)
{
  ext2_filsys fs = img->fs;
  struct frame f[EXT4_HTREE_LEVEL];
  const struct ext2_dx_root_info *root;
  unsigned int levels, lv;
  uint32_t hash = 0, minor = 0, bhash;
  blk64_t pblk;
  errcode_t rc;
  int alg, r, up, ret = -1;

  memset(f, 0, sizeof(f));
  r = read_block(img, dir, din, 0, &pblk, buf, err);
  if (r != 0)
    return r < 0 ? -1 : 2;
  root = (const struct ext2_dx_root_info *)(buf + 24);
  alg = root->hash_version;
  levels = root->indirect_levels + 1u;
  if ((alg != EXT2_HASH_LEGACY && alg != EXT2_HASH_HALF_MD4 && alg != EXT2_HASH_TEA) ||
      root->info_length != 8 || levels > ext2_dir_htree_level(fs))
    return 2;
  if (alg <= EXT2_HASH_TEA && (fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH))
    alg += 3;
  rc = ext2fs_dirhash2(alg, name, (int)len, fs->encoding, din->i_flags & EXT4_CASEFOLD_FL,
                       fs->super->s_hash_seed, &hash, &minor);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while hashing a name in directory inode %u", dir);
  for (lv = 0; lv < levels; lv++) {
    f[lv].buf = malloc(fs->blocksize);
    if (f[lv].buf == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
  }
  memcpy(f[0].buf, buf, fs->blocksize);
  for (lv = 0; lv < levels; lv++) {
    if (lv > 0) {
      r = read_block(img, dir, din, dx_block(&f[lv - 1]), &pblk, f[lv].buf, err);
      if (r != 0)
        goto hole;
    }
    if (dx_descend(fs, dir, f, lv, hash, err) != 0)
      goto out;
  }
  *leaf = 0;
  for (;;) {
    r = read_block(img, dir, din, dx_block(&f[levels - 1]), &s->pblk, buf, err);
    if (r != 0)
      goto hole;
    if (*leaf == 0)
      *leaf = s->pblk; /* where the name goes (the first leaf for its hash) */
    r = scan_block(fs, buf, name, len, ino, s);
    if (r < 0) {
      corrupt(err, dir);
      goto out;
    }
    if (r > 0) {
      ret = 1;
      goto out;
    }
    /* names with this hash may go on in the next leaf, which then starts with the hash | 1 */
    for (up = (int)levels - 1; up >= 0 && f[up].at + 1 >= f[up].count; up--)
      ;
    if (up < 0) {
      ret = 0;
      goto out;
    }
    f[up].at++;
    bhash = f[up].entries[f[up].at].hash;
    if ((bhash & ~1u) != hash) {
      ret = 0;
      goto out;
    }
    for (lv = (unsigned int)up + 1; lv < levels; lv++) {
      r = read_block(img, dir, din, dx_block(&f[lv - 1]), &pblk, f[lv].buf, err);
      if (r != 0)
        goto hole;
      if (dx_descend(fs, dir, f, lv, 0, err) != 0)
        goto out;
      f[lv].at = 0; /* the leftmost path below the step */
    }
  }
hole:
  if (r > 0)
    corrupt(err, dir); /* an index pointing at a hole */
out:
  for (lv = 0; lv < levels && lv < EXT4_HTREE_LEVEL; lv++)
    free(f[lv].buf);
  return ret;
}

static int indexed(const struct bg_ext4 *img, const struct ext2_inode_large *din)
{
  return (din->i_flags & EXT2_INDEX_FL) && ext2fs_has_feature_dir_index(img->fs->super);
}

/* 1 found, 0 not, -1 error; remembers where it ended for the edit that follows. Inline-data
 * directories are left to libext2fs. */
static int find(struct bg_ext4 *img, ext2_ino_t dir, struct ext2_inode_large *din,
                const char *name, size_t len, ext2_ino_t *ino, struct slot *s,
                struct bg_error *err)
{
  struct bg_ext4_dircache *c;
  unsigned char *buf;
  blk64_t leaf = 0;
  int r = 2;

  if (!LINUX_S_ISDIR(din->i_mode))
    return bg_error_set(err, BG_EINVAL, "inode %u is not a directory", dir);
  buf = malloc(img->fs->blocksize);
  if (buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  if (indexed(img, din))
    r = dx_find(img, dir, din, name, len, buf, ino, s, &leaf, err);
  if (r == 2) {
    leaf = 0;
    r = linear_find(img, dir, din, name, len, buf, ino, s, err);
  }
  free(buf);
  c = cache_of(img);
  if (c != NULL && r >= 0 && len <= EXT2_NAME_LEN) {
    c->last.gen = c->gen;
    c->last.dir = dir;
    memcpy(c->last.name, name, len);
    c->last.name[len] = '\0';
    c->last.found = r;
    c->last.ino = r ? *ino : 0;
    c->last.pblk = r ? s->pblk : leaf;
    c->last.off = s->off;
    c->last.prev = s->prev;
    c->last.has_prev = s->has_prev;
  }
  return r;
}

/* The last lookup's result when it was about name in dir and nothing changed since. */
static const struct memo *recall(struct bg_ext4 *img, ext2_ino_t dir, const char *name)
{
  const struct bg_ext4_dircache *c = img->dirs;

  if (c == NULL || c->last.gen != c->gen || c->last.dir != dir || strcmp(c->last.name, name))
    return NULL;
  return &c->last;
}

int bg_ext4_dir_lookup(struct bg_ext4 *img, ext2_ino_t dir, const char *name, size_t len,
                       ext2_ino_t *ino, struct bg_error *err)
{
  struct ext2_inode_large din;
  struct slot s;
  errcode_t rc;
  int r;

  if (bg_ext4_read_inode(img, dir, &din, name, err) != 0)
    return -1;
  if (din.i_flags & EXT4_INLINE_DATA_FL) {
    rc = ext2fs_lookup(img->fs, dir, name, (int)len, NULL, ino);
    if (rc == EXT2_ET_FILE_NOT_FOUND)
      return 1;
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while looking up %.*s", (int)len, name);
    return 0;
  }
  memset(&s, 0, sizeof(s));
  r = find(img, dir, &din, name, len, ino, &s, err);
  return r < 0 ? -1 : (r ? 0 : 1);
}

int bg_ext4_dir_writable(struct bg_ext4 *img, ext2_ino_t dir, const struct ext2_inode_large *din,
                         const char *path, struct bg_error *err)
{
  if (din->i_flags & EXT4_ENCRYPT_FL)
    return bg_error_set(err, BG_EINVAL, "%s: its directory is encrypted", path);
  if (din->i_flags & EXT4_CASEFOLD_FL)
    return bg_error_set(err, BG_EINVAL, "%s: its directory folds case, which this editor "
                        "does not write", path);
  return 0;
}

/* Finds name -> want for a change (the last lookup's slot when it is still good) and reads its
 * block into buf. */
static int find_for_change(struct bg_ext4 *img, ext2_ino_t dir, struct ext2_inode_large *din,
                           const char *name, ext2_ino_t want, unsigned char *buf, struct slot *s,
                           const char *path, struct bg_error *err)
{
  const struct memo *m = recall(img, dir, name);
  ext2_ino_t ino = 0;
  struct cached *e;
  errcode_t rc;
  int r;

  if (bg_ext4_dir_writable(img, dir, din, path, err) != 0)
    return -1;
  if (m != NULL && m->found && m->ino == want) {
    s->pblk = m->pblk;
    s->off = m->off;
    s->prev = m->prev;
    s->has_prev = m->has_prev;
  } else {
    memset(s, 0, sizeof(*s));
    r = find(img, dir, din, name, strlen(name), &ino, s, err);
    if (r < 0)
      return -1;
    if (r == 0 || ino != want)
      return bg_error_set(err, BG_EFS, "%s: the directory entry changed under the edit", path);
  }
  e = slot_for(img, s->pblk);
  if (e != NULL && e->gen == img->dirs->gen && e->pblk == s->pblk) {
    memcpy(buf, e->buf, img->fs->blocksize);
    return 0;
  }
  rc = ext2fs_read_dir_block4(img->fs, s->pblk, buf, 0, dir);
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while reading the directory of %s", path);
  return 0;
}

struct relink_ctx {
  const char *name;
  size_t len;
  ext2_ino_t old, ino;
  uint8_t ftype;
  int done;
};

static int relink_visit(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
                        int blocksize, char *buf, void *priv)
{
  struct relink_ctx *c = priv;

  if (d->inode != c->old || (size_t)ext2fs_dirent_name_len(d) != c->len ||
      memcmp(d->name, c->name, c->len) != 0)
    return 0;
  d->inode = c->ino;
  ext2fs_dirent_set_file_type(d, c->ftype);
  c->done = 1;
  return DIRENT_CHANGED | DIRENT_ABORT;
}

int bg_ext4_dir_relink(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t old,
                       ext2_ino_t ino, uint32_t mode, const char *path, struct bg_error *err)
{
  ext2_filsys fs = img->fs;
  uint8_t ftype = ext2fs_has_feature_filetype(fs->super) ? bg_ext4_ftype(mode) : 0;
  struct ext2_inode_large din;
  struct ext2_dir_entry *d;
  unsigned char *buf;
  struct slot s;
  errcode_t rc;
  int ret = -1;

  if (bg_ext4_read_inode(img, dir, &din, path, err) != 0)
    return -1;
  if (din.i_flags & EXT4_INLINE_DATA_FL) {
    struct relink_ctx c = {name, strlen(name), old, ino, ftype, 0};

    bg_ext4_dir_forget(img);
    rc = ext2fs_dir_iterate2(fs, dir, 0, NULL, relink_visit, &c);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while relinking %s", path);
    if (!c.done)
      return bg_error_set(err, BG_EFS, "%s: the directory entry changed under the edit", path);
    return 0;
  }
  buf = malloc(fs->blocksize);
  if (buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  if (find_for_change(img, dir, &din, name, old, buf, &s, path, err) != 0)
    goto out;
  d = (struct ext2_dir_entry *)(buf + s.off);
  d->inode = ino;
  ext2fs_dirent_set_file_type(d, ftype);
  if (write_block(img, dir, s.pblk, buf, path, err) != 0)
    goto out;
  ret = 0;
out:
  free(buf);
  return ret;
}

int bg_ext4_dir_unlink(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                       const char *path, struct bg_error *err)
{
  ext2_filsys fs = img->fs;
  struct ext2_inode_large din;
  struct ext2_dir_entry *d, *prev;
  unsigned int rec, prec;
  unsigned char *buf;
  struct slot s;
  errcode_t rc = 0;
  int ret = -1;

  if (bg_ext4_read_inode(img, dir, &din, path, err) != 0)
    return -1;
  if (din.i_flags & EXT4_INLINE_DATA_FL) {
    if (bg_ext4_dir_writable(img, dir, &din, path, err) != 0)
      return -1;
    bg_ext4_dir_forget(img);
    rc = ext2fs_unlink(fs, dir, name, ino, 0);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while unlinking %s", path);
    return 0;
  }
  buf = malloc(fs->blocksize);
  if (buf == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  if (find_for_change(img, dir, &din, name, ino, buf, &s, path, err) != 0)
    goto out;
  d = (struct ext2_dir_entry *)(buf + s.off);
  if (s.has_prev) { /* the entry before takes its space, as the kernel does */
    prev = (struct ext2_dir_entry *)(buf + s.prev);
    rc = ext2fs_get_rec_len(fs, d, &rec);
    if (rc == 0)
      rc = ext2fs_get_rec_len(fs, prev, &prec);
    if (rc == 0)
      rc = ext2fs_set_rec_len(fs, prec + rec, prev);
  } else {
    d->inode = 0;
  }
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while unlinking %s", path);
    goto out;
  }
  if (write_block(img, dir, s.pblk, buf, path, err) != 0)
    goto out;
  ret = 0;
out:
  free(buf);
  return ret;
}

/* Puts name -> ino into a leaf block with room for it, as libext2fs's link_proc does: in an
 * unused entry, or in the slack after a used one. 1 done, 0 no room. */
static int insert_into(ext2_filsys fs, unsigned char *buf, const char *name, ext2_ino_t ino,
                       uint8_t ftype)
{
  const unsigned int end = fs->blocksize -
                           (ext2fs_has_feature_metadata_csum(fs->super) ? 12 : 0);
  const unsigned int len = (unsigned int)strlen(name), need = bg_ext4_rec_len(len);
  unsigned int off = 0, rec, used;
  struct ext2_dir_entry *d, *nd;

  while (off + 8 <= end) {
    d = (struct ext2_dir_entry *)(buf + off);
    if (ext2fs_get_rec_len(fs, d, &rec) != 0 || rec < 8 || off + rec > end)
      return 0;
    used = d->inode ? bg_ext4_rec_len((unsigned int)ext2fs_dirent_name_len(d)) : 0;
    if (rec >= used + need) {
      if (used > 0) { /* split the slack off the used entry */
        ext2fs_set_rec_len(fs, used, d);
        nd = (struct ext2_dir_entry *)(buf + off + used);
        ext2fs_set_rec_len(fs, rec - used, nd);
        d = nd;
      }
      d->inode = ino;
      ext2fs_dirent_set_name_len(d, (int)len);
      ext2fs_dirent_set_file_type(d, ftype);
      memcpy(d->name, name, len);
      return 1;
    }
    off += rec;
  }
  return 0;
}

struct gather {
  struct bg_ext4_dentry *v;
  char **names;
  size_t n, alloc;
  ext2_ino_t parent;
  int failed;
};

static int gather_visit(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
                        int blocksize, char *buf, void *priv)
{
  struct gather *g = priv;
  int nl = ext2fs_dirent_name_len(d);
  struct bg_ext4_dentry *nv;
  char **nn;

  switch (bg_ext4_dot_entry(d)) {
  case 1:
    return 0;
  case 2:
    g->parent = d->inode;
    return 0;
  }
  if (g->n + 1 >= g->alloc) { /* one slot stays free for the name being added */
    g->alloc = g->alloc ? g->alloc * 2 : 64;
    nv = realloc(g->v, g->alloc * sizeof(*nv));
    if (nv != NULL)
      g->v = nv;
    nn = realloc(g->names, g->alloc * sizeof(*nn));
    if (nn != NULL)
      g->names = nn;
    if (nv == NULL || nn == NULL) {
      g->failed = 1;
      return DIRENT_ABORT;
    }
  }
  g->names[g->n] = malloc((size_t)nl + 1);
  if (g->names[g->n] == NULL) {
    g->failed = 1;
    return DIRENT_ABORT;
  }
  memcpy(g->names[g->n], d->name, (size_t)nl);
  g->names[g->n][nl] = '\0';
  g->v[g->n].name = g->names[g->n];
  g->v[g->n].len = (uint32_t)nl;
  g->v[g->n].ino = d->inode;
  g->v[g->n].ftype = (uint8_t)ext2fs_dirent_file_type(d);
  g->n++;
  return 0;
}

/* A full linear directory becomes a hash tree holding its names and the new one, written to new
 * blocks before the old ones are freed (the kernel's make_indexed_dir). */
static int make_indexed(struct bg_ext4 *img, ext2_ino_t dir, struct ext2_inode_large *din,
                        const char *name, ext2_ino_t ino, uint8_t ftype, const char *path,
                        struct bg_error *err)
{
  ext2_filsys fs = img->fs;
  struct gather g;
  struct ext2_inode_large nin;
  struct bg_ext4_memsrc ms;
  struct bg_ext4_src src = {bg_ext4_mem_read, NULL, &ms};
  unsigned char *blocks = NULL;
  uint32_t nb = 0;
  struct bg_ext4_cursor at = {0, NULL, NULL};
  errcode_t rc;
  size_t i;
  int indexed_now = 0, ret = -1;

  memset(&g, 0, sizeof(g));
  rc = ext2fs_dir_iterate2(fs, dir, 0, NULL, gather_visit, &g);
  if (g.failed) {
    bg_error_set(err, BG_ENOMEM, "out of memory");
    goto out;
  }
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while reading the directory of %s", path);
    goto out;
  }
  if (g.alloc == 0) { /* nothing but . and ..: room for the one name */
    g.v = malloc(sizeof(*g.v));
    if (g.v == NULL) {
      bg_error_set(err, BG_ENOMEM, "out of memory");
      goto out;
    }
  }
  g.v[g.n].name = name;
  g.v[g.n].len = (uint32_t)strlen(name);
  g.v[g.n].ino = ino;
  g.v[g.n].ftype = ftype;
  if (bg_ext4_build_dir(fs, dir, g.parent ? g.parent : dir, g.v, g.n + 1, 1, &blocks, &nb,
                        &indexed_now, err) != 0)
    goto out;
  nin = *din;
  memset(nin.i_block, 0, sizeof(nin.i_block));
  nin.i_flags &= ~(EXT4_EXTENTS_FL | EXT2_INDEX_FL);
  nin.i_size = nin.i_size_high = 0;
  ext2fs_iblk_set(fs, (struct ext2_inode *)&nin, 0);
  ms.p = blocks;
  ms.len = (uint64_t)nb * fs->blocksize;
  at.goal = ext2fs_find_inode_goal(fs, dir, (struct ext2_inode *)din, 0);
  if (bg_ext4_put_data(fs, dir, &nin, ms.len, &src, 0, &at, path, err) != 0)
    goto out;
  if (indexed_now)
    nin.i_flags |= EXT2_INDEX_FL;
  bg_ext4_dir_forget(img);
  rc = ext2fs_punch(fs, dir, (struct ext2_inode *)din, NULL, 0, ~0ULL);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while freeing the old blocks of the directory of %s", path);
    goto out;
  }
  ret = bg_ext4_write_inode(img, dir, &nin, path, err);
out:
  for (i = 0; i < g.n; i++)
    free(g.names[i]);
  free(g.names);
  free(g.v);
  free(blocks);
  return ret;
}

/* The leaf the last lookup chose for name, when it has room: the name goes in without another
 * search. 1 done, 0 not possible, -1 error. */
static int link_into_leaf(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                          uint8_t ftype, const char *path, struct bg_error *err)
{
  const struct memo *m = recall(img, dir, name);
  blk64_t pblk;
  struct cached *e;
  unsigned char *buf;
  int r = 0;

  if (m == NULL || m->found || m->pblk == 0)
    return 0;
  pblk = m->pblk;
  e = slot_for(img, pblk);
  if (e == NULL || e->gen != img->dirs->gen || e->pblk != pblk)
    return 0;
  buf = malloc(img->fs->blocksize);
  if (buf == NULL)
    return 0;
  memcpy(buf, e->buf, img->fs->blocksize);
  if (insert_into(img->fs, buf, name, ino, ftype))
    r = write_block(img, dir, pblk, buf, path, err) == 0 ? 1 : -1;
  free(buf);
  if (r > 0)
    img->dirs->last.gen = 0; /* the name is there now */
  return r;
}

int bg_ext4_dir_link(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                     uint32_t mode, const char *path, struct bg_error *err)
{
  ext2_filsys fs = img->fs;
  uint8_t ftype = ext2fs_has_feature_filetype(fs->super) ? bg_ext4_ftype(mode) : 0;
  struct ext2_inode_large din;
  errcode_t rc;
  int r;

  if (bg_ext4_read_inode(img, dir, &din, path, err) != 0 ||
      bg_ext4_dir_writable(img, dir, &din, path, err) != 0)
    return -1;
  if (indexed(img, &din) && ext2fs_has_feature_filetype(fs->super)) {
    r = link_into_leaf(img, dir, name, ino, ftype, path, err);
    if (r != 0)
      return r > 0 ? 0 : -1;
  }
  bg_ext4_dir_forget(img); /* libext2fs changes the directory from here on */
  rc = ext2fs_link(fs, dir, name, ino, ftype);
  if (rc == EXT2_ET_DIR_NO_SPACE && !(din.i_flags & EXT2_INDEX_FL)) {
    if (ext2fs_has_feature_dir_index(fs->super) && ext2fs_has_feature_filetype(fs->super) &&
        !(din.i_flags & EXT4_INLINE_DATA_FL))
      return make_indexed(img, dir, &din, name, ino, ftype, path, err);
    rc = ext2fs_expand_dir(fs, dir); /* no index to be had: one more block */
    if (rc == 0)
      rc = ext2fs_link(fs, dir, name, ino, ftype);
  }
  if (rc != 0)
    return bg_ext4_fail(err, rc, "while linking %s", path);
  return 0;
}
