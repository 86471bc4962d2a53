/* Reading one layer on a thread of its own: tar entries through libarchive, names cleaned and
 * links checked, metadata from the headers, contents into the reader's spool, xattrs filtered;
 * what the tree must do goes out as records, in order (decode.h). Nothing here touches the
 * tree but the reader's own spool. */
#include "decode.h"

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
#include "../util/sparse.h"
#include "stream.h"

#define BLOCK 4096 /* the unit of holes: the spool's and the image's blocks */

#define OPAQUE ".wh..wh..opq"
#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."

struct reader {
  struct bg_decode *d;
  struct bg_lstream *stream;
  struct bg_error serr; /* what the stream reported inside a libarchive callback */
  const void *first;    /* the stream's first bytes, read before libarchive starts */
  size_t first_len;
  uint64_t entries, content; /* this layer's */
  struct bg_batch *b;
  int dead; /* the tree side is gone: stop */
  /* the current entry */
  char path[BG_TREE_PATH_MAX + 1];
  char shown[BG_LAYER_SHOW_MAX + 16];
  /* notes about the current entry, sent after it */
  struct bg_rec **notes;
  size_t nnotes, notes_cap;
};

void bg_layer_show(const char *raw, char *out, size_t cap)
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

void bg_batch_free(struct bg_batch *b)
{
  struct bg_rec *r;
  size_t at;

  if (b == NULL)
    return;
  for (at = 0; at < b->used; at += r->len) {
    r = (struct bg_rec *)(b->data + at);
    if (r->kind == BG_REC_FILE)
      bg_content_clear(&r->c);
  }
  free(b);
}

/* ---- records ---- */

/* Sends the batch being filled; 0, or -1 when the tree side is gone. */
static int send(struct reader *rd)
{
  struct bg_batch *b = rd->b;

  rd->b = NULL;
  if (b == NULL)
    return 0;
  if (rd->dead || atomic_load(rd->d->cancel) || bg_chan_put(rd->d->out, b) != 0) {
    rd->dead = 1;
    bg_batch_free(b);
    return -1;
  }
  return 0;
}

/* A record of kind with room for its strings, in the batch (sent first if it is full); its
 * strings are filled by the caller through fill_rec. NULL when memory ran out or the tree side
 * is gone (rd->dead then). */
static struct bg_rec *new_rec(struct reader *rd, int kind, const char *path, const char *str,
                              size_t str_len, const unsigned char *xattrs, size_t xattrs_len,
                              uint32_t nxattrs)
{
  size_t plen = path ? strlen(path) : 0, slen = strlen(rd->shown);
  size_t len = (sizeof(struct bg_rec) + plen + str_len + slen + 3 + xattrs_len + 7) & ~(size_t)7;
  struct bg_rec *r;
  char *p;

  if (len > BG_BATCH_SIZE)
    return NULL; /* cannot be: names, targets and an inode's xattrs are bounded well below */
  if (rd->b != NULL && rd->b->used + len > BG_BATCH_SIZE && send(rd) != 0)
    return NULL;
  if (rd->b == NULL) {
    rd->b = malloc(sizeof(*rd->b));
    if (rd->b == NULL)
      return NULL;
    rd->b->used = 0;
  }
  r = (struct bg_rec *)(rd->b->data + rd->b->used);
  memset(r, 0, sizeof(*r));
  r->len = (uint32_t)len;
  r->kind = (uint16_t)kind;
  r->path_len = (uint32_t)plen;
  r->str_len = (uint32_t)str_len;
  r->shown_len = (uint32_t)slen;
  r->xattrs_len = (uint32_t)xattrs_len;
  r->nxattrs = nxattrs;
  p = r->data;
  if (plen > 0)
    memcpy(p, path, plen);
  p[plen] = '\0';
  p += plen + 1;
  if (str_len > 0)
    memcpy(p, str, str_len);
  p[str_len] = '\0';
  p += str_len + 1;
  memcpy(p, rd->shown, slen + 1);
  p += slen + 1;
  if (xattrs_len > 0)
    memcpy(p, xattrs, xattrs_len);
  r->stream_total = rd->stream ? bg_lstream_total(rd->stream) : 0;
  r->blob_bytes = rd->stream ? bg_lstream_blob_bytes(rd->stream) : 0;
  rd->b->used += len;
  return r;
}

/* A record without strings of its own beyond the entry's path. */
static struct bg_rec *simple_rec(struct reader *rd, int kind, const char *path)
{
  return new_rec(rd, kind, path, NULL, 0, NULL, 0, 0);
}

static int out_of_memory(struct reader *rd, struct bg_error *err)
{
  if (rd->dead)
    return bg_error_set(err, BG_EIO, "the layer's reader stopped");
  return bg_error_set(err, BG_ENOMEM, "out of memory");
}

/* A line for the log, written when the tree side reaches it. */
static void log_rec(struct reader *rd, int level, int flags, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void log_rec(struct reader *rd, int level, int flags, const char *fmt, ...)
{
  char text[1024];
  struct bg_rec *r;
  va_list va;

  if (level > bg_log_get_level())
    return;
  va_start(va, fmt);
  vsnprintf(text, sizeof(text), fmt, va);
  va_end(va);
  r = new_rec(rd, BG_REC_LOG, NULL, text, strlen(text), NULL, 0, 0);
  if (r != NULL) {
    r->code = level;
    r->flags = (uint16_t)flags;
  }
}

/* Records what the policy, or what Linux cannot hold, changed of the current entry, for the
 * build's loss report; sent after the entry's record. What Linux could not hold (warn) is a
 * warning on the log too; what the policy chose is not (the report's summary counts it). */
static void note(struct reader *rd, int kind, int warn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(struct reader *rd, int kind, int warn, const char *fmt, ...)
{
  char detail[512];
  struct bg_rec *r;
  size_t n;
  va_list va;

  va_start(va, fmt);
  vsnprintf(detail, sizeof(detail), fmt, va);
  va_end(va);
  if (rd->nnotes == rd->notes_cap) {
    struct bg_rec **more = realloc(rd->notes, (rd->notes_cap * 2 + 8) * sizeof(*more));

    if (more == NULL)
      return;
    rd->notes = more;
    rd->notes_cap = rd->notes_cap * 2 + 8;
  }
  n = sizeof(struct bg_rec) + strlen(detail) + 1;
  r = calloc(1, n);
  if (r == NULL)
    return;
  r->kind = BG_REC_NOTE;
  r->code = kind;
  r->flags = warn ? BG_REC_WARN : 0;
  r->str_len = (uint32_t)strlen(detail);
  memcpy(r->data, detail, r->str_len + 1);
  rd->notes[rd->nnotes++] = r;
}

/* The notes of the entry whose record went out last. */
static int send_notes(struct reader *rd, struct bg_error *err)
{
  struct bg_rec *r;
  size_t i;
  int rc = 0;

  for (i = 0; i < rd->nnotes; i++) {
    if (rc == 0) {
      r = new_rec(rd, BG_REC_NOTE, rd->path, bg_rec_path(rd->notes[i]), rd->notes[i]->str_len,
                  NULL, 0, 0);
      if (r == NULL)
        rc = out_of_memory(rd, err);
      else {
        r->code = rd->notes[i]->code;
        r->flags = rd->notes[i]->flags;
      }
    }
    free(rd->notes[i]);
  }
  rd->nnotes = 0;
  return rc;
}

/* ---- names ---- */

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

/* ---- metadata ---- */

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

/* ---- contents ---- */

/* A file's bytes at [pos, pos + len) of it, into the spool: runs of zeros as holes, cut at
 * BLOCK boundaries so a block is a hole exactly when it is all zeros. Counts the blocks that
 * hold data. */
static int spool_data(struct reader *rd, const unsigned char *p, size_t len, uint64_t *pos,
                      uint64_t *data_blocks, uint64_t *last_block, struct bg_error *err)
{
  struct bg_spool *s = rd->d->spool;
  const unsigned char *run = p;
  size_t piece;
  uint64_t blk;

  while (len > 0) {
    blk = *pos / BLOCK;
    piece = BLOCK - (size_t)(*pos % BLOCK);
    if (piece > len)
      piece = len;
    if (bg_all_zero(p, piece)) {
      if (p > run && bg_spool_append(s, run, (size_t)(p - run), NULL, err) != 0)
        return -1;
      if (bg_spool_hole(s, piece, err) != 0)
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
  if (p > run && bg_spool_append(s, run, (size_t)(p - run), NULL, err) != 0)
    return -1;
  return 0;
}

/* A regular file's content: in memory when small, else in the spool with its holes kept (sparse
 * entries' and runs of zeros'), the logical size counted against the cap before a byte is read.
 * *zero_blocks counts its BLOCKs of zeros. */
static int read_content(struct reader *rd, struct archive *a, struct archive_entry *e,
                        struct bg_content *c, uint64_t *size, uint64_t *zero_blocks,
                        struct bg_error *err)
{
  const uint64_t max = rd->d->max_bytes, used = rd->d->used_content + rd->content;
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
  if (used > max || *size > max - used)
    return bg_error_set(err, BG_ETOOBIG,
                        "file contents exceed the limit of %llu bytes (this file: %llu bytes)",
                        (unsigned long long)max, (unsigned long long)*size);
  rd->content += *size;
  if (*size <= BG_LAYER_MEM_MAX) {
    c->kind = BG_CONTENT_MEM;
    c->mem = calloc(1, (size_t)*size);
    if (c->mem == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
  } else {
    if (bg_spool_begin(rd->d->spool, *size, &c->offset, err) != 0)
      return -1;
    c->kind = BG_CONTENT_SPOOL;
    c->spool = bg_spool_index(rd->d->spool);
    spooled = 1;
  }
  for (;;) {
    rc = archive_read_data_block(a, &buf, &len, &off);
    if (rc == ARCHIVE_EOF)
      break;
    if (rc == ARCHIVE_WARN) {
      log_rec(rd, BG_LOG_WARN, 0, "%s", archive_error_string(a));
    } else if (rc != ARCHIVE_OK) {
      if (rd->serr.code != 0)
        return bg_error_set(err, rd->serr.code, "%s", rd->serr.msg);
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
    if ((uint64_t)off > pos && bg_spool_hole(rd->d->spool, (uint64_t)off - pos, err) != 0)
      return -1;
    pos = (uint64_t)off;
    if (spool_data(rd, buf, len, &pos, &data_blocks, &last_block, err) != 0)
      return -1;
  }
  if (spooled) {
    if (pos < *size && bg_spool_hole(rd->d->spool, *size - pos, err) != 0)
      return -1;
    *zero_blocks = (*size + BLOCK - 1) / BLOCK - data_blocks;
    if (*zero_blocks == 0)
      c->flags |= BG_CONTENT_DENSE;
  }
  return 0;
}

/* ---- xattrs ---- */

static uint32_t le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The entry's xattrs as the inode will hold them (on a scratch inode of the entry's type):
 * overlayfs' own are left out, security.capability v3 becomes v2 (the rootid of a user
 * namespace means nothing in a VM), and what the kernel could not show or ext4 could not hold
 * is dropped with a note. */
static int filter_xattrs(struct reader *rd, struct bg_inode *ino, struct archive_entry *e,
                         struct bg_error *err)
{
  const char *name, *why;
  const void *value;
  unsigned char cap[20];
  struct bg_error xerr;
  uint32_t magic;
  size_t len;

  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
    if (name == NULL)
      continue;
    if (strncmp(name, "trusted.overlay.", 16) == 0) {
      note(rd, BG_NOTE_OVERLAY_XATTR, 0, "xattr %.300s: overlayfs' own, never copied", name);
      continue;
    }
    if (strcmp(name, "security.capability") == 0) {
      magic = len >= 4 ? le32(value) : 0;
      if ((magic & 0xff000000u) == 0x03000000u && len == 24) {
        note(rd, BG_NOTE_CAPABILITY_V2, 0,
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
        note(rd, BG_NOTE_XATTR, 1, "xattr security.capability: malformed (%zu bytes)", len);
        continue;
      }
    }
    why = bg_xattr_problem(name, strlen(name), value, len, ino->mode);
    if (why != NULL) {
      note(rd, BG_NOTE_XATTR, 1, "xattr %.300s: %s", name, why);
      continue;
    }
    bg_error_clear(&xerr);
    if (bg_inode_set_xattr(ino, name, value, len, &xerr) != 0) {
      if (xerr.code == BG_ENOMEM)
        return bg_error_set(err, xerr.code, "%s", xerr.msg);
      note(rd, BG_NOTE_XATTR, 1, "%s", xerr.msg);
    }
  }
  if (archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_POSIX1E) > 0)
    note(rd, BG_NOTE_XATTR, 1, "POSIX ACL in tar's own form (SCHILY.acl.*): not kept");
  return 0;
}

/* With xattrs dropped by the policy: a note for each the entry had, for the loss report. */
static void note_dropped_xattrs(struct reader *rd, struct archive_entry *e)
{
  const char *name;
  const void *value;
  size_t len;

  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
    if (name == NULL)
      continue;
    if (strncmp(name, "trusted.overlay.", 16) == 0)
      note(rd, BG_NOTE_OVERLAY_XATTR, 0, "xattr %.300s: overlayfs' own, never copied", name);
    else
      note(rd, BG_NOTE_XATTR, 0, "xattr %.300s (xattrs=drop)", name);
  }
  if (archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_POSIX1E) > 0)
    note(rd, BG_NOTE_XATTR, 0, "POSIX ACL in tar's own form (SCHILY.acl.*) (xattrs=drop)");
}

static void scratch_free(struct bg_inode *ino)
{
  struct bg_error e;

  while (ino->nxattrs > 0)
    bg_inode_set_xattr(ino, ino->xattrs[0].name, NULL, 0, &e);
  free(ino->xattrs);
  ino->xattrs = NULL;
}

/* The xattrs of the scratch inode, serialised for a record into buf (malloc'ed). */
static int pack_xattrs(const struct bg_inode *ino, unsigned char **buf, size_t *len,
                       struct bg_error *err)
{
  size_t n = 0, i, k;
  uint32_t vlen;
  unsigned char *p;

  *buf = NULL;
  *len = 0;
  for (i = 0; i < ino->nxattrs; i++)
    n += 4 + strlen(ino->xattrs[i].name) + 1 + ino->xattrs[i].len;
  if (n == 0)
    return 0;
  p = malloc(n);
  if (p == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory");
  *buf = p;
  for (i = 0; i < ino->nxattrs; i++) {
    vlen = (uint32_t)ino->xattrs[i].len;
    memcpy(p, &vlen, 4);
    p += 4;
    k = strlen(ino->xattrs[i].name) + 1;
    memcpy(p, ino->xattrs[i].name, k);
    p += k;
    memcpy(p, ino->xattrs[i].value, vlen);
    p += vlen;
  }
  *len = n;
  return 0;
}

/* ---- entries ---- */

/* The record of an entry that makes a node: its type's fields, xattrs (when kept) and notes. */
static int node_rec(struct reader *rd, struct archive_entry *e, int kind, uint32_t ifmt,
                    const struct bg_meta *m, const char *str, struct bg_rec **out,
                    struct bg_error *err)
{
  struct bg_inode scratch;
  unsigned char *xb = NULL;
  size_t xlen = 0;
  uint32_t nx = 0;
  int rc = -1;

  memset(&scratch, 0, sizeof(scratch));
  scratch.mode = ifmt | m->mode;
  if (rd->d->policy->xattrs == BG_LAYER_XATTRS_KEEP) {
    if (filter_xattrs(rd, &scratch, e, err) != 0 || pack_xattrs(&scratch, &xb, &xlen, err) != 0)
      goto out;
    nx = scratch.nxattrs;
  } else {
    note_dropped_xattrs(rd, e);
  }
  *out = new_rec(rd, kind, rd->path, str, str ? strlen(str) : 0, xb, xlen, nx);
  if (*out == NULL) {
    out_of_memory(rd, err);
    goto out;
  }
  (*out)->m = *m;
  (*out)->ifmt = ifmt;
  rc = 0;
out:
  free(xb);
  scratch_free(&scratch);
  return rc;
}

static int decode_entry(struct reader *rd, struct archive *a, struct archive_entry *e,
                        struct bg_error *err)
{
  const char *raw = archive_entry_pathname(e);
  const char *hl = archive_entry_hardlink(e);
  const char *sl = archive_entry_symlink(e);
  unsigned int type = archive_entry_filetype(e);
  char target[BG_TREE_PATH_MAX + 1];
  struct bg_content c;
  struct bg_rec *r;
  struct bg_meta m;
  const char *base;
  uint64_t size, zero_blocks, major, minor;
  uint32_t ifmt;

  if (raw == NULL)
    return bg_error_set(err, BG_EINVAL, "entry without a name");
  if (clean_name(raw, rd->path, err) != 0)
    return -1;
  if (entry_meta(e, &m, err) != 0)
    return -1;
  if (rd->path[0] == '\0') {
    /* the root: the writer decides its owner and mode, so nothing here matters */
    if (hl != NULL || type != AE_IFDIR)
      return bg_error_set(err, BG_EINVAL, "the root must be a directory");
    goto skip;
  }
  base = strrchr(rd->path, '/');
  base = base != NULL ? base + 1 : rd->path;
  /* below AUFS bookkeeping (".wh..wh.plnk/..."): ignored like the directory itself */
  if (inside_aufs_meta(rd->path, base))
    goto skip;
  if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
    if (strcmp(base, OPAQUE) != 0 && strncmp(base, WH_META, strlen(WH_META)) == 0) {
      log_rec(rd, BG_LOG_DEBUG, 0, "ignoring whiteout metadata %s", base);
      goto skip;
    }
    base += strlen(WH_PREFIX);
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
      return bg_error_set(err, BG_EINVAL, "invalid whiteout name");
    r = simple_rec(rd, BG_REC_WHITEOUT, rd->path);
    if (r == NULL)
      return out_of_memory(rd, err);
    r->m = m;
    if (strcmp(base - strlen(WH_PREFIX), OPAQUE) == 0)
      r->flags |= BG_REC_OPAQUE;
    return 0;
  }
  if (hl != NULL) {
    if (clean_hardlink(hl, target, err) != 0)
      return -1;
    r = new_rec(rd, BG_REC_LINK, rd->path, target, strlen(target), NULL, 0, 0);
    return r != NULL ? 0 : out_of_memory(rd, err);
  }
  switch (type) {
  case AE_IFDIR:
    return node_rec(rd, e, BG_REC_DIR, S_IFDIR, &m, NULL, &r, err);
  case AE_IFREG:
    if (read_content(rd, a, e, &c, &size, &zero_blocks, err) != 0) {
      bg_content_clear(&c);
      return -1;
    }
    if (node_rec(rd, e, BG_REC_FILE, S_IFREG, &m, NULL, &r, err) != 0) {
      bg_content_clear(&c);
      return -1;
    }
    r->c = c; /* the record owns it now */
    r->size = size;
    r->zero_blocks = zero_blocks;
    return 0;
  case AE_IFLNK:
    if (sl == NULL)
      sl = "";
    if (check_symlink(rd->path, sl, err) != 0)
      return -1;
    return node_rec(rd, e, BG_REC_SYMLINK, S_IFLNK, &m, sl, &r, err);
  case AE_IFCHR:
  case AE_IFBLK:
  case AE_IFIFO:
    major = type == AE_IFIFO ? 0 : (uint64_t)archive_entry_rdevmajor(e);
    minor = type == AE_IFIFO ? 0 : (uint64_t)archive_entry_rdevminor(e);
    /* an overlayfs whiteout has no meaning in an OCI layer: never a device, never a whiteout */
    if (type == AE_IFCHR && major == 0 && minor == 0) {
      note(rd, BG_NOTE_OVERLAY_WHITEOUT, 0,
           "character device 0:0, an overlayfs whiteout, which OCI layers do not define");
      goto skip;
    }
    if (rd->d->policy->devices != BG_LAYER_DEVICES_KEEP) {
      if (type == AE_IFIFO)
        note(rd, BG_NOTE_FIFO, 0, "fifo (devices=skip)");
      else
        note(rd, BG_NOTE_DEVICE, 0, "%s device %llu:%llu (devices=skip)",
             type == AE_IFCHR ? "character" : "block", (unsigned long long)major,
             (unsigned long long)minor);
      goto skip;
    }
    if (major > BG_DEV_MAJOR_MAX || minor > BG_DEV_MINOR_MAX) {
      note(rd, BG_NOTE_DEVICE, 1,
           "device %llu:%llu, which Linux cannot encode (major at most %u, minor at most %u)",
           (unsigned long long)major, (unsigned long long)minor, BG_DEV_MAJOR_MAX,
           BG_DEV_MINOR_MAX);
      goto skip;
    }
    ifmt = type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO;
    if (node_rec(rd, e, BG_REC_NODE, ifmt, &m, NULL, &r, err) != 0)
      return -1;
    r->major = (uint32_t)major;
    r->minor = (uint32_t)minor;
    return 0;
  case AE_IFSOCK:
    /* a socket is recreated by whoever listens on it */
    note(rd, BG_NOTE_SOCKET, 0, "socket, which only a listening process makes");
    goto skip;
  default:
    return bg_error_set(err, BG_EINVAL, "unsupported entry type 0%o", type);
  }
skip:
  return simple_rec(rd, BG_REC_SKIP, rd->path) != NULL ? 0 : out_of_memory(rd, err);
}

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
  struct reader *rd = ctx;
  size_t n;

  if (rd->first != NULL) {
    *buf = rd->first;
    n = rd->first_len;
    rd->first = NULL;
    return (la_ssize_t)n;
  }
  if (atomic_load(rd->d->cancel)) {
    archive_set_error(a, EINTR, "stopped");
    return -1;
  }
  if (bg_lstream_read(rd->stream, buf, &n, &rd->serr) != 0) {
    archive_set_error(a, EIO, "%s", rd->serr.msg);
    return -1;
  }
  return (la_ssize_t)n;
}

/* An error record (the entry named when there is one) as the layer's last. */
static void fail_rec(struct reader *rd, const struct bg_error *err, int entry)
{
  struct bg_rec *r;

  if (rd->dead)
    return;
  r = new_rec(rd, BG_REC_ERROR, NULL, err->msg, strlen(err->msg), NULL, 0, 0);
  if (r == NULL) { /* a whole batch of its own, then */
    send(rd);
    r = new_rec(rd, BG_REC_ERROR, NULL, "out of memory", 13, NULL, 0, 0);
    if (r == NULL)
      return;
    r->code = BG_ENOMEM;
  } else {
    r->code = err->code ? err->code : BG_EIO;
  }
  if (entry)
    r->flags |= BG_REC_ENTRY;
}

static void decode(struct reader *rd)
{
  struct bg_decode *d = rd->d;
  struct bg_lstream_opts so;
  struct archive *a = NULL;
  struct archive_entry *e;
  struct bg_error err;
  struct bg_rec *r;
  char got[BG_DIGEST_STRLEN];
  const char *msg;
  int rc;

  bg_error_clear(&err);
  pthread_once(&pax_probe_once, pax_probe);
  memset(&so, 0, sizeof(so));
  so.compression = d->compression;
  so.max_bytes = d->max_bytes;
  so.used = d->used_bytes;
  so.blob_hex = d->blob_hex;
  so.threaded = 1;
  so.hash_ahead = 0;
  rd->stream = bg_lstream_open(d->path, &so, &err);
  if (rd->stream == NULL)
    goto failed;
  /* an empty stream is an empty layer (Go's tar reader agrees); libarchive would not say so */
  if (bg_lstream_read(rd->stream, &rd->first, &rd->first_len, &err) != 0)
    goto failed;
  if (rd->first_len == 0)
    goto finish;
  a = archive_read_new();
  if (a == NULL) {
    bg_error_set(&err, BG_ENOMEM, "out of memory creating a tar reader");
    goto failed;
  }
  /* the tar format alone, no filters: decompression happened in the stream */
  archive_read_support_format_tar(a);
  if (archive_read_open(a, rd, NULL, read_cb, NULL) != ARCHIVE_OK)
    goto archive_failed;
  for (;;) {
    rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF)
      break;
    if (rc == ARCHIVE_WARN) {
      /* names are used as raw bytes whatever the locale: a failed conversion changes nothing */
      msg = archive_error_string(a);
      log_rec(rd,
              msg != NULL && strstr(msg, "can't be converted") != NULL ? BG_LOG_DEBUG
                                                                       : BG_LOG_WARN,
              BG_REC_LABELLED, "%s", msg != NULL ? msg : "warning");
    } else if (rc != ARCHIVE_OK) {
      goto archive_failed;
    }
    if (rd->dead)
      goto out;
    /* a reader ahead of its turn keeps to the cap on its own; the tree side counts exactly */
    if (++rd->entries > d->max_entries) {
      bg_error_set(&err, BG_ETOOBIG, "more than %llu entries in the layers",
                   (unsigned long long)d->max_entries);
      fail_rec(rd, &err, 1);
      goto out;
    }
    bg_layer_show(archive_entry_pathname(e) ? archive_entry_pathname(e) : "", rd->shown,
                  sizeof(rd->shown));
    if (decode_entry(rd, a, e, &err) != 0) {
      bg_error_prefix(&err, "%s", rd->shown);
      fail_rec(rd, &err, 1);
      goto out;
    }
    if (send_notes(rd, &err) != 0)
      goto out;
  }
finish:
  rd->shown[0] = '\0';
  if (bg_lstream_finish(rd->stream, got, &err) != 0)
    goto failed;
  /* what the spool still buffers goes to disk here, where a full TMPDIR names this layer */
  if (bg_spool_flush(d->spool, &err) != 0)
    goto failed;
  r = new_rec(rd, BG_REC_END, NULL, got, strlen(got), NULL, 0, 0);
  if (r == NULL) {
    out_of_memory(rd, &err);
    goto failed;
  }
  goto out;
archive_failed:
  if (rd->serr.code != 0)
    bg_error_set(&err, rd->serr.code, "%s", rd->serr.msg);
  else
    bg_error_set(&err, BG_EINVAL, "%s", archive_error_string(a));
failed:
  rd->shown[0] = '\0';
  fail_rec(rd, &err, 0);
out:
  send(rd);
  if (a != NULL)
    archive_read_free(a);
  bg_lstream_close(rd->stream);
  rd->stream = NULL;
}

void *bg_layer_decode(void *arg)
{
  struct reader rd;
  size_t i;

  memset(&rd, 0, sizeof(rd));
  rd.d = arg;
  pthread_setname_np(pthread_self(), "bg-layer");
  decode(&rd);
  for (i = 0; i < rd.nnotes; i++)
    free(rd.notes[i]);
  free(rd.notes);
  bg_batch_free(rd.b);
  bg_chan_close(rd.d->out);
  return NULL;
}
