/* Layers written with libarchive (gzip, zstd, plain) and replayed into trees. */
#include "harness.h"

/* entries are written positionally, trailing fields left out */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
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
               S_ISDIR(n->inode->mode) && n->parent != n ? "/"
               : S_ISLNK(n->inode->mode)                 ? "@"
                                                         : "");
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

/* ---- raw tar headers, for names libarchive's writer would refuse ---- */

static void octal(char *field, size_t len, uint64_t v)
{
  char tmp[32];

  snprintf(tmp, sizeof(tmp), "%0*llo", (int)len - 1, (unsigned long long)v);
  memcpy(field, tmp, len - 1);
  field[len - 1] = '\0';
}

static void raw_entry(FILE *f, const char *name, char type, const char *data, const char *link)
{
  char h[512];
  size_t n = data ? strlen(data) : 0, i;
  unsigned sum = 0;
  static const char pad[512];

  memset(h, 0, sizeof(h));
  memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
  octal(h + 100, 8, type == '5' ? 0755 : 0644);
  octal(h + 108, 8, 0);
  octal(h + 116, 8, 0);
  octal(h + 124, 12, n);
  octal(h + 136, 12, 1700000000);
  h[156] = type;
  if (link != NULL)
    memcpy(h + 157, link, strlen(link) < 100 ? strlen(link) : 100);
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  for (i = 0; i < 512; i++)
    sum += (unsigned char)h[i];
  octal(h + 148, 7, sum);
  CHECK_INT(fwrite(h, 1, 512, f), 512);
  if (n > 0) {
    CHECK_INT(fwrite(data, 1, n, f), n);
    CHECK_INT(fwrite(pad, 1, (512 - n % 512) % 512, f), (512 - n % 512) % 512);
  }
}

static void raw_end(FILE *f)
{
  static const char zeros[1024];

  CHECK_INT(fwrite(zeros, 1, sizeof(zeros), f), sizeof(zeros));
  CHECK_INT(fclose(f), 0);
}

/* ---- paths ---- */

BG_TEST(unsafe_entry_names_are_rejected)
{
  LAYER("a.tar", PLAIN, E("ok", 'f', "x"), E("../x", 'f', "x"));
  CHECK_STR(fails("a.tar", PLAIN), "L: ../x: unsafe path");
  LAYER("b.tar", PLAIN, E("etc/../../x", 'f', "x"));
  CHECK_STR(fails("b.tar", PLAIN), "L: etc/../../x: unsafe path");
  LAYER("c.tar", PLAIN, E("/etc/passwd", 'f', "x"));
  CHECK_STR(fails("c.tar", PLAIN), "L: /etc/passwd: unsafe path");
  /* even a ".." that would stay inside is refused: the spec's names never hold one */
  LAYER("d.tar", PLAIN, E("a/../b", 'f', "x"));
  CHECK_STR(fails("d.tar", PLAIN), "L: a/../b: unsafe path");
  LAYER("e.tar", PLAIN, E("a/..", 'd'));
  CHECK_STR(fails("e.tar", PLAIN), "L: a/../: unsafe path");
  CHECK_INT(last_err.code, BG_EUNSAFE);
}

BG_TEST(names_are_normalised)
{
  struct bg_tree *t = new_tree();

  LAYER("l.tar", PLAIN, E("./a", 'f', "1"), E("b//c", 'f', "2"), E("d/", 'd', NULL, 0700),
        E("./e/./f", 'f', "3"));
  must_apply(t, "l.tar", PLAIN);
  CHECK_STR(listing(t), "/ /a /b/ /b/c /d/ /e/ /e/f");
  CHECK_INT(ino_of(t, "d")->mode, S_IFDIR | 0700);
  bg_tree_free(t);
}

BG_TEST(empty_name_is_rejected)
{
  FILE *f = fopen("l.tar", "wb");

  CHECK(f != NULL);
  raw_entry(f, "", '0', "x", NULL);
  raw_end(f);
  CHECK_STR(fails("l.tar", PLAIN), "L: : empty name");
}

BG_TEST(component_length_limit)
{
  struct bg_tree *t = new_tree();
  char ok[300], bad[300];

  memset(ok, 'a', 255);
  ok[255] = '\0';
  memcpy(bad, "d/", 2);
  memset(bad + 2, 'b', 256);
  bad[258] = '\0';
  {
    struct archive *a = lw_open("l.tar", PLAIN, 0);
    struct ent x = {ok, 'f', "x", 0, 0, 0};
    lw_put(a, mk(&x), "x", 1);
    lw_close(a);
  }
  must_apply(t, "l.tar", PLAIN);
  CHECK(find(t, ok) != NULL);
  bg_tree_free(t);
  {
    struct archive *a = lw_open("m.tar", PLAIN, 0);
    struct ent x = {bad, 'f', "x", 0, 0, 0};
    lw_put(a, mk(&x), "x", 1);
    lw_close(a);
  }
  CHECK_CONTAINS(fails("m.tar", PLAIN), ": name component too long (256 bytes, at most 255)");
}

BG_TEST(names_and_targets_of_100_bytes)
{
  struct bg_tree *t = new_tree();
  char name[101], target[101];
  struct archive *a = lw_open("l.tar", PLAIN, 1); /* ustar: no PAX header to lean on */
  struct ent f, l;

  memset(name, 'n', 100);
  name[100] = '\0';
  memset(target, 't', 100);
  target[100] = '\0';
  f = (struct ent){name, 'f', "x", 0, 0, 0};
  l = (struct ent){"link", 'l', target, 0, 0, 0};
  lw_put(a, mk(&f), "x", 1);
  lw_put(a, mk(&l), NULL, 0);
  {
    struct ent h = {"hard", 'h', name, 0, 0, 0};
    lw_put(a, mk(&h), NULL, 0);
  }
  lw_close(a);
  must_apply(t, "l.tar", PLAIN);
  CHECK_INT(ino_of(t, name)->size, 1);
  CHECK_STR(ino_of(t, "link")->target, target);
  CHECK(ino_of(t, "hard") == ino_of(t, name));
  bg_tree_free(t);
}

BG_TEST(names_are_raw_bytes)
{
  struct bg_tree *t = new_tree();
  struct archive *a;
  struct ent x1 = {"caf\xc3\xa9", 'f', "utf8", 0, 0, 0};      /* UTF-8, written as PAX */
  struct ent x2 = {"latin\xe9\xff", 'f', "bytes", 0, 0, 0};   /* not UTF-8 at all */
  FILE *f;

  /* written the way Go's archive/tar does (a UTF-8 PAX path), read in the C locale */
  CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
  a = lw_open("l.tar", PLAIN, 0);
  lw_put(a, mk(&x1), "utf8", 4);
  lw_close(a);
  setlocale(LC_CTYPE, "C");
  CHECK_INT(system("grep -c 'path=caf' l.tar > /dev/null"), 0);
  must_apply(t, "l.tar", PLAIN);
  CHECK_STR(content(t, "caf\xc3\xa9"), "utf8");
  /* plain ustar bytes */
  f = fopen("m.tar", "wb");
  CHECK(f != NULL);
  raw_entry(f, x2.name, '0', "bytes", NULL);
  raw_end(f);
  must_apply(t, "m.tar", PLAIN);
  CHECK_STR(content(t, "latin\xe9\xff"), "bytes");
  bg_tree_free(t);
}

BG_TEST(root_entry_changes_nothing)
{
  struct bg_tree *t = new_tree();
  FILE *f;

  LAYER("l.tar", PLAIN, E("./", 'd', NULL, 0700, 5, 6), E("a", 'f', "x"));
  must_apply(t, "l.tar", PLAIN);
  CHECK_INT(bg_tree_root(t)->inode->mode, S_IFDIR | 0755);
  CHECK_INT(bg_tree_root(t)->inode->uid, 0);
  CHECK_STR(listing(t), "/ /a");
  bg_tree_free(t);
  f = fopen("m.tar", "wb");
  CHECK(f != NULL);
  raw_entry(f, ".", '0', "x", NULL);
  raw_end(f);
  CHECK_STR(fails("m.tar", PLAIN), "L: .: the root must be a directory");
}

/* ---- symlinks and hardlinks ---- */

BG_TEST(symlink_targets)
{
  struct bg_tree *t = new_tree();

  LAYER("l.tar", PLAIN, E("etc/alternatives/awk", 'l', "/usr/bin/mawk"),
        E("lib64", 'l', "usr/lib64"), E("usr/lib/x", 'l', "../../etc"),
        E("usr/lib/y", 'l', "./../.././etc/."));
  must_apply(t, "l.tar", PLAIN);
  CHECK_STR(ino_of(t, "etc/alternatives/awk")->target, "/usr/bin/mawk");
  CHECK_STR(ino_of(t, "usr/lib/x")->target, "../../etc");
  CHECK_INT(ino_of(t, "lib64")->mode, S_IFLNK | 0777);
  bg_tree_free(t);
  LAYER("a.tar", PLAIN, E("evil", 'l', "../etc/shadow"));
  CHECK_STR(fails("a.tar", PLAIN),
            "L: evil: unsafe symlink (target ../etc/shadow leaves the root)");
  CHECK_INT(last_err.code, BG_EUNSAFE);
  LAYER("b.tar", PLAIN, E("usr/lib/x", 'l', "../../../etc"));
  CHECK_STR(fails("b.tar", PLAIN),
            "L: usr/lib/x: unsafe symlink (target ../../../etc leaves the root)");
  /* textual: climbing out and back in still climbs out */
  LAYER("c.tar", PLAIN, E("a/x", 'l', "../../a/y"));
  CHECK_CONTAINS(fails("c.tar", PLAIN), "unsafe symlink");
}

BG_TEST(hardlinks)
{
  struct bg_tree *t = new_tree();
  struct bg_inode *ino;

  LAYER("l.tar", PLAIN, E("bin/", 'd'), E("bin/gzip", 'f', "GZ", 0755, 0, 0),
        E("bin/gunzip", 'h', "bin/gzip", 0600, 1000, 1000), E("s", 'l', "/bin/gzip"),
        E("s2", 'h', "s"), E("bin/zcat", 'h', "./bin//gzip"));
  must_apply(t, "l.tar", PLAIN);
  ino = ino_of(t, "bin/gzip");
  CHECK(ino_of(t, "bin/gunzip") == ino);
  CHECK(ino_of(t, "bin/zcat") == ino);
  CHECK_INT(ino->nlink, 3);
  /* the link entry's own mode and owner do not touch the inode */
  CHECK_INT(ino->mode, S_IFREG | 0755);
  CHECK_INT(ino->uid, 0);
  /* a hardlink to a symlink shares the symlink's inode */
  CHECK(ino_of(t, "s2") == ino_of(t, "s"));
  CHECK_INT(ino_of(t, "s2")->mode & S_IFMT, S_IFLNK);
  bg_tree_free(t);
  LAYER("a.tar", PLAIN, E("d/", 'd'), E("x", 'h', "d"));
  CHECK_STR(fails("a.tar", PLAIN), "L: x: hardlink x: d is a directory");
  LAYER("b.tar", PLAIN, E("x", 'h', "../etc/shadow"));
  CHECK_STR(fails("b.tar", PLAIN), "L: x: unsafe hardlink (target leaves the root)");
  LAYER("c.tar", PLAIN, E("x", 'h', "/etc/shadow"));
  CHECK_STR(fails("c.tar", PLAIN), "L: x: unsafe hardlink (target leaves the root)");
  LAYER("d.tar", PLAIN, E("x", 'h', "nothing"));
  CHECK_STR(fails("d.tar", PLAIN), "L: x: hardlink x: nothing: no such file or directory");
}

BG_TEST(cross_layer_hardlinks)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", GZIP, E("a", 'f', "old"), E("b", 'h', "a"), E("c", 'h', "a"));
  LAYER("2.tar", GZIP, E("a", 'f', "new"), E(".wh.b", 'f'));
  LAYER("3.tar", GZIP, E("d", 'h', "c"));
  must_apply(t, "1.tar", GZIP);
  CHECK_INT(ino_of(t, "a")->nlink, 3);
  must_apply(t, "2.tar", GZIP);
  CHECK_STR(content(t, "a"), "new");
  CHECK_STR(content(t, "c"), "old");
  CHECK_INT(ino_of(t, "c")->nlink, 1);
  CHECK_INT(ino_of(t, "a")->nlink, 1);
  CHECK(find(t, "b") == NULL);
  /* a later layer links to a name a lower one left */
  must_apply(t, "3.tar", GZIP);
  CHECK(ino_of(t, "d") == ino_of(t, "c"));
  CHECK_INT(ino_of(t, "d")->nlink, 2);
  bg_tree_free(t);
}

/* ---- whiteouts ---- */

BG_TEST(whiteout_drops_the_victim_and_its_metadata)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("etc/", 'd'), E("etc/secret", 'f', "old", 04700, 5, 6),
        E("etc/keep", 'f', "k"), E("var/cache/", 'd'), E("var/cache/x/y", 'f', "deep"));
  LAYER("2.tar", PLAIN, E("etc/.wh.secret", 'f'), E("var/.wh.cache", 'f'),
        E("var/.wh.missing", 'f'));
  LAYER("3.tar", PLAIN, E("etc/secret", 'f', "new"));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /etc/ /etc/keep /var/");
  must_apply(t, "3.tar", PLAIN);
  /* nothing of the old file survives: mode, owner and content are the new entry's */
  CHECK_INT(ino_of(t, "etc/secret")->mode, S_IFREG | 0644);
  CHECK_INT(ino_of(t, "etc/secret")->uid, 0);
  CHECK_STR(content(t, "etc/secret"), "new");
  bg_tree_free(t);
}

BG_TEST(whiteout_spares_its_own_layer)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("d/old", 'f', "o"), E("f", 'f', "lower"));
  /* same layer: the new d and f stay; only what lower layers had in d goes */
  LAYER("2.tar", PLAIN, E("d/", 'd'), E("d/new", 'f', "n"), E(".wh.d", 'f'),
        E("f", 'f', "upper"), E(".wh.f", 'f'), E("g", 'f', "g"), E(".wh.g", 'f'));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /d/ /d/new /f /g");
  CHECK_STR(content(t, "f"), "upper");
  bg_tree_free(t);
}

BG_TEST(whiteout_names_are_validated)
{
  struct bg_tree *t = new_tree();

  LAYER("a.tar", PLAIN, E(".wh.", 'f'));
  CHECK_STR(fails("a.tar", PLAIN), "L: .wh.: invalid whiteout name");
  LAYER("b.tar", PLAIN, E("d/.wh..", 'f'));
  CHECK_STR(fails("b.tar", PLAIN), "L: d/.wh..: invalid whiteout name");
  LAYER("c.tar", PLAIN, E("d/.wh...", 'f'));
  CHECK_STR(fails("c.tar", PLAIN), "L: d/.wh...: invalid whiteout name");
  /* a whiteout of a parent is a path with "..": never a way to remove the root */
  LAYER("d.tar", PLAIN, E("d/.wh../x", 'f'));
  CHECK_STR(fails("d.tar", PLAIN), "L: d/.wh../x: invalid whiteout name");
  LAYER("e.tar", PLAIN, E("a/../.wh.a", 'f'));
  CHECK_STR(fails("e.tar", PLAIN), "L: a/../.wh.a: unsafe path");
  /* AUFS bookkeeping names are ignored, and no whiteout ever shows in the tree */
  LAYER("f.tar", PLAIN, E("x", 'f', "1"), E(".wh..wh.plnk/", 'd'), E(".wh..wh.plnk/1.2", 'f'),
        E(".wh..wh.aufs", 'f'));
  must_apply(t, "f.tar", PLAIN);
  CHECK_STR(listing(t), "/ /x");
  bg_tree_free(t);
}

static void opaque_case(const char *upper_first, const char *upper_second)
{
  struct bg_tree *t = new_tree();
  struct archive *a;
  struct ent l1[] = {E("d/", 'd', NULL, 0700, 3, 3), E("d/a", 'f', "a"), E("d/sub/b", 'f', "b"),
                     E("d/sub/c", 'f', "c"), E("e/kept", 'f', "k")};
  struct ent up[] = {E("d/", 'd'), E("d/n", 'f', "n"), E("d/sub/m", 'f', "m")};
  struct ent opq = E("d/.wh..wh..opq", 'f');
  size_t i;

  write_layer("1.tar", GZIP, l1, sizeof(l1) / sizeof(l1[0]));
  a = lw_open("2.tar", GZIP, 0);
  if (strcmp(upper_first, "opq") == 0)
    lw_put(a, mk(&opq), NULL, 0);
  for (i = 0; i < sizeof(up) / sizeof(up[0]); i++)
    lw_put(a, mk(&up[i]), up[i].data, up[i].data ? strlen(up[i].data) : 0);
  if (strcmp(upper_second, "opq") == 0)
    lw_put(a, mk(&opq), NULL, 0);
  lw_close(a);
  must_apply(t, "1.tar", GZIP);
  must_apply(t, "2.tar", GZIP);
  /* d/sub came back in this layer (implicitly, for d/sub/m): only its new child stays */
  CHECK_STR(listing(t), "/ /d/ /d/n /d/sub/ /d/sub/m /e/ /e/kept");
  CHECK_INT(ino_of(t, "d")->mode, S_IFDIR | 0755);
  bg_tree_free(t);
}

BG_TEST(opaque_directory_wherever_the_marker_is)
{
  opaque_case("opq", "");
  opaque_case("", "opq");
}

BG_TEST(opaque_marker_alone)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("d/a", 'f', "a"), E("d/s/b", 'f', "b"), E("x/y", 'f', "y"));
  LAYER("2.tar", PLAIN, E("d/.wh..wh..opq", 'f'), E("new/.wh..wh..opq", 'f'));
  LAYER("3.tar", PLAIN, E(".wh..wh..opq", 'f'), E("z", 'f', "z"));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  /* an opaque directory exists in its layer, emptied of everything lower */
  CHECK_STR(listing(t), "/ /d/ /new/ /x/ /x/y");
  /* at the root it hides every lower layer */
  must_apply(t, "3.tar", PLAIN);
  CHECK_STR(listing(t), "/ /z");
  bg_tree_free(t);
}

BG_TEST(dir_over_dir_keeps_children_anything_else_replaces)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("d/", 'd', NULL, 0700, 1, 1), E("d/x", 'f', "x"),
        E("e/", 'd'), E("e/y", 'f', "y"), E("f", 'f', "file"));
  LAYER("2.tar", PLAIN, E("d/", 'd', NULL, 0750, 2, 2), E("e", 'l', "d"), E("f/", 'd'),
        E("f/z", 'f', "z"));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /d/ /d/x /e@ /f/ /f/z");
  CHECK_INT(ino_of(t, "d")->mode, S_IFDIR | 0750);
  CHECK_INT(ino_of(t, "d")->uid, 2);
  bg_tree_free(t);
}

BG_TEST(multi_layer_replay)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar.gz", GZIP, E("bin/", 'd'), E("bin/sh", 'f', "dash"), E("etc/os-release", 'f',
        "ID=debian\n"), E("usr/bin/mawk", 'f', "awk"), E("etc/alternatives/awk", 'l',
        "/usr/bin/mawk"));
  LAYER("2.tar.zst", ZSTD, E("bin/sh", 'l', "bash"), E("bin/bash", 'f', "bash", 0755),
        E("etc/.wh.os-release", 'f'), E("usr/.wh..wh..opq", 'f'), E("usr/bin/gawk", 'f', "g"));
  LAYER("3.tar", PLAIN, E("etc/os-release", 'f', "ID=ubuntu\n"), E("etc/alternatives/awk",
        'l', "/usr/bin/gawk"));
  must_apply(t, "1.tar.gz", GZIP);
  must_apply(t, "2.tar.zst", ZSTD);
  must_apply(t, "3.tar", PLAIN);
  CHECK_STR(listing(t), "/ /bin/ /bin/bash /bin/sh@ /etc/ /etc/alternatives/ "
            "/etc/alternatives/awk@ /etc/os-release /usr/ /usr/bin/ /usr/bin/gawk");
  CHECK_STR(content(t, "etc/os-release"), "ID=ubuntu\n");
  CHECK_STR(ino_of(t, "etc/alternatives/awk")->target, "/usr/bin/gawk");
  CHECK_STR(ino_of(t, "bin/sh")->target, "bash");
  bg_tree_free(t);
}

/* ---- order ---- */

BG_TEST(children_before_parents_and_duplicates)
{
  struct bg_tree *t = new_tree();

  LAYER("l.tar", PLAIN, E("a/b/c", 'f', "c"), E("a/b/", 'd', NULL, 0700, 7, 8),
        E("x", 'f', "first", 0600), E("x", 'f', "second", 0640, 1, 1), E("a/b/", 'd', NULL,
        0710, 7, 8));
  must_apply(t, "l.tar", PLAIN);
  CHECK_INT(ino_of(t, "a")->mode, S_IFDIR | 0755); /* implied */
  CHECK_INT(ino_of(t, "a")->uid, 0);
  CHECK_INT(ino_of(t, "a/b")->mode, S_IFDIR | 0710);
  CHECK_INT(ino_of(t, "a/b")->uid, 7);
  CHECK_STR(content(t, "a/b/c"), "c");
  CHECK_STR(content(t, "x"), "second");
  CHECK_INT(ino_of(t, "x")->mode, S_IFREG | 0640);
  CHECK_INT(bg_tree_entries(t), 4);
  bg_tree_free(t);
}

BG_TEST(fifty_thousand_files_in_one_directory)
{
  struct bg_tree *t = new_tree();
  struct archive *a = lw_open("l.tar.gz", GZIP, 0);
  struct bg_node *const *kids;
  char name[64];
  struct timespec t0, t1;
  size_t n;
  int i;

  for (i = 0; i < 50000; i++) {
    struct ent x = {name, 'f', "", 0, 0, 0};
    snprintf(name, sizeof(name), "usr/share/many/file-%05d", i);
    lw_put(a, mk(&x), NULL, 0);
  }
  lw_close(a);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  must_apply(t, "l.tar.gz", GZIP);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  kids = bg_node_children(find(t, "usr/share/many"), &n);
  CHECK_INT(n, 50000);
  CHECK_STR(kids[0]->name, "file-00000");
  CHECK_STR(kids[49999]->name, "file-49999");
  CHECK((t1.tv_sec - t0.tv_sec) < 5);
  bg_tree_free(t);
}

/* ---- metadata ---- */

BG_TEST(metadata_from_headers)
{
  struct bg_tree *t = new_tree();
  struct archive *a = lw_open("l.tar", GZIP, 0);
  struct ent x[] = {E("usr/bin/sudo", 'f', "s", 04755, 0, 0), E("usr/bin/wall", 'f', "w",
                    02755, 0, 5), E("tmp/", 'd', NULL, 01777), E("home/u/f", 'f', "", 0600,
                    100000, 70000), E("old", 'f', "o"), E("future", 'f', "f"),
                    E("named", 'f', "n", 0644, 1234, 4321)};
  struct archive_entry *e;
  struct bg_inode *ino;
  size_t i;

  for (i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
    e = mk(&x[i]);
    if (strcmp(x[i].name, "old") == 0) {
      archive_entry_set_mtime(e, -1000, 250000000);
      archive_entry_set_atime(e, -2000, 1);
    } else if (strcmp(x[i].name, "future") == 0) {
      archive_entry_set_mtime(e, 4102444800LL, 999999999);
      archive_entry_set_ctime(e, 4102444801LL, 5);
    } else if (strcmp(x[i].name, "named") == 0) {
      /* names are never looked up: the numbers are what counts */
      archive_entry_copy_uname(e, "root");
      archive_entry_copy_gname(e, "root");
    }
    lw_put(a, e, x[i].data, x[i].data ? strlen(x[i].data) : 0);
  }
  lw_close(a);
  must_apply(t, "l.tar", GZIP);
  CHECK_INT(ino_of(t, "usr/bin/sudo")->mode, S_IFREG | 04755);
  CHECK_INT(ino_of(t, "usr/bin/wall")->mode, S_IFREG | 02755);
  CHECK_INT(ino_of(t, "usr/bin/wall")->gid, 5);
  CHECK_INT(ino_of(t, "tmp")->mode, S_IFDIR | 01777);
  CHECK_INT(ino_of(t, "home/u/f")->uid, 100000);
  CHECK_INT(ino_of(t, "home/u/f")->gid, 70000);
  CHECK_INT(ino_of(t, "named")->uid, 1234);
  CHECK_INT(ino_of(t, "named")->gid, 4321);
  ino = ino_of(t, "old");
  CHECK_INT(ino->mtime.sec, -1000);
  CHECK_INT(ino->mtime.nsec, 250000000);
  CHECK_INT(ino->atime.sec, -2000);
  CHECK_INT(ino->atime.nsec, 1);
  CHECK_INT(ino->ctime.sec, -1000); /* absent: the mtime */
  ino = ino_of(t, "future");
  CHECK_INT(ino->mtime.sec, 4102444800LL);
  CHECK_INT(ino->mtime.nsec, 999999999);
  CHECK_INT(ino->atime.sec, 4102444800LL);
  CHECK_INT(ino->ctime.sec, 4102444801LL);
  CHECK_INT(ino->ctime.nsec, 5);
  CHECK_INT(ino_of(t, "usr/bin/sudo")->mtime.sec, 1700000000);
  bg_tree_free(t);
}

BG_TEST(file_contents_spool_and_memory)
{
  struct bg_tree *t = new_tree();
  struct archive *a = lw_open("l.tar.zst", ZSTD, 0);
  static char big[40000], small[BG_LAYER_MEM_MAX];
  struct ent b = {"big", 'f', NULL, 0, 0, 0}, s = {"small", 'f', NULL, 0, 0, 0};
  struct archive_entry *e;
  size_t i;

  for (i = 0; i < sizeof(big); i++)
    big[i] = (char)('a' + i % 26);
  memset(small, 's', sizeof(small));
  e = mk(&b);
  archive_entry_set_size(e, sizeof(big));
  lw_put(a, e, big, sizeof(big));
  e = mk(&s);
  archive_entry_set_size(e, sizeof(small));
  lw_put(a, e, small, sizeof(small));
  lw_close(a);
  must_apply(t, "l.tar.zst", ZSTD);
  CHECK_INT(ino_of(t, "big")->content.kind, BG_CONTENT_SPOOL);
  CHECK_INT(ino_of(t, "small")->content.kind, BG_CONTENT_MEM);
  CHECK_INT(ino_of(t, "big")->size, sizeof(big));
  CHECK(memcmp(content(t, "big"), big, sizeof(big)) == 0);
  CHECK(memcmp(content(t, "small"), small, sizeof(small)) == 0);
  bg_tree_free(t);
}

BG_TEST(devices_skipped_or_kept)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy keep;

  LAYER("l.tar", PLAIN, E("dev/null", 'c', NULL, 0666), E("dev/sda", 'b', NULL, 0660, 0, 6),
        E("run/fifo", 'p', NULL, 0600), E("f", 'f', "x"));
  must_apply(t, "l.tar", PLAIN);
  /* a skipped entry leaves no trace, not even the directories it implied */
  CHECK_STR(listing(t), "/ /f");
  bg_tree_free(t);
  t = new_tree();
  memset(&keep, 0, sizeof(keep));
  keep.devices = BG_LAYER_DEVICES_KEEP;
  CHECK_INT(apply_p(t, "l.tar", PLAIN, NULL, &keep), 0);
  CHECK_STR(listing(t), "/ /dev/ /dev/null /dev/sda /f /run/ /run/fifo");
  CHECK_INT(ino_of(t, "dev/null")->mode, S_IFCHR | 0666);
  CHECK_INT(ino_of(t, "dev/null")->rdev_major, 1);
  CHECK_INT(ino_of(t, "dev/null")->rdev_minor, 3);
  CHECK_INT(ino_of(t, "dev/sda")->mode, S_IFBLK | 0660);
  CHECK_INT(ino_of(t, "dev/sda")->rdev_major, 8);
  CHECK_INT(ino_of(t, "dev/sda")->gid, 6);
  CHECK_INT(ino_of(t, "run/fifo")->mode, S_IFIFO | 0600);
  bg_tree_free(t);
}

BG_TEST(overlay_whiteout_device_is_dropped)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy keep;
  struct archive *a = lw_open("2.tar", PLAIN, 0);
  struct ent x = {"f", 'c', NULL, 0, 0, 0};
  struct archive_entry *e = mk(&x);

  archive_entry_set_rdevmajor(e, 0);
  archive_entry_set_rdevminor(e, 0);
  lw_put(a, e, NULL, 0);
  lw_close(a);
  LAYER("1.tar", PLAIN, E("f", 'f', "lower"));
  memset(&keep, 0, sizeof(keep));
  keep.devices = BG_LAYER_DEVICES_KEEP;
  CHECK_INT(apply_p(t, "1.tar", PLAIN, NULL, &keep), 0);
  CHECK_INT(apply_p(t, "2.tar", PLAIN, NULL, &keep), 0);
  /* neither a device nor a whiteout: the lower file stays */
  CHECK_STR(content(t, "f"), "lower");
  bg_tree_free(t);
}

static const unsigned char cap_v3[24] = {
  0x01, 0x00, 0x00, 0x03, /* v3, effective */
  0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* permitted: cap_net_bind_service; inh 0 */
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0xe8, 0x03, 0x00, 0x00, /* rootid 1000 */
};

static void xattr_layer(void)
{
  struct archive *a = lw_open("l.tar.gz", GZIP, 0);
  struct ent x = {"usr/bin/ping", 'f', "p", 0755, 0, 0}, d = {"d/", 'd', NULL, 0, 0, 0};
  struct archive_entry *e = mk(&x);

  archive_entry_xattr_add_entry(e, "security.capability", cap_v3, sizeof(cap_v3));
  archive_entry_xattr_add_entry(e, "user.note", "hi", 2);
  archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
  archive_entry_xattr_add_entry(e, "trusted.md5", "abc", 3);
  lw_put(a, e, "p", 1);
  e = mk(&d);
  archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
  lw_put(a, e, NULL, 0);
  lw_close(a);
}

BG_TEST(xattrs_dropped_or_kept)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy keep;
  struct bg_inode *ino;
  unsigned char v2[20];

  xattr_layer();
  must_apply(t, "l.tar.gz", GZIP);
  CHECK_INT(ino_of(t, "usr/bin/ping")->nxattrs, 0);
  bg_tree_free(t);
  t = new_tree();
  memset(&keep, 0, sizeof(keep));
  keep.xattrs = BG_LAYER_XATTRS_KEEP;
  CHECK_INT(apply_p(t, "l.tar.gz", GZIP, NULL, &keep), 0);
  ino = ino_of(t, "usr/bin/ping");
  CHECK_INT(ino->nxattrs, 3);
  CHECK_STR(ino->xattrs[0].name, "security.capability");
  memcpy(v2, cap_v3, 20);
  v2[3] = 0x02;
  CHECK_INT(ino->xattrs[0].len, 20);
  CHECK(memcmp(ino->xattrs[0].value, v2, 20) == 0);
  CHECK_STR(ino->xattrs[1].name, "trusted.md5");
  CHECK_STR(ino->xattrs[2].name, "user.note");
  CHECK_INT(ino->xattrs[2].len, 2);
  /* the overlay's opaque flag means nothing here: no xattr, and the directory is not opaque */
  CHECK_INT(ino_of(t, "d")->nxattrs, 0);
  bg_tree_free(t);
}

BG_TEST(header_sizes_are_capped)
{
  struct archive *a = lw_open("l.tar", PLAIN, 0);
  struct ent x = {"f", 'f', "x", 0, 0, 0};
  struct archive_entry *e = mk(&x);
  char *huge = malloc(2 << 20);

  CHECK(huge != NULL);
  memset(huge, 'v', 2 << 20);
  archive_entry_xattr_add_entry(e, "user.huge", huge, 2 << 20);
  lw_put(a, e, "x", 1);
  lw_close(a);
  free(huge);
  CHECK_STR(fails("l.tar", PLAIN), "L: Special header too large");
}

BG_TEST(opaque_spares_what_the_layer_implies)
{
  struct bg_tree *t = new_tree();

  LAYER("1.tar", PLAIN, E("f", 'f', "f"), E("a/b/x", 'f', "x"), E("a/b/y", 'f', "y"),
        E("a/c", 'f', "c"));
  /* a/b exists in this layer as the directory of a whiteout; a/link is a hardlink made here */
  LAYER("2.tar", PLAIN, E("a/b/.wh.x", 'f'), E("a/link", 'h', "f"), E("a/.wh..wh..opq", 'f'));
  must_apply(t, "1.tar", PLAIN);
  must_apply(t, "2.tar", PLAIN);
  CHECK_STR(listing(t), "/ /a/ /a/b/ /a/link /f");
  CHECK(ino_of(t, "a/link") == ino_of(t, "f"));
  CHECK_INT(ino_of(t, "f")->nlink, 2);
  bg_tree_free(t);
}

BG_TEST(long_name_headers_are_capped)
{
  FILE *f = fopen("l.tar", "wb");
  char *huge = malloc((2 << 20) + 1);

  CHECK(f != NULL && huge != NULL);
  memset(huge, 'n', 2 << 20);
  huge[2 << 20] = '\0';
  raw_entry(f, "././@LongLink", 'L', huge, NULL);
  raw_entry(f, "short", '0', "x", NULL);
  raw_end(f);
  free(huge);
  CHECK_STR(fails("l.tar", PLAIN), "L: Special header too large");
}

BG_TEST(names_in_messages_are_escaped)
{
  FILE *f = fopen("l.tar", "wb");

  CHECK(f != NULL);
  raw_entry(f, "../\n\xff", '0', "x", NULL);
  raw_end(f);
  CHECK_STR(fails("l.tar", PLAIN), "L: ../\\x0a\\xff: unsafe path");
}

BG_TEST(empty_layers)
{
  struct bg_tree *t = new_tree();
  char id[BG_DIGEST_STRLEN];
  struct bg_error err;

  /* no bytes at all, and Docker's empty layer (two zero blocks) */
  CHECK_INT(system(": > e.tar && : | gzip -c > e.tar.gz && head -c 1024 /dev/zero > z.tar"), 0);
  must_apply(t, "e.tar", PLAIN);
  must_apply(t, "e.tar.gz", GZIP);
  must_apply(t, "z.tar", PLAIN);
  CHECK_STR(listing(t), "/");
  bg_error_clear(&err);
  CHECK_INT(bg_layer_diff_id("z.tar", media[PLAIN], id, &err), 0);
  CHECK_STR(id, "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
  CHECK_INT(bg_layer_diff_id("e.tar", media[PLAIN], id, &err), 0);
  CHECK_STR(id, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  bg_tree_free(t);
}
