/* One layer read into a tree: streams and compression, DiffIDs, caps, entry names and metadata.
 * How layers stack (whiteouts, opaque directories, hardlinks, replacement) is in test_replay.c. */
#include "harness.h"

/* entries are written positionally, trailing fields left out */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <locale.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest/digest.h"
#include "fixtures.h"

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

/* A plain tar is told by its header, not its first bytes: an entry name may begin like a
 * compressor's magic (bzip2's is plain ASCII, "BZh"). */
BG_TEST(plain_tar_whose_first_name_looks_compressed)
{
  struct bg_tree *t = new_tree();

  LAYER("bz.tar", PLAIN, E("BZh91AY&SY", 'f', "x"));
  must_apply(t, "bz.tar", PLAIN);
  CHECK(find(t, "/BZh91AY&SY") != NULL);
  /* and announced as gzip, a plain tar is still refused */
  CHECK_STR(fails("bz.tar", GZIP),
            "L: the blob does not match its media type: expected gzip data, found uncompressed");
  bg_tree_free(t);
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

/* A tar of one file entry named name, holding "x". */
static void raw_layer(const char *file, const char *name)
{
  FILE *f = fopen(file, "wb");

  CHECK(f != NULL);
  raw_entry(f, name, '0', "x", NULL);
  raw_end(f);
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
  raw_layer("l.tar", "");
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

  LAYER("l.tar", PLAIN, E("./", 'd', NULL, 0700, 5, 6), E("a", 'f', "x"));
  must_apply(t, "l.tar", PLAIN);
  CHECK_INT(bg_tree_root(t)->inode->mode, S_IFDIR | 0755);
  CHECK_INT(bg_tree_root(t)->inode->uid, 0);
  CHECK_STR(listing(t), "/ /a");
  bg_tree_free(t);
  raw_layer("m.tar", ".");
  CHECK_STR(fails("m.tar", PLAIN), "L: .: the root must be a directory");
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
  raw_layer("l.tar", "../\n\xff");
  CHECK_STR(fails("l.tar", PLAIN), "L: ../\\x0a\\xff: unsafe path");
}

/* ---- symlinks ---- */

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
