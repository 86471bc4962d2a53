#include "harness.h"

#include <stdio.h>

#include "fixtures.h"

struct bg_tree *new_tree(void)
{
  struct bg_error err;
  struct bg_tree *t;

  bg_error_clear(&err);
  t = bg_tree_new(NULL, &err);
  CHECK(t != NULL);
  return t;
}

struct bg_meta meta(uint32_t mode, uint32_t uid, uint32_t gid, int64_t time)
{
  struct bg_meta m;

  memset(&m, 0, sizeof(m));
  m.mode = mode;
  m.uid = uid;
  m.gid = gid;
  m.mtime.sec = time;
  m.atime.sec = time;
  m.ctime.sec = time;
  return m;
}

void touch(const char *path)
{
  FILE *f = fopen(path, "w");

  CHECK(f != NULL);
  CHECK_INT(fclose(f), 0);
}

/* ---- layers ---- */

const char *const media[3] = {
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
};

struct archive *lw_open(const char *file, int comp, int ustar)
{
  struct archive *a = archive_write_new();

  CHECK(a != NULL);
  if (ustar)
    archive_write_set_format_ustar(a);
  else
    archive_write_set_format_pax(a);
  if (comp == GZIP)
    CHECK_INT(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  else if (comp == ZSTD)
    CHECK_INT(archive_write_add_filter_zstd(a), ARCHIVE_OK);
  CHECK_INT(archive_write_open_filename(a, file), ARCHIVE_OK);
  return a;
}

struct archive_entry *mk(const struct ent *x)
{
  struct archive_entry *e = archive_entry_new();
  unsigned def = 0644;

  archive_entry_copy_pathname(e, x->name);
  switch (x->type) {
  case 'd': archive_entry_set_filetype(e, AE_IFDIR); def = 0755; break;
  case 'l':
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_copy_symlink(e, x->data);
    def = 0777;
    break;
  case 'h':
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_copy_hardlink(e, x->data);
    break;
  case 'c': archive_entry_set_filetype(e, AE_IFCHR); archive_entry_set_rdevmajor(e, 1);
    archive_entry_set_rdevminor(e, 3); break;
  case 'b': archive_entry_set_filetype(e, AE_IFBLK); archive_entry_set_rdevmajor(e, 8); break;
  case 'p': archive_entry_set_filetype(e, AE_IFIFO); break;
  default:
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, x->data ? (la_int64_t)strlen(x->data) : 0);
  }
  archive_entry_set_perm(e, x->mode ? x->mode : def);
  archive_entry_set_uid(e, x->uid);
  archive_entry_set_gid(e, x->gid);
  archive_entry_set_mtime(e, 1700000000, 0);
  return e;
}

void lw_put(struct archive *a, struct archive_entry *e, const void *data, size_t len)
{
  CHECK_INT(archive_write_header(a, e), ARCHIVE_OK);
  if (len > 0)
    CHECK_INT(archive_write_data(a, data, len), (la_ssize_t)len);
  archive_entry_free(e);
}

void lw_empty(struct archive *a, const char *name)
{
  struct ent x = {name, 'f', "", 0, 0, 0};

  lw_put(a, mk(&x), NULL, 0);
}

void lw_close(struct archive *a)
{
  CHECK_INT(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

void write_layer(const char *file, int comp, const struct ent *es, size_t n)
{
  struct archive *a = lw_open(file, comp, 0);
  size_t i;

  for (i = 0; i < n; i++)
    lw_put(a, mk(&es[i]), es[i].data,
           es[i].type == 'f' && es[i].data ? strlen(es[i].data) : 0);
  lw_close(a);
}

struct bg_error last_err;

int apply_p(struct bg_tree *t, const char *file, int comp, const char *diff_id,
            const struct bg_layer_policy *p)
{
  bg_error_clear(&last_err);
  return bg_layer_apply(t, file, media[comp], diff_id, p, "L", &last_err);
}

void must_apply(struct bg_tree *t, const char *file, int comp)
{
  if (apply_p(t, file, comp, NULL, NULL) != 0)
    bg_test_fail(__FILE__, __LINE__, "applying %s: %s", file, last_err.msg);
}

const char *fails(const char *file, int comp)
{
  struct bg_tree *t = new_tree();

  CHECK_INT(apply_p(t, file, comp, NULL, NULL), -1);
  bg_tree_free(t);
  return last_err.msg;
}

/* ---- looking at a tree ---- */

struct bg_node *find(struct bg_tree *t, const char *path)
{
  struct bg_node *n = NULL;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_lookup(t, path, 0, &n, &err) != 0)
    return NULL;
  return n;
}

struct bg_inode *ino_of(struct bg_tree *t, const char *path)
{
  struct bg_node *n = find(t, path);

  if (n == NULL)
    bg_test_fail(__FILE__, __LINE__, "%s is missing", path);
  return n->inode;
}

const char *content(struct bg_tree *t, const char *path)
{
  static char buf[65536];
  struct bg_inode *ino = ino_of(t, path);
  struct bg_error err;
  size_t got, pos = 0;

  bg_error_clear(&err);
  CHECK(ino->size < sizeof(buf));
  while (pos < ino->size) {
    CHECK_INT(bg_tree_read(t, ino, pos, buf + pos, sizeof(buf) - pos, &got, &err), 0);
    CHECK(got > 0);
    pos += got;
  }
  buf[pos] = '\0';
  return buf;
}

struct listing {
  char buf[8192];
  size_t len;
};

static int list_visit(struct bg_node *n, void *ctx)
{
  struct listing *l = ctx;
  char path[4096];
  struct bg_error err;
  int w;

  bg_error_clear(&err);
  CHECK_INT(bg_node_path(n, path, sizeof(path), &err), 0);
  w = snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s%s ", path,
               S_ISDIR(n->inode->mode) && n->parent != n ? "/"
               : S_ISLNK(n->inode->mode)                 ? "@"
                                                         : "");
  CHECK(w > 0 && (size_t)w < sizeof(l->buf) - l->len);
  l->len += (size_t)w;
  return 0;
}

const char *listing(struct bg_tree *t)
{
  static struct listing l;

  l.len = 0;
  l.buf[0] = '\0';
  bg_tree_walk(t, list_visit, &l);
  if (l.len > 0)
    l.buf[--l.len] = '\0';
  return l.buf;
}
