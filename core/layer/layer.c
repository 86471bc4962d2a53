/* Replaying one layer into the tree: tar entries through libarchive, OCI whiteouts, path and
 * link safety, metadata from the headers, contents into the spool. */
#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../tree/tree_internal.h"
#include "../util/log.h"
#include "stream.h"

#define DEFAULT_MAX_BYTES ((uint64_t)64 << 30)
#define DEFAULT_MAX_ENTRIES 8000000u
#define SHOW_MAX 200 /* bytes of an entry name quoted in a message */

#define OPAQUE ".wh..wh..opq"
#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."

struct apply {
  struct bg_tree *t;
  const struct bg_layer_policy *policy;
  struct bg_lstream *stream;
  struct bg_error serr; /* what the stream reported inside a libarchive callback */
  const void *first;    /* the stream's first bytes, read before libarchive starts */
  size_t first_len;
  uint64_t max_entries;
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

/* Cleans an archive path into "a/b/c" ("" for the root). ".." climbs textually when dotdot is
 * set (hardlink targets) and is refused otherwise (entry names). unsafe is the message for a
 * path that is absolute or leaves the root. */
static int clean_path(const char *raw, char *out, int dotdot, const char *unsafe,
                      struct bg_error *err)
{
  size_t len = 0, s, i = 0, n = strlen(raw);

  if (n == 0)
    return bg_error_set(err, BG_EINVAL, "empty name");
  if (raw[0] == '/')
    return bg_error_set(err, BG_EUNSAFE, "%s", unsafe);
  out[0] = '\0';
  while (i < n) {
    while (i < n && raw[i] == '/')
      i++;
    s = i;
    while (i < n && raw[i] != '/')
      i++;
    if (i == s || (i - s == 1 && raw[s] == '.'))
      continue;
    if (i - s == 2 && raw[s] == '.' && raw[s + 1] == '.') {
      if (!dotdot || len == 0)
        return bg_error_set(err, BG_EUNSAFE, "%s", unsafe);
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
      out[len] = '\0';
      continue;
    }
    if (i - s > BG_TREE_NAME_MAX)
      return bg_error_set(err, BG_EINVAL, "name component too long (%zu bytes, at most %d)", i - s,
                          BG_TREE_NAME_MAX);
    if (len + (len ? 1 : 0) + (i - s) > BG_TREE_PATH_MAX)
      return bg_error_set(err, BG_ETOOBIG, "name too long (at most %d bytes)", BG_TREE_PATH_MAX);
    if (len)
      out[len++] = '/';
    memcpy(out + len, raw + s, i - s);
    len += i - s;
    out[len] = '\0';
  }
  return 0;
}

/* A relative symlink target, read from the link's directory, must not climb above the root. */
static int check_symlink(const char *path, const char *target, struct bg_error *err)
{
  long depth = 0;
  size_t i = 0, s, n;

  if (target[0] == '\0')
    return bg_error_set(err, BG_EINVAL, "empty symlink target");
  if (target[0] == '/')
    return 0; /* resolves inside the guest, whatever it names */
  for (i = 0; path[i] != '\0'; i++)
    if (path[i] == '/')
      depth++;
  n = strlen(target);
  i = 0;
  while (i < n) {
    while (i < n && target[i] == '/')
      i++;
    s = i;
    while (i < n && target[i] != '/')
      i++;
    if (i == s || (i - s == 1 && target[s] == '.'))
      continue;
    if (i - s == 2 && target[s] == '.' && target[s + 1] == '.') {
      if (--depth < 0)
        return bg_error_set(err, BG_EUNSAFE, "unsafe symlink (target %s leaves the root)", target);
    } else {
      depth++;
    }
  }
  return 0;
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
  m->mtime.sec = archive_entry_mtime(e);
  m->mtime.nsec = (uint32_t)archive_entry_mtime_nsec(e) % 1000000000u;
  m->atime = m->mtime;
  m->ctime = m->mtime;
  if (archive_entry_atime_is_set(e)) {
    m->atime.sec = archive_entry_atime(e);
    m->atime.nsec = (uint32_t)archive_entry_atime_nsec(e) % 1000000000u;
  }
  if (archive_entry_ctime_is_set(e)) {
    m->ctime.sec = archive_entry_ctime(e);
    m->ctime.nsec = (uint32_t)archive_entry_ctime_nsec(e) % 1000000000u;
  }
  return 0;
}

/* ---- whiteouts ---- */

/* Removes what lower layers put below dir; what this layer wrote stays. Iterative. */
static int strip_lower(struct bg_tree *t, struct bg_node *dir, struct bg_error *err)
{
  struct bg_node **stack = NULL, **kids = NULL, **p;
  struct bg_node *const *sorted;
  size_t n = 0, cap = 0, k, i;
  uint32_t gen = bg_tree_layer_gen(t);
  int rc = -1;

  stack = malloc(16 * sizeof(*stack));
  if (stack == NULL)
    goto nomem;
  cap = 16;
  stack[n++] = dir;
  while (n > 0) {
    dir = stack[--n];
    sorted = bg_node_children(dir, &k);
    if (k == 0)
      continue;
    if (sorted == NULL)
      goto nomem;
    /* removing invalidates the directory's sorted array: work on a copy */
    p = realloc(kids, k * sizeof(*kids));
    if (p == NULL)
      goto nomem;
    kids = p;
    memcpy(kids, sorted, k * sizeof(*kids));
    for (i = 0; i < k; i++) {
      if (kids[i]->gen != gen) {
        bg_tree_remove_node(t, kids[i]);
      } else if (S_ISDIR(kids[i]->inode->mode)) {
        if (n == cap) {
          p = realloc(stack, cap * 2 * sizeof(*stack));
          if (p == NULL)
            goto nomem;
          stack = p;
          cap *= 2;
        }
        stack[n++] = kids[i];
      }
    }
  }
  rc = 0;
  goto out;
nomem:
  bg_error_set(err, BG_ENOMEM, "out of memory applying a whiteout");
out:
  free(stack);
  free(kids);
  return rc;
}

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
    return strip_lower(ap->t, dir, err);
  victim = bg_node_child(dir, name, len);
  if (victim == NULL)
    return 0;
  if (victim->gen != bg_tree_layer_gen(ap->t)) {
    bg_tree_remove_node(ap->t, victim);
    return 0;
  }
  /* this layer wrote that name itself: only what lower layers left below it goes */
  if (S_ISDIR(victim->inode->mode))
    return strip_lower(ap->t, victim, err);
  return 0;
}

/* Whether a directory on the way to base is named like a whiteout. */
static int inside_whiteout(const char *path, const char *base)
{
  const char *p = path;

  while (p < base) {
    if (strncmp(p, WH_PREFIX, strlen(WH_PREFIX)) == 0)
      return 1;
    p = strchr(p, '/');
    if (p == NULL)
      break;
    p++;
  }
  return 0;
}

/* ---- contents and xattrs ---- */

static int read_content(struct apply *ap, struct archive *a, struct archive_entry *e,
                        struct bg_content *c, uint64_t *size, struct bg_error *err)
{
  static const unsigned char zeros[4096];
  const void *buf;
  size_t len, z;
  la_int64_t off;
  uint64_t pos = 0, first = 0, at;
  int rc, spooled = 0;

  memset(c, 0, sizeof(*c));
  *size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0
              ? (uint64_t)archive_entry_size(e)
              : 0;
  if (*size == 0)
    return 0;
  if (*size <= BG_LAYER_MEM_MAX) {
    c->kind = BG_CONTENT_MEM;
    c->mem = calloc(1, (size_t)*size);
    if (c->mem == NULL)
      return bg_error_set(err, BG_ENOMEM, "out of memory");
  } else {
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
    /* a sparse file's holes become zeros in the spool */
    while (pos < (uint64_t)off) {
      z = (uint64_t)off - pos < sizeof(zeros) ? (size_t)((uint64_t)off - pos) : sizeof(zeros);
      if (bg_tree_spool_append(ap->t, zeros, z, pos == 0 ? &first : &at, err) != 0)
        return -1;
      pos += z;
    }
    if (len > 0 && bg_tree_spool_append(ap->t, buf, len, pos == 0 ? &first : &at, err) != 0)
      return -1;
    pos += len;
  }
  while (spooled && pos < *size) {
    z = *size - pos < sizeof(zeros) ? (size_t)(*size - pos) : sizeof(zeros);
    if (bg_tree_spool_append(ap->t, zeros, z, pos == 0 ? &first : &at, err) != 0)
      return -1;
    pos += z;
  }
  c->offset = first;
  return 0;
}

static int keep_xattr(const char *name)
{
  if (strncmp(name, "trusted.overlay.", 16) == 0)
    return 0;
  return strncmp(name, "user.", 5) == 0 || strncmp(name, "security.", 9) == 0 ||
         strncmp(name, "trusted.", 8) == 0;
}

static uint32_t le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int set_xattrs(struct bg_inode *ino, struct archive_entry *e, struct bg_error *err)
{
  const char *name;
  const void *value;
  unsigned char cap[20];
  uint32_t magic;
  size_t len;

  /* the entry's set replaces what a lower layer's directory had */
  while (ino->nxattrs > 0)
    if (bg_inode_set_xattr(ino, ino->xattrs[0].name, NULL, 0, err) != 0)
      return -1;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
    if (name == NULL || !keep_xattr(name))
      continue;
    if (strcmp(name, "security.capability") == 0) {
      magic = len >= 4 ? le32(value) : 0;
      if ((magic & 0xff000000u) == 0x03000000u && len == 24) {
        /* v3 carries a namespace rootid; v2 is the same minus that field */
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
        bg_log(BG_LOG_WARN, "dropping a malformed security.capability (%zu bytes)", len);
        continue;
      }
    }
    if (bg_inode_set_xattr(ino, name, value, len, err) != 0)
      return -1;
  }
  return 0;
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
  uint64_t size;
  uint32_t ifmt;

  if (raw == NULL)
    return bg_error_set(err, BG_EINVAL, "entry without a name");
  if (clean_path(raw, ap->path, 0, "unsafe path", err) != 0)
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
  if (inside_whiteout(ap->path, base)) {
    /* below AUFS bookkeeping (".wh..wh.plnk/..."): ignored like the directory itself */
    if (strstr(ap->path, "/" WH_META) != NULL || strncmp(ap->path, WH_META, 8) == 0)
      return 0;
    return bg_error_set(err, BG_EINVAL, "invalid whiteout name");
  }
  if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
    return whiteout(ap, base, &m.mtime, err);
  if (hl != NULL) {
    if (clean_path(hl, target, 1, "unsafe hardlink (target leaves the root)", err) != 0)
      return -1;
    if (target[0] == '\0')
      return bg_error_set(err, BG_EINVAL, "hardlink to the root directory");
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
    if (read_content(ap, a, e, &c, &size, err) != 0) {
      bg_content_clear(&c);
      return -1;
    }
    if (bg_tree_add_file(ap->t, ap->path, &m, &c, size, BG_PARENTS, &node, err) != 0)
      return -1;
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
    /* an overlayfs whiteout has no meaning in an OCI layer: never a device, never a whiteout */
    if (type == AE_IFCHR && archive_entry_rdevmajor(e) == 0 && archive_entry_rdevminor(e) == 0)
      return 0;
    if (ap->policy->devices != BG_LAYER_DEVICES_KEEP)
      return 0;
    ifmt = type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO;
    if (bg_tree_mknod(ap->t, ap->path, ifmt, &m, (uint32_t)archive_entry_rdevmajor(e),
                      (uint32_t)archive_entry_rdevminor(e), BG_PARENTS, &node, err) != 0)
      return -1;
    break;
  case AE_IFSOCK:
    return 0; /* a socket is recreated by whoever listens on it */
  default:
    return bg_error_set(err, BG_EINVAL, "unsupported entry type 0%o", type);
  }
  bg_tree_touch(ap->t, node);
  if (ap->policy->xattrs == BG_LAYER_XATTRS_KEEP && set_xattrs(node->inode, e, err) != 0)
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
  ap.stream = bg_lstream_open(path, compression, max_bytes, t->layer_bytes, err);
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
    if (++t->layer_entries > ap.max_entries) {
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
                          t->layer_entries);
  }
finish:
  if (bg_lstream_finish(ap.stream, got, &ap.serr) != 0) {
    bg_error_set(err, ap.serr.code, "%s", ap.serr.msg);
    goto out;
  }
  t->layer_bytes += bg_lstream_total(ap.stream);
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
