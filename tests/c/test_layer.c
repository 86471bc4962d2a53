/* One layer read into a tree: streams and compression, DiffIDs, caps, entry names and metadata.
 * How layers stack (whiteouts, opaque directories, hardlinks, replacement) is in test_replay.c. */
#include "harness.h"

/* entries are written positionally, trailing fields left out */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <fcntl.h>
#include <locale.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

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
  /* a file bigger than the cap is refused at its header, before a byte of it is inflated */
  big_layer("bomb.tar.gz", GZIP, 32 << 20);
  CHECK(size_of("bomb.tar.gz") < 100000);
  CHECK_INT(apply_p(t, "bomb.tar.gz", GZIP, NULL, &p), -1);
  CHECK_STR(last_err.msg,
            "L: big: file contents exceed the limit of 1048576 bytes (this file: 33554432 bytes)");
  CHECK_INT(last_err.code, BG_ETOOBIG);
  bg_tree_free(t);
  /* headers alone count too: thousands of empty files */
  t = new_tree();
  {
    struct archive *a = lw_open("many.tar.gz", GZIP, 0);
    char name[32];
    int i;

    for (i = 0; i < 3000; i++) {
      snprintf(name, sizeof(name), "f%d", i);
      lw_empty(a, name);
    }
    lw_close(a);
  }
  CHECK_INT(apply_p(t, "many.tar.gz", GZIP, NULL, &p), -1);
  CHECK_CONTAINS(last_err.msg, ": the uncompressed layers exceed the limit of 1048576 bytes");
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
    snprintf(name, sizeof(name), "usr/share/many/file-%05d", i);
    lw_empty(a, name);
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
  /* libarchive writes (-1000 s, 0.25 s) as "-1000.25", which means -1000.25 s to every reader
   * of the text (GNU tar, Go, Python): -1001 s plus 0.75 s */
  ino = ino_of(t, "old");
  CHECK_INT(ino->mtime.sec, -1001);
  CHECK_INT(ino->mtime.nsec, 750000000);
  CHECK_INT(ino->atime.sec, -2001);
  CHECK_INT(ino->atime.nsec, 999999999);
  CHECK_INT(ino->ctime.sec, -1001); /* absent: the mtime */
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

static const struct bg_note *note_for(struct bg_tree *t, const char *path, const char *what);

/* Every entry the policy leaves out or changes is a note for the loss report, with its layer. */
BG_TEST(what_the_policy_changes_is_noted)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy keep;
  struct archive *a = lw_open("d.tar", PLAIN, 0);
  struct ent c = {"dev/null", 'c', NULL, 0666}, b = {"dev/sda", 'b', NULL, 0660},
             p = {"run/fifo", 'p', NULL, 0600}, w = {"gone", 'c', NULL, 0};
  struct archive_entry *e;
  const struct bg_notes *ns;

  lw_put(a, mk(&c), NULL, 0);
  lw_put(a, mk(&b), NULL, 0);
  lw_put(a, mk(&p), NULL, 0);
  e = mk(&w);
  archive_entry_set_rdevmajor(e, 0);
  archive_entry_set_rdevminor(e, 0);
  lw_put(a, e, NULL, 0);
  lw_close(a);
  xattr_layer();
  bg_tree_begin_layer(t); /* so the layers are 2 and 3 */
  must_apply(t, "d.tar", PLAIN);
  must_apply(t, "l.tar.gz", GZIP);
  ns = bg_tree_notes(t);
  CHECK_STR(listing(t), "/ /d/ /usr/ /usr/bin/ /usr/bin/ping"); /* no trace in the tree */
  CHECK_INT(ns->count[BG_NOTE_DEVICE], 2);
  CHECK_INT(ns->count[BG_NOTE_FIFO], 1);
  CHECK_INT(ns->count[BG_NOTE_OVERLAY_WHITEOUT], 1);
  CHECK_INT(ns->count[BG_NOTE_XATTR], 3);
  CHECK_INT(ns->count[BG_NOTE_OVERLAY_XATTR], 2);
  CHECK_INT(ns->total, 9);
  CHECK_STR(note_for(t, "/dev/null", "character device 1:3")->detail,
            "character device 1:3 (devices=skip)");
  CHECK_INT(note_for(t, "/dev/null", "device")->layer, 2);
  CHECK_STR(note_for(t, "/dev/sda", "block")->detail, "block device 8:0 (devices=skip)");
  CHECK_INT(note_for(t, "/run/fifo", "fifo")->kind, BG_NOTE_FIFO);
  CHECK_INT(note_for(t, "/gone", "overlayfs whiteout")->kind, BG_NOTE_OVERLAY_WHITEOUT);
  CHECK_INT(note_for(t, "/usr/bin/ping", "user.note (xattrs=drop)")->layer, 3);
  note_for(t, "/usr/bin/ping", "xattr security.capability (xattrs=drop)");
  CHECK_INT(note_for(t, "/d", "trusted.overlay.opaque")->kind, BG_NOTE_OVERLAY_XATTR);
  bg_tree_free(t);

  /* kept: the devices stay, a v3 capability is rewritten, overlayfs' own still go */
  t = new_tree();
  memset(&keep, 0, sizeof(keep));
  keep.devices = BG_LAYER_DEVICES_KEEP;
  keep.xattrs = BG_LAYER_XATTRS_KEEP;
  CHECK_INT(apply_p(t, "d.tar", PLAIN, NULL, &keep), 0);
  CHECK_INT(apply_p(t, "l.tar.gz", GZIP, NULL, &keep), 0);
  ns = bg_tree_notes(t);
  CHECK_INT(ns->count[BG_NOTE_DEVICE] + ns->count[BG_NOTE_FIFO] + ns->count[BG_NOTE_XATTR], 0);
  CHECK_INT(ns->count[BG_NOTE_OVERLAY_WHITEOUT], 1);
  CHECK_INT(ns->count[BG_NOTE_OVERLAY_XATTR], 2);
  CHECK_INT(ns->count[BG_NOTE_CAPABILITY_V2], 1);
  CHECK_STR(note_for(t, "/usr/bin/ping", "v3")->detail,
            "security.capability v3 (rootid 1000) rewritten as v2: a VM has no user namespace");
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

/* ---- zstd skippable frames ---- */

/* Reads the tar at path into buf (more than 1024 bytes, less than cap) and its sha256, the
 * DiffID of any layer that inflates to it; returns its length. */
static size_t read_tar(const char *path, char *buf, size_t cap, char diff_id[BG_DIGEST_STRLEN])
{
  unsigned char raw[BG_SHA256_LEN];
  struct bg_error err;
  size_t n;
  FILE *f = fopen(path, "rb");

  CHECK(f != NULL);
  n = fread(buf, 1, cap, f);
  fclose(f);
  CHECK(n > 1024 && n < cap);
  bg_error_clear(&err);
  CHECK_INT(bg_sha256_file(path, raw, NULL, &err), 0);
  bg_digest_format(raw, diff_id);
  return n;
}

static void put_skippable(FILE *f, unsigned magic, const char *payload, size_t n)
{
  unsigned char h[8];
  unsigned i;

  for (i = 0; i < 4; i++) {
    h[i] = (unsigned char)(magic >> (8 * i));
    h[4 + i] = (unsigned char)(n >> (8 * i));
  }
  CHECK_INT(fwrite(h, 1, 8, f), 8);
  if (n > 0)
    CHECK_INT(fwrite(payload, 1, n, f), n);
}

static void put_zstd(FILE *f, const void *p, size_t n)
{
  size_t cap = ZSTD_compressBound(n), z;
  void *out = malloc(cap);

  CHECK(out != NULL);
  z = ZSTD_compress(out, cap, p, n, 3);
  CHECK(!ZSTD_isError(z));
  CHECK_INT(fwrite(out, 1, z, f), z);
  free(out);
}

/* Skippable frames (magic 0x184D2A50 to 0x184D2A5F) are valid anywhere in a zstd stream, the
 * first frame included; the DiffID is the tar's all the same. */
BG_TEST(zstd_skippable_frames)
{
  static char tar[1 << 16];
  char want[BG_DIGEST_STRLEN];
  struct bg_tree *t;
  size_t n;
  FILE *f;

  LAYER("l.tar", PLAIN, E("etc/", 'd'), E("etc/os-release", 'f', "ID=debian\n"),
        E("bin", 'l', "usr/bin"));
  n = read_tar("l.tar", tar, sizeof(tar), want);
  f = fopen("s.tar.zst", "wb");
  CHECK(f != NULL);
  put_skippable(f, 0x184D2A50, "metadata", 8);
  put_zstd(f, tar, 1024);
  put_skippable(f, 0x184D2A5F, "", 0);
  put_skippable(f, 0x184D2A57, "x", 1);
  put_zstd(f, tar + 1024, n - 1024);
  put_skippable(f, 0x184D2A5A, "trailer", 7);
  CHECK_INT(fclose(f), 0);
  t = new_tree();
  if (apply_p(t, "s.tar.zst", ZSTD, want, NULL) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s", last_err.msg);
  CHECK_STR(listing(t), "/ /bin@ /etc/ /etc/os-release");
  CHECK_STR(content(t, "etc/os-release"), "ID=debian\n");
  bg_tree_free(t);
  /* a stream of skippable frames only is an empty layer */
  f = fopen("only.zst", "wb");
  CHECK(f != NULL);
  put_skippable(f, 0x184D2A53, "nothing", 7);
  CHECK_INT(fclose(f), 0);
  t = new_tree();
  must_apply(t, "only.zst", ZSTD);
  CHECK_STR(listing(t), "/");
  bg_tree_free(t);
  /* a skippable frame cut short is a truncated stream */
  f = fopen("cut.zst", "wb");
  CHECK(f != NULL);
  put_skippable(f, 0x184D2A50, "meta", 4);
  put_zstd(f, tar, n);
  put_skippable(f, 0x184D2A50, "abcdefghijklmnop", 16);
  CHECK_INT(fclose(f), 0);
  truncate_to("cut.zst", size_of("cut.zst") - 5);
  CHECK_STR(fails("cut.zst", ZSTD), "L: truncated zstd stream");
  /* and under another media type, its magic is still zstd's */
  CHECK_STR(fails("only.zst", GZIP),
            "L: the blob does not match its media type: expected gzip data, found zstd");
}

/* ---- the blob's own digest, checked as it is read ---- */

/* Applies file (comp) with blob digest digest (NULL: its own sha256); 0 or -1 with last_err. */
static int apply_blob(struct bg_tree *t, const char *file, int comp, const char *digest,
                      const char *diff_id)
{
  unsigned char raw[BG_SHA256_LEN];
  char own[BG_DIGEST_STRLEN];
  struct bg_layer_src src;
  uint64_t n;

  bg_error_clear(&last_err);
  if (digest == NULL) {
    CHECK_INT(bg_sha256_file(file, raw, &n, &last_err), 0);
    bg_digest_format(raw, own);
    digest = own;
  }
  src = (struct bg_layer_src){file, media[comp], diff_id, digest, "L"};
  return bg_layer_apply_all(t, &src, 1, NULL, &last_err);
}

/* Flips one bit of file at offset at. */
static void flip_at(const char *file, long at)
{
  FILE *f = fopen(file, "r+b");
  int c;

  CHECK(f != NULL);
  CHECK_INT(fseek(f, at, SEEK_SET), 0);
  c = fgetc(f);
  CHECK(c != EOF);
  CHECK_INT(fseek(f, at, SEEK_SET), 0);
  CHECK_INT(fputc(c ^ 0x10, f), c ^ 0x10);
  CHECK_INT(fclose(f), 0);
}

/* The blob digest covers every byte of the file, those that inflate to nothing too: a blob of
 * MiBs that give no tar bytes (empty gzip members, a zstd skippable frame) before the layer
 * checks whole, and one flipped bit there, which leaves the tar and its DiffID as they were,
 * is found by the blob digest alone. Plain tars are checked the same way. */
BG_TEST(blob_digest_covers_bytes_that_inflate_to_nothing)
{
  static char tar[1 << 16], pad[3 << 20];
  unsigned char raw[BG_SHA256_LEN];
  char diff_id[BG_DIGEST_STRLEN], msg[512];
  struct bg_tree *t;
  size_t n;
  FILE *f;
  int i;

  LAYER("l.tar", PLAIN, E("etc/", 'd'), E("etc/os-release", 'f', "ID=debian\n"));
  n = read_tar("l.tar", tar, sizeof(tar), diff_id);
  /* 100,000 empty gzip members (2 MB), then the tar's */
  CHECK_INT(system("printf '' | gzip -n -c > empty.gz && for i in $(seq 100); do cat empty.gz; "
                   "done > e100.gz && for i in $(seq 1000); do cat e100.gz; done > pad.gz && "
                   "gzip -n -c l.tar > tail.gz && cat pad.gz tail.gz > g.tar.gz"), 0);
  CHECK_INT(size_of("empty.gz"), 20);
  /* a skippable frame of 3 MiB, then the tar */
  f = fopen("z.tar.zst", "wb");
  CHECK(f != NULL);
  for (i = 0; i < (int)sizeof(pad); i++)
    pad[i] = (char)(i * 7);
  put_skippable(f, 0x184D2A50, pad, sizeof(pad));
  put_zstd(f, tar, n);
  CHECK_INT(fclose(f), 0);

  t = new_tree();
  if (apply_blob(t, "g.tar.gz", GZIP, NULL, diff_id) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s", last_err.msg);
  if (apply_blob(t, "z.tar.zst", ZSTD, NULL, diff_id) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s", last_err.msg);
  if (apply_blob(t, "l.tar", PLAIN, NULL, diff_id) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s", last_err.msg);
  CHECK_STR(listing(t), "/ /etc/ /etc/os-release");
  bg_tree_free(t);

  /* the blob digests of the files as they were, then a bit flipped in the middle of the part
   * that inflates to nothing: a member's mtime, the frame's payload; in the plain tar, the
   * file's content, which the DiffID would find too, so none is given */
  {
    static const char *const files[] = {"g.tar.gz", "z.tar.zst", "l.tar"};
    static const int comps[] = {GZIP, ZSTD, PLAIN};
    const long at[] = {20 * 55555 + 5, 8 + (long)sizeof(pad) / 2, 1024 + 3};
    char want[3][BG_DIGEST_STRLEN];

    for (i = 0; i < 3; i++) {
      CHECK_INT(bg_sha256_file(files[i], raw, NULL, &last_err), 0);
      bg_digest_format(raw, want[i]);
      flip_at(files[i], at[i]);
      t = new_tree();
      CHECK_INT(apply_blob(t, files[i], comps[i], want[i], i < 2 ? diff_id : NULL), -1);
      snprintf(msg, sizeof(msg), "L: blob digest mismatch: expected %s, got sha256:",
               want[i]);
      CHECK_CONTAINS(last_err.msg, msg);
      CHECK_INT(last_err.code, BG_EMISMATCH);
      bg_tree_free(t);
    }
  }
}

/* ---- times before the epoch, with a fraction ---- */

static void check_time(struct bg_tree *t, const char *path, int64_t sec, uint32_t nsec)
{
  struct bg_inode *ino = ino_of(t, path);

  if (ino->mtime.sec != sec || ino->mtime.nsec != nsec)
    bg_test_fail(__FILE__, __LINE__, "%s: mtime %lld.%09u, expected %lld.%09u", path,
                 (long long)ino->mtime.sec, ino->mtime.nsec, (long long)sec, nsec);
}

/* "mtime=-1.5" is 1.5 s before the epoch: -2 s plus 0.5 s. GNU tar and Python's tarfile write it
 * so; libarchive reads -1 s plus 0.5 s, which the layer reader corrects. */
BG_TEST(negative_pax_times_with_a_fraction)
{
  struct bg_tree *t = new_tree();

  CHECK_INT(system("touch -d @-1.5 a && touch -d @-2000000000.25 b && touch -d @-3 c && "
                   "touch -d @1.5 d && tar --format=pax -cf gnu.tar a b c d"), 0);
  CHECK_INT(system("grep -a -q 'mtime=-1.5' gnu.tar"), 0);
  CHECK_INT(system("python3 -c \"import tarfile\n"
                   "with tarfile.open('py.tar', 'w', format=tarfile.PAX_FORMAT) as t:\n"
                   "  for n, m in (('pa', -1.5), ('pb', -86400.125), ('pc', 100.25)):\n"
                   "    i = tarfile.TarInfo(n); i.mtime = m; t.addfile(i)\""), 0);
  CHECK_INT(system("grep -a -q 'mtime=-86400.125' py.tar"), 0);
  must_apply(t, "gnu.tar", PLAIN);
  must_apply(t, "py.tar", PLAIN);
  check_time(t, "a", -2, 500000000);
  check_time(t, "b", -2000000001, 750000000);
  check_time(t, "c", -3, 0);
  check_time(t, "d", 1, 500000000);
  CHECK_INT(ino_of(t, "a")->atime.sec, -2); /* GNU tar writes atime too */
  CHECK_INT(ino_of(t, "a")->atime.nsec, 500000000);
  check_time(t, "pa", -2, 500000000);
  check_time(t, "pb", -86401, 875000000);
  check_time(t, "pc", 100, 250000000);
  bg_tree_free(t);
}

/* ---- holes: sparse entries and runs of zeros ---- */

static uint64_t spool_allocated(struct bg_tree *t)
{
  uint64_t logical, allocated;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_tree_spool_usage(t, &logical, &allocated, &err), 0);
  return allocated;
}

static void check_mem(struct bg_tree *t, const char *path, uint64_t off, const char *want,
                      size_t n)
{
  char buf[64];
  size_t got;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_read(t, ino_of(t, path), off, buf, n, &got, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s at %llu: %s", path, (unsigned long long)off, err.msg);
  if (got != n || memcmp(buf, want, n) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s at %llu: expected \"%s\"", path,
                 (unsigned long long)off, want);
}

static void check_bytes(struct bg_tree *t, const char *path, uint64_t off, const char *want)
{
  check_mem(t, path, off, want, strlen(want));
}

/* GNU tar's four sparse formats (old GNU, PAX 0.0, 0.1 and 1.0): the holes stay holes in the
 * spool, the data lands where the map says, and sizing counts only the blocks with data. */
BG_TEST(sparse_entries_keep_their_holes)
{
  static const char *const formats[] = {
    "--format=gnu", "--format=pax --sparse-version=0.0", "--format=pax --sparse-version=0.1",
    "--format=pax --sparse-version=1.0"};
  struct bg_tree_stats s;
  struct bg_tree *t;
  char cmd[256];
  size_t i;

  CHECK_INT(system("truncate -s 1G sp && printf begin | dd of=sp conv=notrunc status=none && "
                   "printf middle | dd of=sp bs=1 seek=536870912 conv=notrunc status=none && "
                   "printf end | dd of=sp bs=1 seek=1073741821 conv=notrunc status=none"), 0);
  for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
    snprintf(cmd, sizeof(cmd), "tar %s --sparse -cf s.tar sp && test $(stat -c %%s s.tar) -lt "
             "100000", formats[i]);
    CHECK_INT(system(cmd), 0);
    t = new_tree();
    if (apply_p(t, "s.tar", PLAIN, NULL, NULL) != 0)
      bg_test_fail(__FILE__, __LINE__, "%s: %s", formats[i], last_err.msg);
    CHECK_INT(ino_of(t, "sp")->size, 1 << 30);
    check_bytes(t, "sp", 0, "begin");
    check_bytes(t, "sp", 536870912, "middle");
    check_bytes(t, "sp", 1073741821, "end");
    check_mem(t, "sp", 300000000, "\0\0\0\0", 4);
    CHECK_INT(ino_of(t, "sp")->zero_blocks, (1 << 18) - 3);
    CHECK(spool_allocated(t) <= 64 * 1024);
    bg_tree_stats(t, 4096, &s);
    CHECK(s.data_blocks < 10);
    CHECK_INT(s.bytes, 1 << 30);
    bg_tree_free(t);
  }
}

/* A 10 KB tar declaring 100 GiB: refused at its header by the cap, which counts logical bytes;
 * under a larger cap it costs no spool at all. */
BG_TEST(sparse_bomb_counts_its_logical_size)
{
  struct bg_layer_policy p;
  struct timespec t0, t1;
  struct bg_tree *t;

  CHECK_INT(system("truncate -s 100G huge && printf x | dd of=huge bs=1 seek=4096 conv=notrunc "
                   "status=none && tar --format=pax --sparse -cf h.tar huge && rm huge && "
                   "test $(stat -c %s h.tar) -lt 20000"), 0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK_STR(fails("h.tar", PLAIN),
            "L: huge: file contents exceed the limit of 68719476736 bytes (this file: "
            "107374182400 bytes)");
  t = new_tree();
  memset(&p, 0, sizeof(p));
  p.max_bytes = (uint64_t)200 << 30;
  if (apply_p(t, "h.tar", PLAIN, NULL, &p) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s", last_err.msg);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK(t1.tv_sec - t0.tv_sec < 10);
  check_bytes(t, "huge", 4096, "x");
  CHECK(spool_allocated(t) <= 64 * 1024);
  bg_tree_free(t);
}

/* A gzip bomb of zeros: the spool takes nothing, the blocks become holes. */
BG_TEST(runs_of_zeros_take_no_spool)
{
  struct bg_tree *t = new_tree();
  struct bg_inode *ino;

  big_layer("z.tar.gz", GZIP, 256 << 20);
  CHECK(size_of("z.tar.gz") < (1 << 20));
  must_apply(t, "z.tar.gz", GZIP);
  ino = ino_of(t, "big");
  CHECK_INT(ino->size, 256 << 20);
  CHECK_INT(ino->zero_blocks, (256 << 20) / 4096);
  CHECK(spool_allocated(t) <= 64 * 1024);
  check_mem(t, "big", (200 << 20) + 7, "\0\0\0", 3);
  bg_tree_free(t);
}

/* A layer whose contents would fill TMPDIR fails cleanly first, leaving the filesystem its
 * reserve: a tmpfs of 24 MiB in a mount namespace of the test's own, and 40 MiB of data. */
BG_TEST(spool_stops_before_tmpdir_is_full)
{
  struct archive *a;
  struct ent x = {"random", 'f', NULL, 0, 0, 0};
  struct archive_entry *e;
  struct statvfs vfs;
  static unsigned char chunk[1 << 20];
  struct bg_tree *t;
  size_t i;
  int fd;

  if (getuid() != 0)
    bg_test_fail(__FILE__, __LINE__, "needs root, to mount a small TMPDIR (CI runs as root)");
  CHECK_INT(unshare(CLONE_NEWNS), 0);
  CHECK_INT(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
  CHECK_INT(mkdir("small", 0700), 0);
  CHECK_INT(mount("tmpfs", "small", "tmpfs", 0, "size=24m"), 0);
  fd = open("/dev/urandom", O_RDONLY);
  CHECK(fd >= 0);
  CHECK_INT(read(fd, chunk, sizeof(chunk)), sizeof(chunk));
  close(fd);
  a = lw_open("r.tar", PLAIN, 0);
  e = mk(&x);
  archive_entry_set_size(e, 40 << 20);
  CHECK_INT(archive_write_header(a, e), ARCHIVE_OK);
  for (i = 0; i < 40; i++) {
    chunk[0] = (unsigned char)i; /* every MiB its own */
    CHECK_INT(archive_write_data(a, chunk, sizeof(chunk)), sizeof(chunk));
  }
  archive_entry_free(e);
  lw_close(a);
  CHECK_INT(setenv("TMPDIR", "small", 1), 0);
  t = new_tree();
  CHECK_INT(apply_p(t, "r.tar", PLAIN, NULL, NULL), -1);
  CHECK_CONTAINS(last_err.msg, "L: random: file contents do not fit the spool in small (");
  CHECK_CONTAINS(last_err.msg, "16 MiB kept free); set TMPDIR to a larger filesystem");
  CHECK_INT(last_err.code, BG_ETOOBIG);
  CHECK_INT(statvfs("small", &vfs), 0);
  CHECK((uint64_t)vfs.f_bavail * vfs.f_frsize >= (16 << 20));
  bg_tree_free(t);
}

/* ---- names ---- */

BG_TEST(symlink_targets_ext4_cannot_hold_are_refused)
{
  struct bg_tree *t = new_tree();
  char target[4200];
  struct archive *a;
  struct ent x = {"l", 'l', target, 0, 0, 0};

  memset(target, 't', sizeof(target));
  target[4095] = '\0';
  a = lw_open("ok.tar", PLAIN, 0);
  lw_put(a, mk(&x), NULL, 0);
  lw_close(a);
  must_apply(t, "ok.tar", PLAIN);
  CHECK_INT(ino_of(t, "l")->size, 4095);
  bg_tree_free(t);
  target[4095] = 't';
  target[4096] = '\0';
  a = lw_open("long.tar", PLAIN, 0);
  lw_put(a, mk(&x), NULL, 0);
  lw_close(a);
  CHECK_STR(fails("long.tar", PLAIN), "L: l: symlink target too long (4096 bytes, at most 4095)");
  CHECK_INT(last_err.code, BG_ETOOBIG);
}

/* ---- what Linux cannot show is dropped, with a note ---- */

static const struct bg_note *note_for(struct bg_tree *t, const char *path, const char *what)
{
  const struct bg_notes *ns = bg_tree_notes(t);
  size_t i;

  for (i = 0; i < ns->n; i++)
    if (strcmp(ns->v[i].path, path) == 0 && strstr(ns->v[i].detail, what) != NULL)
      return &ns->v[i];
  bg_test_fail(__FILE__, __LINE__, "no note on %s about %s", path, what);
}

BG_TEST(device_numbers_linux_cannot_encode_are_dropped)
{
  struct bg_tree *t = new_tree();
  struct bg_layer_policy keep;
  struct archive *a = lw_open("l.tar", PLAIN, 0);
  struct ent c = {"dev/x", 'c', NULL, 0666, 0, 0};
  static const unsigned nums[][2] = {{4096, 0}, {0, 1048576}, {4095, 1048575}, {5, 1}};
  const struct bg_note *n;
  struct archive_entry *e;
  char name[32];
  size_t i;

  for (i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "dev/d%zu", i);
    c.name = name;
    e = mk(&c);
    archive_entry_set_rdevmajor(e, nums[i][0]);
    archive_entry_set_rdevminor(e, nums[i][1]);
    lw_put(a, e, NULL, 0);
  }
  lw_close(a);
  memset(&keep, 0, sizeof(keep));
  keep.devices = BG_LAYER_DEVICES_KEEP;
  bg_tree_begin_layer(t); /* so the layer is number 2 */
  CHECK_INT(apply_p(t, "l.tar", PLAIN, NULL, &keep), 0);
  CHECK_STR(listing(t), "/ /dev/ /dev/d2 /dev/d3");
  CHECK_INT(ino_of(t, "dev/d2")->rdev_major, 4095);
  CHECK_INT(ino_of(t, "dev/d2")->rdev_minor, 1048575);
  n = note_for(t, "/dev/d0", "device 4096:0, which Linux cannot encode");
  CHECK_INT(n->kind, BG_NOTE_DEVICE);
  CHECK_INT(n->layer, 2);
  note_for(t, "/dev/d1", "device 0:1048576");
  CHECK_INT(bg_tree_notes(t)->n, 2);
  CHECK_INT(bg_tree_notes(t)->count[BG_NOTE_DEVICE], 2);
  bg_tree_free(t);
}

BG_TEST(xattrs_linux_cannot_show_are_dropped)
{
  static const unsigned char acl_ok[] = {2, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0,
                                         4, 0, 4, 0, 0, 0, 0, 0, 0x20, 0, 4, 0, 0, 0, 0, 0};
  static const unsigned char acl_bad[] = {2, 0, 0, 0, 0x20, 0, 4, 0, 0, 0, 0, 0};
  struct bg_tree *t = new_tree();
  struct bg_layer_policy keep;
  struct archive *a = lw_open("l.tar", PLAIN, 0);
  struct ent f = {"f", 'f', "x", 0, 0, 0}, l = {"l", 'l', "f", 0, 0, 0};
  struct archive_entry *e;
  struct bg_inode *ino;
  char longname[300], big[3000];

  memcpy(longname, "user.", 5);
  memset(longname + 5, 'n', 251);
  longname[256] = '\0';
  memset(big, 'b', sizeof(big));
  e = mk(&f);
  archive_entry_xattr_add_entry(e, "user.ok", "1", 1);
  archive_entry_xattr_add_entry(e, longname, "v", 1);
  archive_entry_xattr_add_entry(e, "foo.bar", "v", 1);
  archive_entry_xattr_add_entry(e, "user.", "v", 1);
  archive_entry_xattr_add_entry(e, "system.posix_acl_access", acl_ok, sizeof(acl_ok));
  archive_entry_xattr_add_entry(e, "system.posix_acl_default", acl_ok, sizeof(acl_ok));
  archive_entry_xattr_add_entry(e, "security.capability", "\1\0\0\2", 4);
  archive_entry_xattr_add_entry(e, "trusted.big1", big, sizeof(big));
  archive_entry_xattr_add_entry(e, "trusted.big2", big, sizeof(big));
  archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
  lw_put(a, e, "x", 1);
  e = mk(&l);
  archive_entry_xattr_add_entry(e, "user.onlink", "v", 1);
  archive_entry_xattr_add_entry(e, "trusted.onlink", "v", 1);
  archive_entry_xattr_add_entry(e, "system.posix_acl_access", acl_bad, sizeof(acl_bad));
  lw_put(a, e, NULL, 0);
  lw_close(a);
  memset(&keep, 0, sizeof(keep));
  keep.xattrs = BG_LAYER_XATTRS_KEEP;
  CHECK_INT(apply_p(t, "l.tar", PLAIN, NULL, &keep), 0);
  ino = ino_of(t, "f");
  CHECK_INT(ino->nxattrs, 3);
  CHECK_STR(ino->xattrs[0].name, "system.posix_acl_access");
  CHECK_STR(ino->xattrs[1].name, "trusted.big1");
  CHECK_STR(ino->xattrs[2].name, "user.ok");
  ino = ino_of(t, "l");
  CHECK_INT(ino->nxattrs, 1);
  CHECK_STR(ino->xattrs[0].name, "trusted.onlink");
  CHECK_INT(note_for(t, "/f", ": name over 255 bytes")->kind, BG_NOTE_XATTR);
  note_for(t, "/f", "xattr foo.bar: not in a namespace Linux shows");
  note_for(t, "/f", "xattr user.: nothing after the namespace");
  note_for(t, "/f", "xattr system.posix_acl_default: a default POSIX ACL on something not a "
                    "directory");
  note_for(t, "/f", "xattr security.capability: malformed (4 bytes)");
  note_for(t, "/f", "xattr trusted.big2: 3000 bytes, more than the inode's xattrs can hold");
  note_for(t, "/l", "xattr user.onlink: user. xattrs are shown on files and directories only");
  note_for(t, "/l", "xattr system.posix_acl_access: a POSIX ACL on a symlink");
  /* the overlay's own is left out by rule, noted as such */
  CHECK_STR(note_for(t, "/f", "trusted.overlay.opaque: overlayfs' own")->detail,
            "xattr trusted.overlay.opaque: overlayfs' own, never copied");
  CHECK_INT(bg_tree_notes(t)->n, 9);
  CHECK_INT(bg_tree_notes(t)->total, 9);
  CHECK_INT(bg_tree_notes(t)->count[BG_NOTE_XATTR], 8);
  CHECK_INT(bg_tree_notes(t)->count[BG_NOTE_OVERLAY_XATTR], 1);
  bg_tree_free(t);
}
