/* Layers written with libarchive (gzip, zstd, plain) and replayed into trees. */
#include "harness.h"

/* entries are written positionally, trailing fields left out */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest/digest.h"
#include "layer/layer.h"
#include "tree/tree.h"

enum { PLAIN = 0, GZIP = 1, ZSTD = 2 };
static const char *const media[] = {
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
};

/* One entry of a layer: type f file, d dir, l symlink, h hardlink, c/b devices, p fifo. */
struct ent {
  const char *name;
  char type;
  const char *data; /* file content or link target */
  unsigned mode;    /* 0: 0644 files, 0755 dirs, 0777 symlinks */
  int64_t uid, gid;
};

static struct archive *lw_open(const char *file, int comp, int ustar)
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

static struct archive_entry *mk(const struct ent *x)
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

static void lw_put(struct archive *a, struct archive_entry *e, const void *data, size_t len)
{
  CHECK_INT(archive_write_header(a, e), ARCHIVE_OK);
  if (len > 0)
    CHECK_INT(archive_write_data(a, data, len), (la_ssize_t)len);
  archive_entry_free(e);
}

static void lw_close(struct archive *a)
{
  CHECK_INT(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

static void write_layer(const char *file, int comp, const struct ent *es, size_t n)
{
  struct archive *a = lw_open(file, comp, 0);
  size_t i;

  for (i = 0; i < n; i++)
    lw_put(a, mk(&es[i]), es[i].data,
           es[i].type == 'f' && es[i].data ? strlen(es[i].data) : 0);
  lw_close(a);
}

#define LAYER(file, comp, ...)                                                                     \
  do {                                                                                             \
    static const struct ent es_[] = {__VA_ARGS__};                                                 \
    write_layer(file, comp, es_, sizeof(es_) / sizeof(es_[0]));                                    \
  } while (0)

static struct bg_tree *new_tree(void)
{
  struct bg_error err;
  struct bg_tree *t;

  bg_error_clear(&err);
  t = bg_tree_new(NULL, &err);
  CHECK(t != NULL);
  return t;
}

static struct bg_error last_err;

/* Applies file; returns the status, the error in last_err. */
static int apply_p(struct bg_tree *t, const char *file, int comp, const char *diff_id,
                   const struct bg_layer_policy *p)
{
  bg_error_clear(&last_err);
  return bg_layer_apply(t, file, media[comp], diff_id, p, "L", &last_err);
}

static void must_apply(struct bg_tree *t, const char *file, int comp)
{
  if (apply_p(t, file, comp, NULL, NULL) != 0)
    bg_test_fail(__FILE__, __LINE__, "applying %s: %s", file, last_err.msg);
}

/* The error a one-layer tree made of file gives. */
static const char *fails(const char *file, int comp)
{
  struct bg_tree *t = new_tree();

  CHECK_INT(apply_p(t, file, comp, NULL, NULL), -1);
  bg_tree_free(t);
  return last_err.msg;
}

static struct bg_node *find(struct bg_tree *t, const char *path)
{
  struct bg_node *n = NULL;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_lookup(t, path, 0, &n, &err) != 0)
    return NULL;
  return n;
}

static struct bg_inode *ino_of(struct bg_tree *t, const char *path)
{
  struct bg_node *n = find(t, path);

  if (n == NULL)
    bg_test_fail(__FILE__, __LINE__, "%s is missing", path);
  return n->inode;
}

static const char *content(struct bg_tree *t, const char *path)
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

/* Sorted "path:type" list of the tree, one line each, for whole-tree comparisons. */
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
               S_ISDIR(n->inode->mode) && n->parent != n ? "/" : S_ISLNK(n->inode->mode) ? "@" : "");
  CHECK(w > 0 && (size_t)w < sizeof(l->buf) - l->len);
  l->len += (size_t)w;
  return 0;
}

static const char *listing(struct bg_tree *t)
{
  static struct listing l;

  l.len = 0;
  l.buf[0] = '\0';
  bg_tree_walk(t, list_visit, &l);
  if (l.len > 0)
    l.buf[--l.len] = '\0';
  return l.buf;
}

#define E(...) {__VA_ARGS__}

/* ---- compression, digests, streams ---- */

BG_TEST(gzip_zstd_and_plain_give_the_same_tree)
{
  unsigned char raw[BG_SHA256_LEN];
  char want[BG_DIGEST_STRLEN], got[BG_DIGEST_STRLEN];
  struct bg_error err;
  struct bg_tree *t;
  uint64_t size;
  int comp;
  const char *files[] = {"l.tar", "l.tar.gz", "l.tar.zst"};

  for (comp = PLAIN; comp <= ZSTD; comp++) {
    LAYER(files[comp], comp, E("etc/", 'd'), E("etc/os-release", 'f', "ID=debian\n"),
          E("bin", 'l', "usr/bin"));
  }
  bg_error_clear(&err);
  CHECK_INT(bg_sha256_file("l.tar", raw, &size, &err), 0);
  bg_digest_format(raw, want);
  for (comp = PLAIN; comp <= ZSTD; comp++) {
    t = new_tree();
    if (apply_p(t, files[comp], comp, want, NULL) != 0)
      bg_test_fail(__FILE__, __LINE__, "%s: %s", files[comp], last_err.msg);
    CHECK_STR(listing(t), "/ /bin@ /etc/ /etc/os-release");
    CHECK_STR(content(t, "etc/os-release"), "ID=debian\n");
    bg_tree_free(t);
    CHECK_INT(bg_layer_diff_id(files[comp], media[comp], got, &err), 0);
    CHECK_STR(got, want);
  }
  /* the Docker and nondistributable media types name the same formats */
  t = new_tree();
  bg_error_clear(&err);
  CHECK_INT(bg_layer_apply(t, "l.tar.gz", "application/vnd.docker.image.rootfs.diff.tar.gzip",
                           want, NULL, "L", &err), 0);
  CHECK_INT(bg_layer_apply(t, "l.tar.zst",
                           "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                           want, NULL, "L", &err), 0);
  CHECK_INT(bg_layer_apply(t, "l.tar.zst", "application/vnd.oci.image.config.v1+json", NULL,
                           NULL, "L", &err), -1);
  CHECK_STR(err.msg, "L: unsupported layer media type application/vnd.oci.image.config.v1+json");
  bg_tree_free(t);
}

BG_TEST(multi_member_gzip)
{
  struct bg_tree *t = new_tree();

  LAYER("a.tar", PLAIN, E("a", 'f', "1"));
  /* a gzip stream of two members, as pigz and concatenation write */
  CHECK_INT(system("head -c 1000 a.tar | gzip -c > two.gz && tail -c +1001 a.tar | gzip -c >> "
                   "two.gz"), 0);
  must_apply(t, "two.gz", GZIP);
  CHECK_STR(content(t, "a"), "1");
  bg_tree_free(t);
}

BG_TEST(wrong_magic_for_the_media_type)
{
  LAYER("l.tar.gz", GZIP, E("a", 'f', "x"));
  LAYER("l.tar.zst", ZSTD, E("a", 'f', "x"));
  LAYER("l.tar", PLAIN, E("a", 'f', "x"));
  CHECK_STR(fails("l.tar.gz", ZSTD),
            "L: the blob does not match its media type: expected zstd data, found gzip");
  CHECK_STR(fails("l.tar.zst", GZIP),
            "L: the blob does not match its media type: expected gzip data, found zstd");
  CHECK_STR(fails("l.tar.gz", PLAIN),
            "L: the blob does not match its media type: expected uncompressed data, found gzip");
  CHECK_STR(fails("l.tar", GZIP),
            "L: the blob does not match its media type: expected gzip data, found uncompressed");
}

BG_TEST(diff_id_mismatch_names_the_layer)
{
  struct bg_tree *t = new_tree();
  struct bg_error err;
  const char *zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
  char want[BG_DIGEST_STRLEN], msg[512];

  LAYER("l.tar.gz", GZIP, E("a", 'f', "x"));
  bg_error_clear(&err);
  CHECK_INT(bg_layer_diff_id("l.tar.gz", media[GZIP], want, &err), 0);
  CHECK_INT(bg_layer_apply(t, "l.tar.gz", media[GZIP], zero, NULL,
                           "layer 2 (sha256:abcd) of debian:bookworm", &err), -1);
  snprintf(msg, sizeof(msg),
           "layer 2 (sha256:abcd) of debian:bookworm: DiffID mismatch: expected %s, got %s", zero,
           want);
  CHECK_STR(err.msg, msg);
  CHECK_INT(err.code, BG_EMISMATCH);
  bg_tree_free(t);
}

static void truncate_to(const char *file, off_t keep)
{
  CHECK_INT(truncate(file, keep), 0);
}

static off_t size_of(const char *file)
{
  struct stat st;

  CHECK_INT(stat(file, &st), 0);
  return st.st_size;
}

static void big_layer(const char *file, int comp, size_t bytes)
{
  struct archive *a = lw_open(file, comp, 0);
  struct ent x = {"big", 'f', NULL, 0, 0, 0};
  struct archive_entry *e = mk(&x);
  static char zeros[65536];
  size_t done;

  archive_entry_set_size(e, (la_int64_t)bytes);
  CHECK_INT(archive_write_header(a, e), ARCHIVE_OK);
  for (done = 0; done < bytes; done += sizeof(zeros))
    CHECK(archive_write_data(a, zeros, sizeof(zeros)) > 0);
  archive_entry_free(e);
  lw_close(a);
}

BG_TEST(truncated_streams_fail_cleanly)
{
  big_layer("l.tar.gz", GZIP, 1 << 20);
  truncate_to("l.tar.gz", size_of("l.tar.gz") - 20);
  CHECK_STR(fails("l.tar.gz", GZIP), "L: big: truncated gzip stream");
  big_layer("l.tar.zst", ZSTD, 1 << 20);
  truncate_to("l.tar.zst", size_of("l.tar.zst") - 20);
  CHECK_STR(fails("l.tar.zst", ZSTD), "L: big: truncated zstd stream");
  /* a plain tar cut inside a header */
  LAYER("l.tar", PLAIN, E("a", 'f', "x"), E("b", 'f', "y"));
  truncate_to("l.tar", 1024 + 100);
  CHECK_CONTAINS(fails("l.tar", PLAIN), "L: Truncated tar archive");
  /* and cut inside a file's data */
  big_layer("l.tar", PLAIN, 100000);
  truncate_to("l.tar", 50000);
  CHECK_CONTAINS(fails("l.tar", PLAIN), "L: big: Truncated tar archive");
  /* garbage after the end of a gzip stream */
  LAYER("l.tar.gz", GZIP, E("a", 'f', "x"));
  CHECK_INT(system("printf 'junk' >> l.tar.gz"), 0);
  CHECK_STR(fails("l.tar.gz", GZIP), "L: corrupt gzip stream: trailing data after the end");
}

BG_TEST(decompression_bomb_hits_the_cap)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy p;

  memset(&p, 0, sizeof(p));
  p.max_bytes = 1 << 20;
  big_layer("bomb.tar.gz", GZIP, 32 << 20);
  CHECK(size_of("bomb.tar.gz") < 100000);
  CHECK_INT(apply_p(t, "bomb.tar.gz", GZIP, NULL, &p), -1);
  CHECK_STR(last_err.msg, "L: big: the uncompressed layers exceed the limit of 1048576 bytes");
  CHECK_INT(last_err.code, BG_ETOOBIG);
  bg_tree_free(t);
  /* the cap counts every layer of the tree */
  t = new_tree();
  p.max_bytes = 5000;
  LAYER("a.tar", PLAIN, E("a", 'f', "x"));
  CHECK_INT(size_of("a.tar"), 2048);
  CHECK_INT(apply_p(t, "a.tar", PLAIN, NULL, &p), 0);
  CHECK_INT(apply_p(t, "a.tar", PLAIN, NULL, &p), 0);
  CHECK_INT(apply_p(t, "a.tar", PLAIN, NULL, &p), -1);
  CHECK_STR(last_err.msg, "L: the uncompressed layers exceed the limit of 5000 bytes");
  bg_tree_free(t);
}

BG_TEST(entry_cap)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy p;

  memset(&p, 0, sizeof(p));
  p.max_entries = 3;
  LAYER("l.tar", PLAIN, E("a", 'f', "1"), E("b", 'f', "2"), E("c", 'f', "3"), E("d", 'f', "4"));
  CHECK_INT(apply_p(t, "l.tar", PLAIN, NULL, &p), -1);
  CHECK_STR(last_err.msg, "L: more than 3 entries in the layers");
  bg_tree_free(t);
}
