/* Replaying one layer into the tree: tar entries through libarchive, OCI whiteouts, path and
 * link safety, metadata from the headers, contents into the spool. */
#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/path.h"
#include "stream.h"

#define DEFAULT_MAX_BYTES ((uint64_t)64 << 30)
#define DEFAULT_MAX_ENTRIES 8000000u
#define SHOW_MAX 200 /* bytes of an entry name quoted in a message */
#define BLOCK 4096   /* the unit of holes: the spool's and the image's blocks */

#define OPAQUE ".wh..wh..opq"
#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."

struct apply {
  struct bg_tree *t;
  const struct bg_layer_policy *policy;
  const char *label;
  struct bg_lstream *stream;
  struct bg_error serr; /* what the stream reported inside a libarchive callback */
  const void *first;    /* the stream's first bytes, read before libarchive starts */
  size_t first_len;
  uint64_t max_entries;
  uint64_t max_bytes;
  struct bg_tree_layer_totals *totals;
  char path[BG_TREE_PATH_MAX + 1]; /* the current entry, cleaned */
};

int bg_layer_compression_of(const char *media_type)
{
  static const struct {
    const char *type;
    int compression;
  } types[] = {
      {"application/vnd.oci.image.layer.v1.tar", BG_LAYER_PLAIN},
      {"application/vnd.oci.image.layer.v1.tar+gzip", BG_LAYER_GZIP},
      {"application/vnd.oci.image.layer.v1.tar+zstd", BG_LAYER_ZSTD},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar", BG_LAYER_PLAIN},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", BG_LAYER_GZIP},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", BG_LAYER_ZSTD},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", BG_LAYER_GZIP},
      {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", BG_LAYER_GZIP},
      {"application/vnd.docker.image.rootfs.diff.tar", BG_LAYER_PLAIN},
  };
  size_t i;

  if (media_type == NULL)
    return -1;
  for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    if (strcmp(media_type, types[i].type) == 0)
      return types[i].compression;
  return -1;
}

/* An entry name fit for a message: non-printable bytes as \xNN, long names cut. */
static void show(const char *raw, char *out, size_t cap)
{
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  unsigned char c;

  for (; *raw != '\0' && o + 8 < cap; raw++) {
    c = (unsigned char)*raw;
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out[o++] = (char)c;
    } else {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  if (*raw != '\0') {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

/* An entry name, cleaned into "a/b/c" ("" for the root). */
static int clean_name(const char *raw, char *out, struct bg_error *err)
{
  size_t n = strlen(raw), len;
  int problem = bg_path_clean(raw, n, BG_PATH_ENTRY, out, BG_PATH_MAX, &len);

  switch (problem) {
  case BG_PATH_OK:
    return 0;
  case BG_PATH_ABSOLUTE:
  case BG_PATH_DOTDOT:
    return bg_error_set(err, BG_EUNSAFE, "unsafe path");
  case BG_PATH_LONG:
    return bg_error_set(err, BG_ETOOBIG, "name too long (its path would be over %d bytes)",
                        BG_PATH_MAX);
  }
  return bg_path_error(err, problem, raw, n, NULL);
}

/* A hardlink target: a path in the image root, as a chroot reads it (absolute ones too), whose
 * ".." never climbs above the root. */
static int clean_hardlink(const char *raw, char *out, struct bg_error *err)
{
  size_t n = strlen(raw), len;
  int problem = bg_path_clean(raw, n, BG_PATH_HARDLINK, out, BG_PATH_MAX, &len);

  if (problem == BG_PATH_CLIMB)
    return bg_error_set(err, BG_EUNSAFE, "unsafe hardlink (target leaves the root)");
  if (problem == BG_PATH_EMPTY)
    return bg_error_set(err, BG_EINVAL, "empty hardlink target");
  if (problem != BG_PATH_OK)
    return bg_path_error(err, problem, raw, n, "hardlink target");
  if (out[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "hardlink to the root directory");
  return 0;
}

/* A symlink target: at most what ext4 and Linux hold; a relative one, read from the link's own
 * directory, must not climb above the root (an absolute one resolves inside the guest). */
static int check_symlink(const char *path, const char *target, struct bg_error *err)
{
  char buf[2 * (BG_PATH_MAX + 1)];
  const char *slash = strrchr(path, '/');
  size_t n = strlen(target), len = slash ? (size_t)(slash - path) : 0;

  if (n == 0)
    return bg_error_set(err, BG_EINVAL, "empty symlink target");
  if (n > BG_TREE_SYMLINK_MAX)
    return bg_error_set(err, BG_ETOOBIG, "symlink target too long (%zu bytes, at most %d)", n,
                        BG_TREE_SYMLINK_MAX);
  if (target[0] == '/')
    return 0;
  memcpy(buf, path, len);
  buf[len] = '\0';
  if (bg_path_append(buf, sizeof(buf), &len, target, n, BG_PATH_POPDOTDOT | BG_PATH_LONGNAMES) ==
      BG_PATH_CLIMB)
    return bg_error_set(err, BG_EUNSAFE, "unsafe symlink (target %s leaves the root)", target);
  return 0;
}

/* libarchive (3.6 and every later release so far) reads a PAX time "-1.5" as -1 s plus 0.5 s,
 * losing the fraction's sign. Asked once, with a tar that says exactly that. */
static int pax_sign_lost;
static pthread_once_t pax_probe_once = PTHREAD_ONCE_INIT;

static void tar_header(unsigned char *h, const char *name, char type, size_t size)
{
  unsigned sum = 0;
  size_t i;

  memset(h, 0, 512);
  memcpy(h, name, strlen(name));
  memcpy(h + 100, "0000644", 8);
  memcpy(h + 108, "0000000", 8);
  memcpy(h + 116, "0000000", 8);
  snprintf((char *)h + 124, 12, "%011o", (unsigned)(size & 07777777u));
  memcpy(h + 136, "00000000000", 12);
  h[156] = (unsigned char)type;
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  for (i = 0; i < 512; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
}

static void pax_probe(void)
{
  static const char record[] = "14 mtime=-1.5\n";
  static unsigned char tar[512 * 5];
  struct archive_entry *e;
  struct archive *a = archive_read_new();

  tar_header(tar, "p.pax", 'x', sizeof(record) - 1);
  memcpy(tar + 512, record, sizeof(record) - 1);
  tar_header(tar + 1024, "p", '0', 0);
  if (a == NULL)
    return;
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, tar, sizeof(tar)) == ARCHIVE_OK &&
      archive_read_next_header(a, &e) == ARCHIVE_OK)
    pax_sign_lost = archive_entry_mtime(e) == -1 && archive_entry_mtime_nsec(e) == 500000000;
  archive_read_free(a);
}

/* A time as the header means it: with the sign lost, a negative time's fraction counts down. */
static struct bg_time entry_time(int64_t sec, long nsec)
{
  struct bg_time t;

  t.sec = sec;
  t.nsec = (uint32_t)nsec % 1000000000u;
  if (pax_sign_lost && sec < 0 && t.nsec > 0) {
    t.sec = sec - 1;
    t.nsec = 1000000000u - t.nsec;
  }
  return t;
}

static int entry_meta(struct archive_entry *e, struct bg_meta *m, struct bg_error *err)
{
  int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

  if (uid < 0 || uid > (int64_t)UINT32_MAX)
    return bg_error_set(err, BG_EINVAL, "uid %lld out of range", (long long)uid);
  if (gid < 0 || gid > (int64_t)UINT32_MAX)
    return bg_error_set(err, BG_EINVAL, "gid %lld out of range", (long long)gid);
  memset(m, 0, sizeof(*m));
  m->mode = (uint32_t)archive_entry_perm(e) & 07777;
  m->uid = (uint32_t)uid;
  m->gid = (uint32_t)gid;
  m->mtime = entry_time(archive_entry_mtime(e), archive_entry_mtime_nsec(e));
  m->atime = m->mtime;
  m->ctime = m->mtime;
  if (archive_entry_atime_is_set(e))
    m->atime = entry_time(archive_entry_atime(e), archive_entry_atime_nsec(e));
  if (archive_entry_ctime_is_set(e))
    m->ctime = entry_time(archive_entry_ctime(e), archive_entry_ctime_nsec(e));
  return 0;
}

/* ---- whiteouts ---- */

static int whiteout(struct apply *ap, const char *base, const struct bg_time *when,
                    struct bg_error *err)
{
  struct bg_node *dir, *victim;
  char last[BG_TREE_NAME_MAX + 1];
  const char *name = base + strlen(WH_PREFIX);
  size_t len = strlen(name);

  if (strcmp(base, OPAQUE) != 0 && strncmp(base, WH_META, strlen(WH_META)) == 0) {
    bg_log(BG_LOG_DEBUG, "ignoring whiteout metadata %s", base);
    return 0;
  }
  if (len == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return bg_error_set(err, BG_EINVAL, "invalid whiteout name");
  /* the whiteout's directory exists in this layer, like any entry's parent */
  if (bg_tree_parent(ap->t, ap->path, BG_PARENTS, when, &dir, last, err) != 0)
    return -1;
  if (!S_ISDIR(dir->inode->mode))
    return bg_error_set(err, BG_EINVAL, "not a directory");
  bg_tree_touch(ap->t, dir);
  if (strcmp(base, OPAQUE) == 0)
    return bg_tree_make_opaque(ap->t, dir, err);
  victim = bg_node_child(dir, name, len);
  if (victim == NULL)
    return 0;
  if (victim->gen != bg_tree_layer_gen(ap->t)) {
    bg_tree_remove_node(ap->t, victim);
    return 0;
  }
  /* this layer wrote that name itself: only what lower layers left below it goes */
  if (S_ISDIR(victim->inode->mode))
    return bg_tree_make_opaque(ap->t, victim, err);
  return 0;
}

/* Whether a directory on the way to base is AUFS bookkeeping (".wh..wh.plnk/..."). Only the last
 * component of a name marks a whiteout: ".wh.etc/x" is a file in a directory named ".wh.etc". */
static int inside_aufs_meta(const char *path, const char *base)
{
  const char *p = path;

  while (p < base) {
    if (strncmp(p, WH_META, strlen(WH_META)) == 0)
      return 1;
    p = strchr(p, '/');
    if (p == NULL)
      break;
    p++;
  }
  return 0;
}

/* Records what the policy, or what Linux cannot hold, changed of the current entry, for the
 * build's loss report. What Linux could not hold is a warning on the log too; what the policy
 * chose is not (the report's summary counts it). */
static void note(struct apply *ap, int kind, int warn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(struct apply *ap, int kind, int warn, const char *fmt, ...)
{
  char path[BG_TREE_PATH_MAX + 2], detail[512], shown[SHOW_MAX + 16];
  va_list va;

  va_start(va, fmt);
  vsnprintf(detail, sizeof(detail), fmt, va);
  va_end(va);
  snprintf(path, sizeof(path), "/%s", ap->path);
  if (bg_tree_note(ap->t, bg_tree_layer_gen(ap->t), kind, path, "%s", detail) == 0 || !warn)
    return; /* said already, or the policy's choice */
  show(ap->path, shown, sizeof(shown));
  bg_log(BG_LOG_WARN, "%s: %s: dropped %s", ap->label, shown, detail);
}

/* ---- contents and xattrs ---- */

static int all_zero(const unsigned char *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* A file's bytes at [pos, pos + len) of it, into the spool: runs of zeros as holes, cut at
 * BLOCK boundaries so a block is a hole exactly when it is all zeros. Counts the blocks that
 * hold data. */
static int spool_data(struct apply *ap, const unsigned char *p, size_t len, uint64_t *pos,
                      uint64_t *data_blocks, uint64_t *last_block, struct bg_error *err)
{
  const unsigned char *run = p;
  size_t piece;
  uint64_t blk;

  while (len > 0) {
    blk = *pos / BLOCK;
    piece = BLOCK - (size_t)(*pos % BLOCK);
    if (piece > len)
      piece = len;
    if (all_zero(p, piece)) {
      if (p > run && bg_tree_spool_append(ap->t, run, (size_t)(p - run), NULL, err) != 0)
        return -1;
      if (bg_tree_spool_hole(ap->t, piece, err) != 0)
        return -1;
      run = p + piece;
    } else if (blk != *last_block) {
      (*data_blocks)++;
      *last_block = blk;
    }
    p += piece;
    *pos += piece;
    len -= piece;
  }
  if (p > run && bg_tree_spool_append(ap->t, run, (size_t)(p - run), NULL, err) != 0)
    return -1;
  return 0;
}

/* A regular file's content: in memory when small, else in the spool with its holes kept (sparse
 * entries' and runs of zeros'), the logical size counted against the cap before a byte is read.
 * *zero_blocks counts its BLOCKs of zeros. */
static int read_content(struct apply *ap, struct archive *a, struct archive_entry *e,
                        struct bg_content *c, uint64_t *size, uint64_t *zero_blocks,
                        struct bg_error *err)
{
  const void *buf;
  size_t len;
  la_int64_t off;
  uint64_t pos = 0, data_blocks = 0, last_block = UINT64_MAX;
  int rc, spooled = 0;

  memset(c, 0, sizeof(*c));
  *zero_blocks = 0;
  *size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0
              ? (uint64_t)archive_entry_size(e)
              : 0;
  if (*size == 0)
    return 0;
  /* at its logical size: a sparse entry or a run of zeros costs no spool, but an image's blocks
   * and the time to write them all the same */
  if (ap->totals->content > ap->max_bytes || *size > ap->max_bytes - ap->totals->content)
    return bg_error_set(err, BG_ETOOBIG,
                        "file contents exceed the limit of %llu bytes (this file: %llu bytes)",
                        (unsigned long long)ap->max_bytes, (unsigned long long)*size);
  ap->totals->content += *size;
  if (*size <= BG_LAYER_MEM_MAX) {
    c->kind = BG_CONTENT_MEM;
    c->mem = calloc(1, (size_t)*size);
    if (c->mem == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
  } else {
    if (bg_tree_spool_begin(ap->t, *size, &c->offset, err) != 0)
      return -1;
    c->kind = BG_CONTENT_SPOOL;
    spooled = 1;
  }
  for (;;) {
    rc = archive_read_data_block(a, &buf, &len, &off);
    if (rc == ARCHIVE_EOF)
      break;
    if (rc == ARCHIVE_WARN) {
      bg_log(BG_LOG_WARN, "%s", archive_error_string(a));
    } else if (rc != ARCHIVE_OK) {
      if (ap->serr.code != 0)
        return bg_error_set(err, ap->serr.code, "%s", ap->serr.msg);
      return bg_error_set(err, BG_EINVAL, "%s", archive_error_string(a));
    }
    if (off < 0 || (uint64_t)off < pos || (uint64_t)off > *size || len > *size - (uint64_t)off)
      return bg_error_set(err, BG_EINVAL, "file data outside the file's size");
    if (!spooled) {
      memcpy(c->mem + off, buf, len);
      pos = (uint64_t)off + len;
      continue;
    }
    /* a sparse entry's holes stay holes */
    if ((uint64_t)off > pos && bg_tree_spool_hole(ap->t, (uint64_t)off - pos, err) != 0)
      return -1;
    pos = (uint64_t)off;
    if (spool_data(ap, buf, len, &pos, &data_blocks, &last_block, err) != 0)
      return -1;
  }
  if (spooled) {
    if (pos < *size && bg_tree_spool_hole(ap->t, *size - pos, err) != 0)
      return -1;
    *zero_blocks = (*size + BLOCK - 1) / BLOCK - data_blocks;
  }
  return 0;
}

static uint32_t le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The entry's xattrs as the inode's: overlayfs' own are left out, security.capability v3 becomes
 * v2 (the rootid of a user namespace means nothing in a VM), and what the kernel could not show
 * or ext4 could not hold is dropped with a note. */
static int set_xattrs(struct apply *ap, struct bg_inode *ino, struct archive_entry *e,
                      struct bg_error *err)
{
  const char *name, *why;
  const void *value;
  unsigned char cap[20];
  struct bg_error xerr;
  uint32_t magic;
  size_t len;

  /* the entry's set replaces what a lower layer's directory had */
  while (ino->nxattrs > 0)
    if (bg_inode_set_xattr(ino, ino->xattrs[0].name, NULL, 0, err) != 0)
      return -1;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
    if (name == NULL)
      continue;
    if (strncmp(name, "trusted.overlay.", 16) == 0) {
      note(ap, BG_NOTE_OVERLAY_XATTR, 0, "xattr %.300s: overlayfs' own, never copied", name);
      continue;
    }
    if (strcmp(name, "security.capability") == 0) {
      magic = len >= 4 ? le32(value) : 0;
      if ((magic & 0xff000000u) == 0x03000000u && len == 24) {
        note(ap, BG_NOTE_CAPABILITY_V2, 0,
             "security.capability v3 (rootid %u) rewritten as v2: a VM has no user namespace",
             le32((const unsigned char *)value + 20));
        memcpy(cap, value, 20);
        magic = (magic & ~0xff000000u) | 0x02000000u;
        cap[0] = (unsigned char)magic;
        cap[1] = (unsigned char)(magic >> 8);
        cap[2] = (unsigned char)(magic >> 16);
        cap[3] = (unsigned char)(magic >> 24);
        value = cap;
        len = 20;
      } else if (!((magic & 0xff000000u) == 0x02000000u && len == 20) &&
                 !((magic & 0xff000000u) == 0x01000000u && len == 12)) {
        note(ap, BG_NOTE_XATTR, 1, "xattr security.capability: malformed (%zu bytes)", len);
        continue;
      }
    }
    why = bg_xattr_problem(name, strlen(name), value, len, ino->mode);
    if (why != NULL) {
      note(ap, BG_NOTE_XATTR, 1, "xattr %.300s: %s", name, why);
      continue;
    }
    bg_error_clear(&xerr);
    if (bg_inode_set_xattr(ino, name, value, len, &xerr) != 0) {
      if (xerr.code == BG_ENOMEM)
        return bg_error_set(err, xerr.code, "%s", xerr.msg);
      note(ap, BG_NOTE_XATTR, 1, "%s", xerr.msg);
    }
  }
  if (archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_POSIX1E) > 0)
    note(ap, BG_NOTE_XATTR, 1, "POSIX ACL in tar's own form (SCHILY.acl.*): not kept");
  return 0;
}

/* With xattrs dropped by the policy: a note for each the entry had, for the loss report. */
static void note_dropped_xattrs(struct apply *ap, struct archive_entry *e)
{
  const char *name;
  const void *value;
  size_t len;

  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
    if (name == NULL)
      continue;
    if (strncmp(name, "trusted.overlay.", 16) == 0)
      note(ap, BG_NOTE_OVERLAY_XATTR, 0, "xattr %.300s: overlayfs' own, never copied", name);
    else
      note(ap, BG_NOTE_XATTR, 0, "xattr %.300s (xattrs=drop)", name);
  }
  if (archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_POSIX1E) > 0)
    note(ap, BG_NOTE_XATTR, 0, "POSIX ACL in tar's own form (SCHILY.acl.*) (xattrs=drop)");
}

/* ---- entries ---- */

static int apply_entry(struct apply *ap, struct archive *a, struct archive_entry *e,
                       struct bg_error *err)
{
  const char *raw = archive_entry_pathname(e);
  const char *hl = archive_entry_hardlink(e);
  const char *sl = archive_entry_symlink(e);
  unsigned int type = archive_entry_filetype(e);
  char target[BG_TREE_PATH_MAX + 1];
  struct bg_node *node = NULL;
  struct bg_content c;
  struct bg_meta m;
  const char *base;
  uint64_t size, zero_blocks, major, minor;
  uint32_t ifmt;

  if (raw == NULL)
    return bg_error_set(err, BG_EINVAL, "entry without a name");
  if (clean_name(raw, ap->path, err) != 0)
    return -1;
  if (entry_meta(e, &m, err) != 0)
    return -1;
  if (ap->path[0] == '\0') {
    /* the root: the writer decides its owner and mode, so nothing here matters */
    if (hl != NULL || type != AE_IFDIR)
      return bg_error_set(err, BG_EINVAL, "the root must be a directory");
    return 0;
  }
  base = strrchr(ap->path, '/');
  base = base != NULL ? base + 1 : ap->path;
  /* below AUFS bookkeeping (".wh..wh.plnk/..."): ignored like the directory itself */
  if (inside_aufs_meta(ap->path, base))
    return 0;
  if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
    return whiteout(ap, base, &m.mtime, err);
  if (hl != NULL) {
    if (clean_hardlink(hl, target, err) != 0)
      return -1;
    /* the inode keeps its own mode and owner: the entry's fields are ignored */
    if (bg_tree_link(ap->t, ap->path, target, BG_PARENTS, &node, err) != 0)
      return -1;
    bg_tree_touch(ap->t, node);
    return 0;
  }
  switch (type) {
  case AE_IFDIR:
    if (bg_tree_mkdir(ap->t, ap->path, &m, BG_PARENTS, &node, err) != 0)
      return -1;
    break;
  case AE_IFREG:
    if (read_content(ap, a, e, &c, &size, &zero_blocks, err) != 0) {
      bg_content_clear(&c);
      return -1;
    }
    if (bg_tree_add_file(ap->t, ap->path, &m, &c, size, BG_PARENTS, &node, err) != 0)
      return -1;
    node->inode->zero_blocks = zero_blocks;
    break;
  case AE_IFLNK:
    if (sl == NULL)
      sl = "";
    if (check_symlink(ap->path, sl, err) != 0)
      return -1;
    if (bg_tree_symlink(ap->t, ap->path, sl, &m, BG_PARENTS, &node, err) != 0)
      return -1;
    break;
  case AE_IFCHR:
  case AE_IFBLK:
  case AE_IFIFO:
    major = type == AE_IFIFO ? 0 : (uint64_t)archive_entry_rdevmajor(e);
    minor = type == AE_IFIFO ? 0 : (uint64_t)archive_entry_rdevminor(e);
    /* an overlayfs whiteout has no meaning in an OCI layer: never a device, never a whiteout */
    if (type == AE_IFCHR && major == 0 && minor == 0) {
      note(ap, BG_NOTE_OVERLAY_WHITEOUT, 0,
           "character device 0:0, an overlayfs whiteout, which OCI layers do not define");
      return 0;
    }
    if (ap->policy->devices != BG_LAYER_DEVICES_KEEP) {
      if (type == AE_IFIFO)
        note(ap, BG_NOTE_FIFO, 0, "fifo (devices=skip)");
      else
        note(ap, BG_NOTE_DEVICE, 0, "%s device %llu:%llu (devices=skip)",
             type == AE_IFCHR ? "character" : "block", (unsigned long long)major,
             (unsigned long long)minor);
      return 0;
    }
    if (major > BG_DEV_MAJOR_MAX || minor > BG_DEV_MINOR_MAX) {
      note(ap, BG_NOTE_DEVICE, 1,
           "device %llu:%llu, which Linux cannot encode (major at most %u, minor at most %u)",
           (unsigned long long)major, (unsigned long long)minor, BG_DEV_MAJOR_MAX,
           BG_DEV_MINOR_MAX);
      return 0;
    }
    ifmt = type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO;
    if (bg_tree_mknod(ap->t, ap->path, ifmt, &m, (uint32_t)major, (uint32_t)minor, BG_PARENTS,
                      &node, err) != 0)
      return -1;
    break;
  case AE_IFSOCK:
    /* a socket is recreated by whoever listens on it */
    note(ap, BG_NOTE_SOCKET, 0, "socket, which only a listening process makes");
    return 0;
  default:
    return bg_error_set(err, BG_EINVAL, "unsupported entry type 0%o", type);
  }
  bg_tree_touch(ap->t, node);
  if (ap->policy->xattrs != BG_LAYER_XATTRS_KEEP)
    note_dropped_xattrs(ap, e);
  else if (set_xattrs(ap, node->inode, e, err) != 0)
    return -1;
  return 0;
}

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
  struct apply *ap = ctx;
  size_t n;

  if (ap->first != NULL) {
    *buf = ap->first;
    n = ap->first_len;
    ap->first = NULL;
    return (la_ssize_t)n;
  }
  if (bg_lstream_read(ap->stream, buf, &n, &ap->serr) != 0) {
    archive_set_error(a, EIO, "%s", ap->serr.msg);
    return -1;
  }
  return (la_ssize_t)n;
}

int bg_layer_apply(struct bg_tree *t, const char *path, const char *media_type,
                   const char *expected_diff_id, const struct bg_layer_policy *policy,
                   const char *label, struct bg_error *err)
{
  static const struct bg_layer_policy defaults;
  struct archive *a = NULL;
  struct bg_tree_layer_totals *totals;
  struct archive_entry *e;
  struct bg_digest want;
  struct apply ap;
  char got[BG_DIGEST_STRLEN], shown[SHOW_MAX + 16];
  const char *msg;
  uint64_t max_bytes;
  int compression, rc = -1, r;

  memset(&ap, 0, sizeof(ap));
  ap.t = t;
  ap.policy = policy != NULL ? policy : &defaults;
  bg_error_clear(&ap.serr);
  if (label == NULL)
    label = "layer";
  ap.label = label;
  pthread_once(&pax_probe_once, pax_probe);
  compression = bg_layer_compression_of(media_type);
  if (compression < 0) {
    bg_error_set(err, BG_EINVAL, "unsupported layer media type %s",
                 media_type ? media_type : "(none)");
    goto out;
  }
  if (expected_diff_id != NULL && bg_digest_parse(expected_diff_id, &want, err) != 0) {
    bg_error_prefix(err, "DiffID");
    goto out;
  }
  max_bytes = ap.policy->max_bytes ? ap.policy->max_bytes : DEFAULT_MAX_BYTES;
  ap.max_entries = ap.policy->max_entries ? ap.policy->max_entries : DEFAULT_MAX_ENTRIES;
  totals = bg_tree_layer_totals(t);
  ap.totals = totals;
  ap.max_bytes = max_bytes;
  ap.stream = bg_lstream_open(path, compression, max_bytes, totals->bytes, err);
  if (ap.stream == NULL)
    goto out;
  bg_tree_begin_layer(t);
  /* an empty stream is an empty layer (Go's tar reader agrees); libarchive would not say so */
  if (bg_lstream_read(ap.stream, &ap.first, &ap.first_len, err) != 0)
    goto out;
  if (ap.first_len == 0)
    goto finish;
  a = archive_read_new();
  if (a == NULL) {
    bg_error_set(err, BG_ENOMEM, "out of memory creating a tar reader");
    goto out;
  }
  /* the tar format alone, no filters: decompression happened above */
  archive_read_support_format_tar(a);
  if (archive_read_open(a, &ap, NULL, read_cb, NULL) != ARCHIVE_OK)
    goto archive_failed;
  for (;;) {
    r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r == ARCHIVE_WARN) {
      /* names are used as raw bytes whatever the locale: a failed conversion changes nothing */
      msg = archive_error_string(a);
      bg_log(msg != NULL && strstr(msg, "can't be converted") != NULL ? BG_LOG_DEBUG : BG_LOG_WARN,
             "%s: %s", label, msg != NULL ? msg : "warning");
    } else if (r != ARCHIVE_OK) {
      goto archive_failed;
    }
    if (++totals->entries > ap.max_entries) {
      bg_error_set(err, BG_ETOOBIG, "more than %llu entries in the layers",
                   (unsigned long long)ap.max_entries);
      goto out;
    }
    if (apply_entry(&ap, a, e, err) != 0) {
      show(archive_entry_pathname(e) ? archive_entry_pathname(e) : "", shown, sizeof(shown));
      bg_error_prefix(err, "%s", shown);
      goto out;
    }
    if (ap.policy->progress != NULL)
      ap.policy->progress(ap.policy->progress_ctx, bg_lstream_blob_bytes(ap.stream),
                          totals->entries);
  }
finish:
  if (bg_lstream_finish(ap.stream, got, &ap.serr) != 0) {
    bg_error_set(err, ap.serr.code, "%s", ap.serr.msg);
    goto out;
  }
  totals->bytes += bg_lstream_total(ap.stream);
  if (expected_diff_id != NULL && strcmp(got + 7, want.hex) != 0) {
    bg_error_set(err, BG_EMISMATCH, "DiffID mismatch: expected %s, got %s", expected_diff_id, got);
    goto out;
  }
  rc = 0;
  goto out;
archive_failed:
  if (ap.serr.code != 0)
    bg_error_set(err, ap.serr.code, "%s", ap.serr.msg);
  else
    bg_error_set(err, BG_EINVAL, "%s", archive_error_string(a));
out:
  if (rc != 0)
    bg_error_prefix(err, "%s", label);
  if (a != NULL)
    archive_read_free(a);
  bg_lstream_close(ap.stream);
  return rc;
}

int bg_layer_diff_id(const char *path, const char *media_type, char *out, struct bg_error *err)
{
  struct bg_lstream *s;
  int compression = bg_layer_compression_of(media_type), rc;

  if (compression < 0)
    return bg_error_set(err, BG_EINVAL, "unsupported layer media type %s",
                        media_type ? media_type : "(none)");
  s = bg_lstream_open(path, compression, UINT64_MAX, 0, err);
  if (s == NULL)
    return -1;
  rc = bg_lstream_finish(s, out, err);
  bg_lstream_close(s);
  return rc;
}
