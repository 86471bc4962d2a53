#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include "digest/digest.h"
#include "ext4/ext4.h"
#include "ext4/ext4_internal.h"
#include "ext4/layout.h"
#include "fixtures.h"

static void add_mem(struct bg_tree *t, const char *path, const void *data, size_t n,
                    struct bg_meta m)
{
  struct bg_content c;
  struct bg_error err;

  memset(&c, 0, sizeof(c));
  if (n > 0) {
    c.kind = BG_CONTENT_MEM;
    c.mem = malloc(n);
    memcpy(c.mem, data, n);
  }
  bg_error_clear(&err);
  if (bg_tree_add_file(t, path, &m, &c, n, BG_PARENTS, NULL, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "add %s: %s", path, err.msg);
}

static int run(const char *cmd)
{
  int rc = system(cmd);

  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The judges must run: without them a test cannot check anything, so it fails. */
static void need_e2fsprogs(void)
{
  if (run("command -v e2fsck >/dev/null && command -v debugfs >/dev/null") != 0)
    bg_test_fail(__FILE__, __LINE__, "e2fsprogs is not installed (make deps)");
}

static void fsck_clean(const char *img)
{
  char cmd[1024];

  snprintf(cmd, sizeof(cmd), "e2fsck -fn %s >fsck.out 2>&1", img);
  if (run(cmd) != 0) {
    run("cat fsck.out >&2");
    bg_test_fail(__FILE__, __LINE__, "e2fsck -fn %s is not clean", img);
  }
}

/* Output of a shell command (stdout and stderr), kept in a static buffer. */
static const char *capture(const char *fmt, const char *arg)
{
  static char out[65536];
  char cmd[2048];
  FILE *f;
  size_t n;

  snprintf(cmd, sizeof(cmd), fmt, arg);
  f = popen(cmd, "r");
  CHECK(f != NULL);
  n = fread(out, 1, sizeof(out) - 1, f);
  out[n] = '\0';
  pclose(f);
  return out;
}

static const char *dstat(const char *img, const char *path)
{
  char cmd[1024];

  snprintf(cmd, sizeof(cmd), "debugfs -R 'stat \"%s\"' %s 2>&1", path, img);
  return capture("%s", cmd);
}

static struct bg_ext4_opts opts(uint64_t mib)
{
  struct bg_ext4_opts o;

  bg_ext4_opts_init(&o);
  o.size = mib << 20;
  o.seed = "test";
  o.have_time = 1;
  o.time = 1700000000;
  return o;
}

BG_TEST(basic_tree_is_clean)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0755, 0, 0, 1000);
  struct bg_error err;
  char big[10000];

  need_e2fsprogs();
  memset(big, 'x', sizeof(big));
  add_mem(t, "/etc/hostname", "box\n", 4, meta(0644, 0, 0, 1000));
  add_mem(t, "/usr/bin/tool", big, sizeof(big), meta(04755, 0, 0, 1000));
  add_mem(t, "/empty", "", 0, meta(0600, 1000, 1000, 1000));
  bg_error_clear(&err);
  CHECK_INT(bg_tree_mkdir(t, "/var/lib/x", &m, BG_PARENTS, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "/bin", "usr/bin", &m, 0, NULL, &err), 0);
  if (bg_ext4_create("img", &o, t, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "create: %s", err.msg);
  fsck_clean("img");
  bg_tree_free(t);
}

static void create_ok(struct bg_tree *t, const char *path, struct bg_ext4_opts *o)
{
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_ext4_create(path, o, t, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "create %s: %s", path, err.msg);
}

BG_TEST(inodes_as_the_tree_says)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(04755, 100000, 70000, -86400);
  struct bg_error err;
  char slow[200];

  need_e2fsprogs();
  m.mtime.nsec = 123456789;
  m.atime.sec = 4102444800LL; /* 2100-01-01 */
  m.atime.nsec = 5;
  m.ctime.sec = 2147483648LL; /* one second past 2038-01-19 03:14:07 */
  add_mem(t, "/usr/bin/sudo", "ELF", 3, m);
  add_mem(t, "/a/file", "shared", 6, meta(02640, 0, 42, 1000));
  bg_error_clear(&err);
  CHECK_INT(bg_tree_link(t, "/b/link", "/a/file", BG_PARENTS, NULL, &err), 0);
  CHECK_INT(bg_tree_link(t, "/a/link2", "/a/file", 0, NULL, &err), 0);
  m = meta(01777, 0, 0, 1000);
  CHECK_INT(bg_tree_mkdir(t, "/tmp", &m, 0, NULL, &err), 0);
  m = meta(0660, 0, 6, 1000);
  CHECK_INT(bg_tree_mknod(t, "/dev/sda", S_IFBLK, &m, 8, 0, BG_PARENTS, NULL, &err), 0);
  CHECK_INT(bg_tree_mknod(t, "/dev/big", S_IFCHR, &m, 300, 70000, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_mknod(t, "/dev/fifo", S_IFIFO, &m, 0, 0, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_mknod(t, "/dev/sock", S_IFSOCK, &m, 0, 0, 0, NULL, &err), 0);
  memset(slow, 'l', sizeof(slow) - 1);
  slow[sizeof(slow) - 1] = '\0';
  slow[0] = '/';
  m = meta(0777, 0, 0, 1000);
  CHECK_INT(bg_tree_symlink(t, "/slow", slow, &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "/fast", "usr/bin/sudo", &m, 0, NULL, &err), 0);
  {
    struct bg_node *n = NULL;
    char big[300];

    memset(big, 'v', sizeof(big));
    CHECK_INT(bg_tree_lookup(t, "/usr/bin/sudo", 0, &n, &err), 0);
    CHECK_INT(bg_inode_set_xattr(n->inode, "user.note", "hi", 2, &err), 0);
    CHECK_INT(bg_inode_set_xattr(n->inode, "security.capability", big, sizeof(big), &err), 0);
    /* overlayfs' private state never goes into an image: the tree does not take it */
    CHECK_INT(bg_inode_set_xattr(n->inode, "trusted.overlay.opaque", "y", 1, &err), -1);
    bg_error_clear(&err);
  }
  create_ok(t, "img", &o);
  fsck_clean("img");

  CHECK_CONTAINS(dstat("img", "/usr/bin/sudo"), "Mode:  04755");
  CHECK_CONTAINS(dstat("img", "/usr/bin/sudo"), "User: 100000   Group: 70000");
  CHECK_CONTAINS(dstat("img", "/usr/bin/sudo"), " mtime: 0xfffeae80:1d6f3454 -- Wed Dec 31 00:00:00 1969");
  CHECK_CONTAINS(dstat("img", "/usr/bin/sudo"), " atime: 0xf4865700:00000015 -- Fri Jan  1 00:00:00 2100");
  CHECK_CONTAINS(dstat("img", "/usr/bin/sudo"), " ctime: 0x80000000:00000001 -- Tue Jan 19 03:14:08 2038");
  CHECK_CONTAINS(dstat("img", "/a/file"), "Mode:  02640");
  CHECK_CONTAINS(dstat("img", "/a/file"), "Links: 3");
  CHECK_CONTAINS(dstat("img", "/b/link"), "Links: 3");
  CHECK_CONTAINS(dstat("img", "/usr/bin/sudo"), "user.note (2) = \"hi\"");
  CHECK_CONTAINS(dstat("img", "/usr/bin/sudo"), "security.capability (300)");
  CHECK(strstr(dstat("img", "/usr/bin/sudo"), "overlay") == NULL);
  CHECK(strstr(dstat("img", "/usr/bin/sudo"), "File ACL: 0") == NULL); /* the big value: a block */
  CHECK_CONTAINS(dstat("img", "/tmp"), "Mode:  01777");
  CHECK_CONTAINS(dstat("img", "/dev/sda"), "Type: block special");
  CHECK_CONTAINS(dstat("img", "/dev/sda"), "Device major/minor number: 08:00");
  CHECK_CONTAINS(dstat("img", "/dev/big"), "Device major/minor number: 300:70000");
  CHECK_CONTAINS(dstat("img", "/dev/fifo"), "Type: FIFO");
  CHECK_CONTAINS(dstat("img", "/dev/sock"), "Type: socket");
  CHECK_CONTAINS(dstat("img", "/fast"), "Fast link dest: \"usr/bin/sudo\"");
  CHECK_CONTAINS(dstat("img", "/slow"), "Size: 199");
  CHECK_CONTAINS(dstat("img", "/slow"), "EXTENTS:");
  CHECK_CONTAINS(dstat("img", "/"), "Mode:  0755");
  CHECK_CONTAINS(dstat("img", "/"), "User:     0   Group:     0");
  CHECK_CONTAINS(dstat("img", "/"), "Links: 8");
  CHECK_CONTAINS(dstat("img", "/lost+found"), "Mode:  0700");
  bg_tree_free(t);
}

static struct bg_tree *sample_tree(void)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0755, 0, 0, 1000);
  struct bg_error err;
  char name[64];
  int i;

  bg_error_clear(&err);
  for (i = 0; i < 300; i++) {
    snprintf(name, sizeof(name), "/d%d/f%d", i % 7, i);
    add_mem(t, name, name, strlen(name), meta(0644, (uint32_t)i, 0, 1000 + i));
  }
  CHECK_INT(bg_tree_symlink(t, "/l", "d1", &m, 0, NULL, &err), 0);
  return t;
}

BG_TEST(same_input_same_bytes)
{
  struct bg_tree *t = sample_tree();
  struct bg_ext4_opts o = opts(64);

  need_e2fsprogs();
  create_ok(t, "one", &o);
  sleep(1); /* a clock that leaked into the image would now differ */
  create_ok(t, "two", &o);
  CHECK_INT(run("cmp -s one two"), 0);
  fsck_clean("one");
  o.seed = "other";
  create_ok(t, "three", &o);
  CHECK_STR(capture("dumpe2fs -h %s 2>/dev/null | grep UUID", "one"),
            "Filesystem UUID:          1406c1c3-3c65-4ef7-a7cd-fc4334174478\n");
  CHECK(strcmp(capture("dumpe2fs -h %s 2>/dev/null | grep UUID", "three"),
               "Filesystem UUID:          1406c1c3-3c65-4ef7-a7cd-fc4334174478\n") != 0);
  CHECK_CONTAINS(capture("dumpe2fs -h %s 2>/dev/null", "one"), "Filesystem created:       Tue Nov 14 22:13:20 2023");
  bg_tree_free(t);
}

BG_TEST(size_floor_and_too_small)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(63);
  struct bg_error err;
  static char chunk[1 << 20];
  char name[64];
  int i;

  bg_error_clear(&err);
  CHECK_INT(bg_ext4_create("img", &o, t, &err), -1);
  CHECK_STR(err.msg, "image size 66060288 is below the minimum of 64 MiB");
  for (i = 0; i < 100; i++) {
    memset(chunk, i + 1, sizeof(chunk));
    snprintf(name, sizeof(name), "/data/%d", i);
    add_mem(t, name, chunk, sizeof(chunk), meta(0644, 0, 0, 1));
  }
  o = opts(64);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_create("img", &o, t, &err), -1);
  CHECK_INT(err.code, BG_ENOSPC);
  CHECK_STR(err.msg, "image too small: needs at least 106 MiB");
  /* no image, no temporary file (home and tmp are the runner's) */
  CHECK_INT(run("ls -A | grep -qvx -e home -e tmp"), 1);
  o = opts(105);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_create("img", &o, t, &err), -1);
  CHECK_STR(err.msg, "image too small: needs at least 106 MiB");
  o = opts(106);
  create_ok(t, "img", &o);
  fsck_clean("img");
  o = opts(64);
  o.inodes = 50;
  bg_tree_free(t);
  t = sample_tree();
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_create("img2", &o, t, &err), -1);
  CHECK_STR(err.msg, "image too small: needs at least 319 inodes, has 64");
  CHECK_INT(access("img2", F_OK), -1);
  bg_tree_free(t);
}

BG_TEST(big_directory_is_indexed)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(128);
  struct bg_meta m = meta(0755, 0, 0, 1);
  struct bg_error err;
  char name[96];
  int i;

  need_e2fsprogs();
  bg_error_clear(&err);
  for (i = 0; i < 25000; i++) {
    snprintf(name, sizeof(name), "/many/entry-with-a-longer-name-%06d", i);
    add_mem(t, name, "", 0, meta(0644, 0, 0, 1));
  }
  for (i = 0; i < 70; i++) { /* a second directory with more leaves than one index block holds */
    snprintf(name, sizeof(name), "/sub/d%d", i);
    CHECK_INT(bg_tree_mkdir(t, name, &m, BG_PARENTS, NULL, &err), 0);
  }
  create_ok(t, "img", &o);
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/many"), "Flags: 0x81000");
  CHECK_CONTAINS(capture("debugfs -R 'htree /many' %s 2>&1 | head -20", "img"),
                 "Indirect levels: 0");
  CHECK_CONTAINS(capture("debugfs -R 'stat /many/entry-with-a-longer-name-024999' %s 2>&1",
                         "img"), "Type: regular");
  CHECK_CONTAINS(dstat("img", "/sub"), "Links: 72");
  bg_tree_free(t);
}

BG_TEST(huge_directory_has_two_index_levels)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(256);
  char name[300];
  int i;

  need_e2fsprogs();
  for (i = 0; i < 12000; i++) { /* long names: over 507 leaves */
    snprintf(name, sizeof(name), "/d/%0200d", i);
    add_mem(t, name, "", 0, meta(0644, 0, 0, 1));
  }
  create_ok(t, "img", &o);
  fsck_clean("img");
  CHECK_CONTAINS(capture("debugfs -R 'htree /d' %s 2>&1 | head -20", "img"), "Indirect levels: 1");
  bg_tree_free(t);
}

BG_TEST(sparse_files_have_holes)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  static unsigned char data[4096 * 64];
  int i;

  need_e2fsprogs();
  for (i = 0; i < 64; i += 2) /* every other block written: 32 extents, an extent tree */
    memset(data + (size_t)i * 4096, 'a' + i % 26, 4096);
  add_mem(t, "/striped", data, sizeof(data), meta(0644, 0, 0, 1));
  memset(data, 0, sizeof(data));
  data[sizeof(data) - 1] = 1;
  add_mem(t, "/tail", data, sizeof(data), meta(0644, 0, 0, 1));
  create_ok(t, "img", &o);
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/striped"), "Blockcount: 264"); /* 32 data + 1 index block */
  CHECK_CONTAINS(dstat("img", "/striped"), "Size: 262144");
  CHECK_CONTAINS(dstat("img", "/tail"), "Blockcount: 8");
  CHECK_CONTAINS(dstat("img", "/tail"), "(63):");
  CHECK_INT(run("debugfs -R 'dump /striped striped' img 2>/dev/null && "
                "test $(od -An -c -j 8192 -N 1 striped) = c"), 0);
  bg_tree_free(t);
}

static struct bg_ext4 *open_rw(const char *path)
{
  struct bg_error err;
  struct bg_ext4 *img;

  bg_error_clear(&err);
  img = bg_ext4_open(path, BG_EXT4_WRITE, &err);
  if (img == NULL)
    bg_test_fail(__FILE__, __LINE__, "open %s: %s", path, err.msg);
  return img;
}

BG_TEST(edits_an_image_made_by_mkfs)
{
  struct bg_ext4_source src;
  struct bg_meta m = meta(0755, 0, 0, 1700000000);
  struct bg_error err;
  struct bg_ext4 *img;
  static char bin[100000];

  need_e2fsprogs();
  if (run("mkfs.ext4 -q -F -t ext4 img 64M") != 0)
    bg_test_fail(__FILE__, __LINE__, "mkfs.ext4 failed");
  memset(bin, 0x7f, sizeof(bin));
  memset(&src, 0, sizeof(src));
  src.mem = bin;
  src.len = sizeof(bin);
  img = open_rw("img");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_mkdir(img, "/usr/local/bin", &m, BG_PARENTS, &err), 0);
  CHECK_INT(bg_ext4_write(img, "/usr/local/bin/agent", &src, &m, 0, &err), 0);
  m.mode = 0777;
  CHECK_INT(bg_ext4_symlink(img, "/bin", "usr/local/bin", &m, 0, &err), 0);
  m.mode = 0644;
  src.mem = "x";
  src.len = 1;
  CHECK_INT(bg_ext4_write(img, "/bin/via-link", &src, &m, 0, &err), 0); /* inside the image */
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/usr/local/bin/agent"), "Mode:  0755");
  CHECK_CONTAINS(dstat("img", "/usr/local/bin/agent"), "User:     0   Group:     0");
  CHECK_CONTAINS(dstat("img", "/usr/local/bin/agent"), "Size: 100000");
  CHECK_CONTAINS(dstat("img", "/usr/local/bin/via-link"), "Size: 1");
  CHECK_CONTAINS(dstat("img", "/bin"), "Fast link dest: \"usr/local/bin\"");
  CHECK_CONTAINS(dstat("img", "/usr"), "Links: 3");
}

BG_TEST(symlinks_never_leave_the_image)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0777, 0, 0, 1);
  struct bg_ext4_source src = {"new", NULL, 3};
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  unsigned char *buf;
  size_t n;

  need_e2fsprogs();
  bg_error_clear(&err);
  add_mem(t, "/etc/passwd", "image", 5, meta(0644, 0, 0, 1));
  CHECK_INT(bg_tree_symlink(t, "/up", "../../../../etc", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "/abs", "/etc/passwd", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "/loop", "loop", &m, 0, NULL, &err), 0);
  create_ok(t, "img", &o);
  img = open_rw("img");
  CHECK_INT(bg_ext4_read(img, "/up/passwd", 0, &buf, &n, &err), 0);
  CHECK_INT(n, 5);
  CHECK(memcmp(buf, "image", 5) == 0);
  free(buf);
  CHECK_INT(bg_ext4_read(img, "/loop", 0, &buf, &n, &err), -1);
  CHECK_STR(err.msg, "/loop: too many levels of symbolic links");
  /* the tree's path policy: "." and ".." given by a caller are misuse, never a way out */
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_stat(img, "/etc/../etc/passwd", 0, &st, &err), -1);
  CHECK_STR(err.msg, "/etc/../etc/passwd: unsafe path (a \"..\" component)");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_write(img, "/etc/.", &src, &m, 0, &err), -1);
  CHECK_STR(err.msg, "/etc/.: a \".\" component");
  m.mode = 0600;
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_write(img, "/abs", &src, &m, 0, &err), 0); /* replaces the link */
  CHECK_INT(bg_ext4_stat(img, "/abs", 0, &st, &err), 0);
  CHECK_INT(st.mode, S_IFREG | 0600);
  CHECK_INT(bg_ext4_stat(img, "/etc/passwd", 0, &st, &err), 0);
  CHECK_INT(st.size, 5);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  CHECK_INT(access("etc", F_OK), -1);
  fsck_clean("img");
  bg_tree_free(t);
}

BG_TEST(recursive_remove_frees_everything)
{
  struct bg_tree *t = sample_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_error err;
  struct bg_ext4 *img;
  char before[256];

  need_e2fsprogs();
  bg_error_clear(&err);
  CHECK_INT(bg_tree_link(t, "/keep", "/d3/f3", 0, NULL, &err), 0);
  o.journal = 0;
  create_ok(t, "img", &o);
  img = open_rw("img");
  CHECK_INT(bg_ext4_remove(img, "/d2", 0, &err), -1);
  CHECK_STR(err.msg, "/d2: directory not empty");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_remove(img, "/", BG_EXT4_RECURSIVE, &err), -1);
  CHECK_STR(err.msg, "/: cannot remove the root");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_remove(img, "/d3", BG_EXT4_RECURSIVE, &err), 0);
  CHECK_INT(bg_ext4_remove(img, "/l", 0, &err), 0);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/keep"), "Links: 1");
  CHECK_CONTAINS(dstat("img", "/"), "Links: 9");
  snprintf(before, sizeof(before), "%s", capture("dumpe2fs -h %s 2>/dev/null | grep 'Free inodes'", "img"));
  CHECK_STR(before, "Free inodes:              3821\n");
  bg_tree_free(t);
}

/* ---- what ext4 cannot hold as given ---- */

static struct bg_ext4 *build_ok(struct bg_tree *t, const char *path, struct bg_ext4_opts *o)
{
  struct bg_error err;
  struct bg_ext4 *img;

  bg_error_clear(&err);
  img = bg_ext4_build(path, o, t, &err);
  if (img == NULL)
    bg_test_fail(__FILE__, __LINE__, "build %s: %s", path, err.msg);
  return img;
}

static void close_ok(struct bg_ext4 *img)
{
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_ext4_close(img, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "close: %s", err.msg);
}

/* The note of a kind, or NULL. */
static const struct bg_note *note_of(struct bg_ext4 *img, const char *kind)
{
  const struct bg_notes *ns = bg_ext4_notes(img);
  size_t i;

  for (i = 0; i < ns->n; i++)
    if (strcmp(bg_note_kind_name(ns->v[i].kind), kind) == 0)
      return &ns->v[i];
  return NULL;
}

BG_TEST(hardlinks_past_the_limit_are_split)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_error err;
  struct bg_ext4 *img;
  struct bg_ext4_stat a, b;
  const struct bg_note *n;
  char name[64];
  int i;

  need_e2fsprogs();
  add_mem(t, "/a/f", "shared", 6, meta(0640, 7, 8, 1000));
  bg_error_clear(&err);
  for (i = 1; i < 70000; i++) { /* 70,000 names in all */
    snprintf(name, sizeof(name), "/l/%d", i);
    CHECK_INT(bg_tree_link(t, name, "/a/f", BG_PARENTS, NULL, &err), 0);
  }
  img = build_ok(t, "img", &o);
  n = note_of(img, "hardlinks_split");
  CHECK(n != NULL);
  CHECK_STR(n->path, "/a/f");
  CHECK_STR(n->detail, "70000 names; ext4 holds 65000 per inode, so they are split over 2 copies "
                       "that share nothing");
  CHECK_INT(bg_ext4_stat(img, "/a/f", 0, &a, &err), 0);
  CHECK_INT(bg_ext4_stat(img, "/l/69999", 0, &b, &err), 0);
  CHECK_INT(a.links, 65000);
  CHECK_INT(b.links, 5000);
  CHECK(a.ino != b.ino);
  CHECK_INT(b.mode, S_IFREG | 0640);
  CHECK_INT(b.uid, 7);
  close_ok(img);
  fsck_clean("img");
  CHECK_CONTAINS(capture("debugfs -R 'cat /l/69999' %s 2>/dev/null", "img"), "shared");
  bg_tree_free(t);
}

BG_TEST(lost_found_is_always_a_directory)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_ext4_dirent *d = NULL;
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  size_t n = 0, i, lpf = 0;

  need_e2fsprogs();
  bg_error_clear(&err);
  CHECK_INT(bg_tree_symlink(t, "/lost+found", "/tmp", &m, 0, NULL, &err), 0);
  img = build_ok(t, "img", &o);
  CHECK(note_of(img, "lost+found_replaced") != NULL);
  CHECK_CONTAINS(note_of(img, "lost+found_replaced")->detail, "symlink");
  CHECK_INT(bg_ext4_list(img, "/", &d, &n, &err), 0);
  for (i = 0; i < n; i++)
    lpf += strcmp(d[i].name, "lost+found") == 0;
  bg_ext4_dirents_free(d, n);
  CHECK_INT(lpf, 1);
  CHECK_INT(bg_ext4_stat(img, "/lost+found", 0, &st, &err), 0);
  CHECK_INT(st.mode, S_IFDIR | 0700);
  close_ok(img);
  fsck_clean("img");
  bg_tree_free(t);

  t = new_tree(); /* a directory from the layers is kept, with what it holds */
  m = meta(0750, 3, 4, 1000);
  CHECK_INT(bg_tree_mkdir(t, "/lost+found", &m, 0, NULL, &err), 0);
  add_mem(t, "/lost+found/kept", "k", 1, meta(0644, 0, 0, 1000));
  img = build_ok(t, "img2", &o);
  CHECK(note_of(img, "lost+found_replaced") == NULL);
  CHECK_INT(bg_ext4_stat(img, "/lost+found", 0, &st, &err), 0);
  CHECK_INT(st.mode, S_IFDIR | 0750);
  CHECK_INT(st.ino, 11);
  CHECK_INT(bg_ext4_stat(img, "/lost+found/kept", 0, &st, &err), 0);
  close_ok(img);
  fsck_clean("img2");
  bg_tree_free(t);
}

BG_TEST(times_outside_the_inode_are_clamped_and_noted)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;

  need_e2fsprogs();
  m.mtime.sec = (int64_t)1 << 40; /* far past 2446 */
  add_mem(t, "/future", "x", 1, m);
  img = build_ok(t, "img", &o);
  CHECK(note_of(img, "time_clamped") != NULL);
  CHECK_STR(note_of(img, "time_clamped")->detail,
            "mtime 1099511627776 stored as 15032385535 (ext4 holds 1901..2446)");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_stat(img, "/future", 0, &st, &err), 0);
  CHECK_INT(st.mtime.sec, 15032385535LL);
  close_ok(img);
  fsck_clean("img");
  bg_tree_free(t);
}

BG_TEST(sizes_past_16_tib_and_the_maximum)
{
  struct bg_tree *t = sample_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_ext4_layout l;
  struct bg_error err;
  uint64_t tib;

  o.size = ((uint64_t)128 << 40) + ((uint64_t)1 << 20);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_create("img", &o, t, &err), -1);
  CHECK_STR(err.msg, "image size 140737489403904 is above the maximum of 128 TiB");
  CHECK_INT(access("img", F_OK), -1);
  /* the layout holds the whole size: 16 TiB and 17 TiB, not 0 or 1 TiB in a larger file */
  for (tib = 16; tib <= 17; tib++) {
    bg_error_clear(&err);
    CHECK_INT(bg_ext4_probe(&o, tib << 40, 1 << 20, &l, &err), 1);
    CHECK(l.free > ((tib << 40) - (tib << 34)) / 4096); /* metadata is well under 1/64 */
    CHECK(l.free < (tib << 40) / 4096);
    CHECK_INT(l.inodes >= 1 << 20, 1);
  }
  bg_tree_free(t);
}

/* ---- editing images made by mkfs.ext4 ---- */

static void mkfs(const char *args)
{
  char cmd[512];

  need_e2fsprogs();
  snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s >mkfs.out 2>&1", args);
  if (run(cmd) != 0) {
    run("cat mkfs.out >&2");
    bg_test_fail(__FILE__, __LINE__, "mkfs.ext4 %s failed", args);
  }
}

BG_TEST(symlink_targets_fit_the_block)
{
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_error err;
  struct bg_ext4 *img;
  char target[1100], back[1100];

  mkfs("-b 1024 img 16M");
  img = open_rw("img");
  memset(target, 't', sizeof(target));
  target[0] = '/';
  target[1023] = '\0';
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_symlink(img, "/ok", target, &m, 0, &err), 0);
  target[1023] = 't';
  target[1024] = '\0';
  CHECK_INT(bg_ext4_symlink(img, "/long", target, &m, 0, &err), -1);
  CHECK_STR(err.msg, "/long: symlink target of 1024 bytes; this image holds 1 to 1023");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_readlink(img, "/ok", back, sizeof(back), &err), 0);
  CHECK_INT(strlen(back), 1023);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/ok"), "Size: 1023");
  CHECK_CONTAINS(capture("debugfs -R 'ls /' %s 2>&1", "img"), "ok");
  CHECK(strstr(capture("debugfs -R 'ls /' %s 2>&1", "img"), "long") == NULL);
}

BG_TEST(bigalloc_is_refused_for_writing)
{
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;

  mkfs("-b 4096 -O bigalloc -C 16384 img 64M");
  run("cp img before");
  bg_error_clear(&err);
  CHECK(bg_ext4_open("img", BG_EXT4_WRITE, &err) == NULL);
  CHECK_STR(err.msg, "cannot open img for writing: it uses bigalloc (clusters of 4 blocks), "
                     "which this editor does not write");
  bg_error_clear(&err);
  img = bg_ext4_open("img", 0, &err); /* reading is fine */
  CHECK(img != NULL);
  CHECK_INT(bg_ext4_stat(img, "/lost+found", 0, &st, &err), 0);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  CHECK_INT(run("cmp -s img before"), 0);
  fsck_clean("img");
}

static void write_mem(struct bg_ext4 *img, const char *path, const void *p, size_t n,
                      struct bg_meta m)
{
  struct bg_ext4_source src = {p, NULL, n};
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_ext4_write(img, path, &src, &m, 0, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "write %s: %s", path, err.msg);
}

/* ext3, and ext4 without extents: files get direct and indirect blocks */
static void block_mapped(const char *args)
{
  static unsigned char big[5 << 20]; /* past the double indirect block */
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_error err;
  struct bg_ext4 *img;
  char target[300];
  size_t i;

  mkfs(args);
  for (i = 0; i < sizeof(big); i++)
    big[i] = (unsigned char)(i * 7 + i / 4096);
  img = open_rw("img");
  write_mem(img, "/big", big, sizeof(big), m);
  write_mem(img, "/small", "small", 5, m);
  memset(target, 's', sizeof(target) - 1);
  target[sizeof(target) - 1] = '\0';
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_symlink(img, "/slow", target, &m, 0, &err), 0);
  m.mode = 0755;
  CHECK_INT(bg_ext4_mkdir(img, "/d/e", &m, BG_PARENTS, &err), 0);
  write_mem(img, "/big", "replaced", 8, m); /* the old blocks and indirect blocks are freed */
  write_mem(img, "/d/e/again", big, sizeof(big), m);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK(strstr(dstat("img", "/d/e/again"), "EXTENTS") == NULL);
  CHECK_CONTAINS(dstat("img", "/d/e/again"), "(DIND)");
  FILE *f = fopen("big.ref", "wb");
  CHECK(f != NULL);
  CHECK_INT(fwrite(big, 1, sizeof(big), f), sizeof(big));
  fclose(f);
  CHECK_INT(run("debugfs -R 'dump /d/e/again again' img 2>/dev/null && cmp again big.ref"), 0);
}

BG_TEST(ext3_gets_block_mapped_files)
{
  need_e2fsprogs();
  if (run("mkfs.ext3 -q -F img 64M >/dev/null 2>&1") != 0)
    bg_test_fail(__FILE__, __LINE__, "mkfs.ext3 failed");
  block_mapped("-t ext3 img 64M");
}

BG_TEST(ext4_without_extents_gets_block_mapped_files)
{
  block_mapped("-O ^extent,^64bit img 64M");
}

static uint64_t free_blocks(const char *img)
{
  const char *s = capture("dumpe2fs -h %s 2>/dev/null | grep '^Free blocks:'", img);

  return strtoull(s + strlen("Free blocks:"), NULL, 10);
}

BG_TEST(a_write_that_runs_out_of_space_changes_nothing)
{
  static unsigned char big[40 << 20];
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_ext4_source src = {big, NULL, sizeof(big)};
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  unsigned char *back;
  char inodes[128];
  size_t n;
  uint64_t before;

  need_e2fsprogs();
  memset(big, 0x5a, sizeof(big));
  add_mem(t, "/victim", "old content", 11, m);
  add_mem(t, "/filler", big, 30 << 20, m);
  o.journal = 0;
  create_ok(t, "img", &o);
  before = free_blocks("img");
  snprintf(inodes, sizeof(inodes), "%s",
           capture("dumpe2fs -h %s 2>/dev/null | grep '^Free inodes:'", "img"));
  img = open_rw("img");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_write(img, "/victim", &src, &m, 0, &err), -1); /* 40 MiB into ~30 */
  CHECK_INT(err.code, BG_ENOSPC);
  CHECK_CONTAINS(err.msg, "/victim");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_read(img, "/victim", 0, &back, &n, &err), 0);
  CHECK_INT(n, 11);
  CHECK(memcmp(back, "old content", 11) == 0);
  free(back);
  /* the directories made on the way go with the failed write */
  CHECK_INT(bg_ext4_write(img, "/new/deeper/victim", &src, &m, BG_PARENTS, &err), -1);
  CHECK_INT(err.code, BG_ENOSPC);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_stat(img, "/new", 0, &st, &err), -1);
  CHECK_INT(err.code, BG_ENOTFOUND);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK_INT(free_blocks("img"), before);
  CHECK_STR(capture("dumpe2fs -h %s 2>/dev/null | grep '^Free inodes:'", "img"), inodes);
  CHECK_CONTAINS(dstat("img", "/"), "Links: 3");
  bg_tree_free(t);
}

BG_TEST(mkdir_keeps_the_many_links_count)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(512);
  struct bg_meta m = meta(0755, 0, 0, 1000);
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  char name[64];
  int i;

  need_e2fsprogs();
  bg_error_clear(&err);
  for (i = 0; i < 64998; i++) { /* 65,000 links: the most ext4 counts */
    snprintf(name, sizeof(name), "/big/%d", i);
    CHECK_INT(bg_tree_mkdir(t, name, &m, BG_PARENTS, NULL, &err), 0);
  }
  o.journal = 0;
  create_ok(t, "img", &o);
  img = open_rw("img");
  CHECK_INT(bg_ext4_stat(img, "/big", 0, &st, &err), 0);
  CHECK_INT(st.links, 65000);
  CHECK_INT(bg_ext4_mkdir(img, "/big/one-more", &m, 0, &err), 0);
  CHECK_INT(bg_ext4_stat(img, "/big", 0, &st, &err), 0);
  CHECK_INT(st.links, 1); /* dir_nlink: past 65,000, "many" */
  CHECK_INT(bg_ext4_mkdir(img, "/big/two-more", &m, 0, &err), 0);
  CHECK_INT(bg_ext4_stat(img, "/big", 0, &st, &err), 0);
  CHECK_INT(st.links, 1);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  bg_tree_free(t);
}

BG_TEST(times_on_128_byte_inodes_clamp_like_the_kernel)
{
  struct bg_meta m = meta(0644, 0, 0, 4102444800LL); /* 2100 */
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  const struct bg_note *n;

  mkfs("-I 128 img 64M");
  img = open_rw("img");
  write_mem(img, "/f", "x", 1, m);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_mkdir(img, "/d", &m, 0, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/f", "atime", -4102444800LL, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/f", "mtime_nsec", 5, &err), -1);
  CHECK_STR(err.msg, "/f: the inode has no room for mtime_nsec");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_stat(img, "/f", 0, &st, &err), 0);
  CHECK_INT(st.mtime.sec, 2147483647);
  CHECK_INT(st.atime.sec, -2147483648LL);
  CHECK_INT(bg_ext4_stat(img, "/d", 0, &st, &err), 0);
  CHECK_INT(st.mtime.sec, 2147483647);
  n = note_of(img, "time_clamped");
  CHECK(n != NULL);
  CHECK_STR(n->path, "/f");
  CHECK_STR(n->detail, "mtime 4102444800 stored as 2147483647, atime 4102444800 stored as "
                       "2147483647, ctime 4102444800 stored as 2147483647 (128-byte inodes hold "
                       "1901..2038)");
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
}

BG_TEST(times_given_are_stored_as_given)
{
  struct bg_tree *t = sample_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0644, 0, 0, 0);
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  int64_t when[3] = {0, (int64_t)1 << 32, (int64_t)1 << 33};
  char name[32];
  int i;

  need_e2fsprogs();
  create_ok(t, "img", &o);
  img = open_rw("img");
  bg_ext4_set_time(img, 1700000000);
  bg_error_clear(&err);
  for (i = 0; i < 3; i++) {
    m = meta(0644, 0, 0, when[i]);
    snprintf(name, sizeof(name), "/f%d", i);
    write_mem(img, name, "x", 1, m);
    snprintf(name, sizeof(name), "/l%d", i);
    CHECK_INT(bg_ext4_symlink(img, name, "f0", &m, 0, &err), 0);
  }
  for (i = 0; i < 3; i++) {
    snprintf(name, sizeof(name), "/f%d", i);
    CHECK_INT(bg_ext4_stat(img, name, 0, &st, &err), 0);
    CHECK_INT(st.mtime.sec, when[i]);
    CHECK_INT(st.atime.sec, when[i]);
    CHECK_INT(st.ctime.sec, when[i]);
    snprintf(name, sizeof(name), "/l%d", i);
    CHECK_INT(bg_ext4_stat(img, name, 0, &st, &err), 0);
    CHECK_INT(st.mtime.sec, when[i]);
  }
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  bg_tree_free(t);
}

BG_TEST(inode_fields_from_the_table)
{
  struct bg_tree *t = sample_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;

  need_e2fsprogs();
  create_ok(t, "img", &o);
  img = open_rw("img");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_field_known("crtime_nsec"), 1);
  CHECK_INT(bg_ext4_field_known("colour"), 0);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "uid", 70000, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "gid", 4294967295LL, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "mtime", 4102444800LL, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "mtime_nsec", 999999999, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "crtime", 86400, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "generation", 42, &err), 0);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "uid", -1, &err), -1);
  CHECK_STR(err.msg, "/d1/f1: uid -1 out of range");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "mode", 0x10000, &err), -1);
  CHECK_STR(err.msg, "/d1/f1: mode 65536 out of range");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_set_field(img, "/d1/f1", "colour", 1, &err), -1);
  CHECK_STR(err.msg, "unknown inode field \"colour\"");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_stat(img, "/d1/f1", 0, &st, &err), 0);
  CHECK_INT(st.uid, 70000);
  CHECK_INT(st.gid, 4294967295LL);
  CHECK_INT(st.mtime.sec, 4102444800LL);
  CHECK_INT(st.mtime.nsec, 999999999);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/d1/f1"), "Generation: 42");
  CHECK_CONTAINS(dstat("img", "/d1/f1"), "crtime: 0x00015180:00000000");
  bg_tree_free(t);
}

/* Bytes this process has read through read(2) and friends so far. */
static uint64_t bytes_read(void)
{
  FILE *f = fopen("/proc/self/io", "r");
  char line[128];
  unsigned long long v = 0;

  CHECK(f != NULL);
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "rchar: %llu", &v) == 1)
      break;
  fclose(f);
  return v;
}

BG_TEST(big_directories_are_edited_through_their_index)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(256);
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_ext4_dirent *d = NULL;
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  char name[96];
  uint64_t before, per_edit;
  size_t n = 0;
  int i;

  need_e2fsprogs();
  for (i = 0; i < 20000; i++) {
    snprintf(name, sizeof(name), "/big/existing-entry-%06d", i);
    add_mem(t, name, "", 0, m);
  }
  o.journal = 0;
  o.inodes = 40000;
  create_ok(t, "img", &o);
  img = open_rw("img");
  before = bytes_read();
  for (i = 0; i < 3000; i++) {
    snprintf(name, sizeof(name), "/big/new-entry-%06d", i);
    write_mem(img, name, "n", 1, m);
  }
  bg_error_clear(&err);
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "/big/existing-entry-%06d", i * 7);
    CHECK_INT(bg_ext4_remove(img, name, 0, &err), 0);
  }
  /* a linear scan reads the directory's ~160 blocks for every lookup */
  per_edit = (bytes_read() - before) / 4000;
  if (per_edit > 64 * 1024)
    bg_test_fail(__FILE__, __LINE__, "%llu bytes read per edit", (unsigned long long)per_edit);
  CHECK_INT(bg_ext4_stat(img, "/big/new-entry-002999", 0, &st, &err), 0);
  CHECK_INT(bg_ext4_stat(img, "/big/existing-entry-000007", 0, &st, &err), -1);
  CHECK_INT(err.code, BG_ENOTFOUND);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_list(img, "/big", &d, &n, &err), 0);
  bg_ext4_dirents_free(d, n);
  CHECK_INT(n, 22000);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  bg_tree_free(t);
}

BG_TEST(a_full_linear_directory_gets_an_index)
{
  struct bg_tree *t = sample_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0755, 0, 0, 1000);
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  char name[96];
  int i;

  need_e2fsprogs();
  create_ok(t, "img", &o);
  img = open_rw("img");
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_mkdir(img, "/grown", &m, 0, &err), 0);
  m.mode = 0644;
  for (i = 0; i < 2000; i++) {
    snprintf(name, sizeof(name), "/grown/a-name-of-some-length-%05d", i);
    write_mem(img, name, "g", 1, m);
  }
  CHECK_INT(bg_ext4_stat(img, "/grown", 0, &st, &err), 0);
  CHECK(st.flags & EXT2_INDEX_FL);
  for (i = 0; i < 2000; i += 97) {
    snprintf(name, sizeof(name), "/grown/a-name-of-some-length-%05d", i);
    CHECK_INT(bg_ext4_stat(img, name, 0, &st, &err), 0);
  }
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK_CONTAINS(capture("debugfs -R 'htree /grown' %s 2>&1 | head -5", "img"), "Root node dump");
  bg_tree_free(t);
}

BG_TEST(host_files_keep_their_holes)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_content c;
  struct bg_ext4_source src;
  struct bg_error err;
  struct bg_ext4 *img;
  uint64_t before, bytes = 0;

  need_e2fsprogs();
  /* 4 GiB with two small runs of data */
  CHECK_INT(run("truncate -s 4G sparse && printf head | dd of=sparse conv=notrunc 2>/dev/null && "
                "printf tail | dd of=sparse bs=1 seek=3221225472 conv=notrunc 2>/dev/null"), 0);
  memset(&c, 0, sizeof(c));
  c.kind = BG_CONTENT_HOST;
  c.host_path = strdup("sparse");
  bg_error_clear(&err);
  CHECK_INT(bg_tree_add_file(t, "/in-tree", &m, &c, (uint64_t)4 << 30, 0, NULL, &err), 0);
  CHECK_INT(bg_ext4_min_size(&o, t, &bytes, &err), 0);
  CHECK_INT(bytes, 64 << 20); /* the holes take no room */
  before = bytes_read();
  img = build_ok(t, "img", &o);
  memset(&src, 0, sizeof(src));
  src.host_path = "sparse";
  CHECK_INT(bg_ext4_write(img, "/edited", &src, &m, 0, &err), 0);
  if (bytes_read() - before > (64 << 20))
    bg_test_fail(__FILE__, __LINE__, "read %llu bytes of two sparse 4 GiB files",
                 (unsigned long long)(bytes_read() - before));
  close_ok(img);
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/in-tree"), "Size: 4294967296");
  CHECK_CONTAINS(dstat("img", "/in-tree"), "Blockcount: 16");
  CHECK_CONTAINS(dstat("img", "/edited"), "Blockcount: 16");
  CHECK_CONTAINS(capture("debugfs -R 'stat /edited' %s 2>&1 | grep -A2 EXTENTS", "img"),
                 "(786432):");
  bg_tree_free(t);
}

BG_TEST(min_size_is_exact_with_xattr_blocks)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_node *node;
  struct bg_error err;
  char name[64], value[72];
  uint64_t bytes = 0;
  int i;

  need_e2fsprogs();
  memset(value, 'v', sizeof(value));
  bg_error_clear(&err);
  for (i = 0; i < 20000; i++) { /* a 72-byte user.a does not fit beside the inode */
    snprintf(name, sizeof(name), "/x/%d/f%d", i % 100, i);
    add_mem(t, name, "", 0, meta(0644, 0, 0, 1));
    CHECK_INT(bg_tree_lookup(t, name, 0, &node, &err), 0);
    CHECK_INT(bg_inode_set_xattr(node->inode, "user.a", value, sizeof(value), &err), 0);
  }
  CHECK_INT(bg_ext4_min_size(&o, t, &bytes, &err), 0);
  o.size = bytes - (1 << 20);
  CHECK_INT(bg_ext4_create("small", &o, t, &err), -1);
  CHECK_INT(err.code, BG_ENOSPC);
  CHECK_CONTAINS(err.msg, "image too small: needs at least");
  CHECK_INT(access("small", F_OK), -1);
  o.size = bytes;
  create_ok(t, "img", &o);
  fsck_clean("img");
  CHECK(strstr(dstat("img", "/x/7/f19907"), "File ACL: 0") == NULL);
  bg_tree_free(t);
}

/* A directory of long names: n entries, ~19 to a leaf. */
static void long_names(struct bg_tree *t, const char *dir, int n)
{
  char name[300];
  int i;

  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "%s/%0190d", dir, i);
    add_mem(t, name, "", 0, meta(0644, 0, 0, 1));
  }
}

BG_TEST(hash_index_grows_like_the_kernels)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(512);
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_ext4_dirent *d = NULL;
  struct bg_ext4_stat st;
  struct bg_error err;
  struct bg_ext4 *img;
  char name[300];
  size_t n = 0;
  int i;

  need_e2fsprogs();
  long_names(t, "/one", 9400);  /* ~495 leaves: a root that fills up */
  long_names(t, "/two", 12000); /* ~630 leaves: a full node under the root, and another */
  o.journal = 0;
  o.inodes = 40000;
  create_ok(t, "img", &o);
  CHECK_CONTAINS(capture("debugfs -R 'htree /one' %s 2>&1 | head -8", "img"), "Indirect levels: 0");
  CHECK_CONTAINS(capture("debugfs -R 'htree /two' %s 2>&1 | head -8", "img"), "Indirect levels: 1");
  img = open_rw("img");
  for (i = 0; i < 1500; i++) {
    snprintf(name, sizeof(name), "/one/new-%0186d", i);
    write_mem(img, name, "", 0, m);
    snprintf(name, sizeof(name), "/two/new-%0186d", i);
    write_mem(img, name, "", 0, m);
  }
  bg_error_clear(&err);
  for (i = 0; i < 1500; i += 61) {
    snprintf(name, sizeof(name), "/one/new-%0186d", i);
    CHECK_INT(bg_ext4_stat(img, name, 0, &st, &err), 0);
    snprintf(name, sizeof(name), "/two/%0190d", i * 7);
    CHECK_INT(bg_ext4_stat(img, name, 0, &st, &err), 0);
  }
  CHECK_INT(bg_ext4_list(img, "/two", &d, &n, &err), 0);
  bg_ext4_dirents_free(d, n);
  CHECK_INT(n, 13500);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  /* the root filled and got a level below it; the full node was split */
  CHECK_CONTAINS(capture("debugfs -R 'htree /one' %s 2>&1 | head -8", "img"), "Indirect levels: 1");
  CHECK_CONTAINS(capture("debugfs -R 'htree /two' %s 2>&1 | head -9", "img"),
                 "Number of entries (count): 3");
  bg_tree_free(t);
}

/* A sparse file's holes are skipped, not read: 64 GiB of them cost the writer nothing, and the
 * image keeps them as holes. */
BG_TEST(sparse_file_costs_its_data_not_its_size)
{
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_meta m = meta(0644, 0, 0, 1);
  struct timespec t0, t1;
  struct bg_content c;
  struct bg_error err;
  struct bg_node *n;
  uint64_t off, size = (uint64_t)64 << 30;

  need_e2fsprogs();
  bg_error_clear(&err);
  CHECK_INT(bg_tree_spool_begin(t, size, &off, &err), 0);
  CHECK_INT(bg_tree_spool_hole(t, (uint64_t)1 << 30, &err), 0);
  CHECK_INT(bg_tree_spool_append(t, "middle", 6, NULL, &err), 0);
  CHECK_INT(bg_tree_spool_hole(t, size - ((uint64_t)1 << 30) - 6, &err), 0);
  memset(&c, 0, sizeof(c));
  c.kind = BG_CONTENT_SPOOL;
  c.offset = off;
  CHECK_INT(bg_tree_add_file(t, "/sparse", &m, &c, size, 0, &n, &err), 0);
  n->inode->zero_blocks = size / 4096 - 1; /* what the layer reader counts, for sizing */
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  create_ok(t, "img", &o);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  CHECK(t1.tv_sec - t0.tv_sec < 5); /* reading the holes took about a minute */
  fsck_clean("img");
  CHECK_CONTAINS(dstat("img", "/sparse"), "Size: 68719476736");
  CHECK_CONTAINS(dstat("img", "/sparse"), "Blockcount: 8\n");
  /* one block of data, at 1 GiB */
  CHECK_CONTAINS(dstat("img", "/sparse"), "(262144):");
  bg_tree_free(t);
}

/* inline_data: files of 1 to 128 bytes in their inodes, xattrs pushed to a block by the data,
 * the sizing model exact, the handle's own reads right after the build (the inode runs), and
 * the editor's writes; e2fsck and debugfs judge. */
BG_TEST(inline_data_files_live_in_their_inodes)
{
  static const size_t sizes[] = {1, 59, 60, 61, 100, 128, 129};
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_ext4_source src;
  struct bg_ext4_stat st;
  struct bg_ext4 *img;
  struct bg_node *node;
  struct bg_error err;
  unsigned char *got = NULL;
  char name[64], data[200], value[60];
  uint64_t bytes = 0;
  size_t i, len = 0;

  need_e2fsprogs();
  for (i = 0; i < sizeof(data); i++)
    data[i] = (char)('a' + i % 26);
  memset(value, 'v', sizeof(value));
  bg_error_clear(&err);
  for (i = 0; i < 20000; i++) { /* 100 bytes leave 28 of the inode: a 60-byte xattr needs 80 */
    snprintf(name, sizeof(name), "/x/%zu/f%zu", i % 100, i);
    add_mem(t, name, data, 100, meta(0644, 0, 0, 1));
    CHECK_INT(bg_tree_lookup(t, name, 0, &node, &err), 0);
    CHECK_INT(bg_inode_set_xattr(node->inode, "user.a", value, sizeof(value), &err), 0);
  }
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    snprintf(name, sizeof(name), "/s/f%zu", sizes[i]);
    add_mem(t, name, data, sizes[i], meta(0600, 7, 8, 2));
  }
  o.inline_data = 1;
  CHECK_INT(bg_ext4_min_size(&o, t, &bytes, &err), 0);
  o.size = bytes - (1 << 20);
  CHECK_INT(bg_ext4_create("small", &o, t, &err), -1);
  CHECK_CONTAINS(err.msg, "image too small: needs at least");
  o.size = bytes;
  img = bg_ext4_build("img", &o, t, &err);
  CHECK(img != NULL);
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    snprintf(name, sizeof(name), "/s/f%zu", sizes[i]);
    CHECK_INT(bg_ext4_stat(img, name, 0, &st, &err), 0);
    CHECK_INT(st.mode, S_IFREG | 0600);
    CHECK_INT(st.blocks, sizes[i] <= 128 ? 0 : 8);
    CHECK_INT(bg_ext4_read(img, name, 0, &got, &len, &err), 0);
    CHECK(len == sizes[i] && memcmp(got, data, len) == 0);
    free(got);
  }
  CHECK_INT(bg_ext4_stat(img, "/x/99/f19999", 0, &st, &err), 0);
  CHECK_INT(st.blocks, 8); /* its xattr block */
  memset(&src, 0, sizeof(src));
  src.mem = data;
  src.len = 90;
  CHECK_INT(bg_ext4_write(img, "/s/new", &src, &((struct bg_meta){.mode = 0644}), 0, &err), 0);
  src.len = 200;
  CHECK_INT(bg_ext4_write(img, "/s/f60", &src, &((struct bg_meta){.mode = 0644}), 0, &err), 0);
  CHECK_INT(bg_ext4_remove(img, "/s/f61", 0, &err), 0);
  CHECK_INT(bg_ext4_close(img, &err), 0);
  fsck_clean("img");
  CHECK_CONTAINS(capture("debugfs -R features %s 2>&1", "img"), "inline_data");
  CHECK_CONTAINS(dstat("img", "/s/f128"), "Size of inline data: 128");
  CHECK_CONTAINS(dstat("img", "/s/new"), "Size of inline data: 90");
  CHECK_CONTAINS(dstat("img", "/s/f60"), "EXTENTS:");
  CHECK_CONTAINS(dstat("img", "/x/99/f19999"), "Flags: 0x10000000");
  CHECK(strstr(dstat("img", "/x/99/f19999"), "File ACL: 0") == NULL);
  bg_tree_free(t);
}

/* A file of the tree whose bytes are in the spool, as a layer leaves it (no block of zeros). */
static void add_spooled(struct bg_tree *t, const char *path, const unsigned char *data, size_t n)
{
  struct bg_meta m = meta(0644, 0, 0, 1);
  struct bg_content c;
  struct bg_error err;
  uint64_t off;

  bg_error_clear(&err);
  CHECK_INT(bg_tree_spool_begin(t, n, &off, &err), 0);
  CHECK_INT(bg_tree_spool_append(t, data, n, NULL, &err), 0);
  memset(&c, 0, sizeof(c));
  c.kind = BG_CONTENT_SPOOL;
  c.offset = off;
  c.flags = BG_CONTENT_DENSE;
  CHECK_INT(bg_tree_add_file(t, path, &m, &c, n, BG_PARENTS, NULL, &err), 0);
}

static unsigned char *pattern(size_t n, unsigned seed)
{
  unsigned char *p = malloc(n);
  size_t i;

  CHECK(p != NULL);
  for (i = 0; i < n; i++)
    p[i] = (unsigned char)(seed * 131 + i * 7 + i / 4096 + 1); /* no block of zeros */
  return p;
}

static void same_as(const char *img, const char *path, const unsigned char *want, size_t n)
{
  char cmd[512];
  unsigned char *got = malloc(n + 1);
  FILE *f;
  size_t k;

  snprintf(cmd, sizeof(cmd), "debugfs -R 'cat %s' %s 2>/dev/null", path, img);
  f = popen(cmd, "r");
  CHECK(f != NULL && got != NULL);
  k = fread(got, 1, n + 1, f);
  pclose(f);
  if (k != n || memcmp(got, want, n) != 0)
    bg_test_fail(__FILE__, __LINE__, "%s in %s: %zu bytes, not the %zu given", path, img, k, n);
  free(got);
}

/* A built image's file data is copied from the spool after its metadata, at the close: whatever
 * needs those blocks first waits for their copies (and the copies before them, no more). Read
 * right after the build, a file's bytes are there; a file removed and its blocks taken by a new
 * one keeps the new bytes (its old copy goes first); the tree may be freed with copies still to
 * come; the sha256 the close takes behind the copies is the file's. debugfs and e2fsck judge. */
BG_TEST(file_data_copied_after_the_build_is_there_for_whoever_needs_it)
{
  enum { A = (3 << 20) / 2 + 5, B = 200 << 10, C = 300 << 10 };
  unsigned char *a = pattern(A, 1), *b = pattern(B, 2), *c = pattern(C, 3), *n = pattern(B, 4);
  unsigned char sum[32], want[32];
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  struct bg_ext4_source src;
  struct bg_error err;
  struct bg_ext4 *img;
  unsigned char *got = NULL;
  char before[256];
  uint64_t size = 0;
  size_t len = 0;

  need_e2fsprogs();
  add_spooled(t, "/a", a, A); /* laid out in this order */
  add_spooled(t, "/b", b, B);
  add_spooled(t, "/c", c, C);
  create_ok(t, "ref", &o);
  img = build_ok(t, "img", &o);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_read(img, "/a", 0, &got, &len, &err), 0);
  CHECK(len == A && memcmp(got, a, A) == 0);
  free(got);
  CHECK_INT(bg_ext4_remove(img, "/b", 0, &err), 0);
  memset(&src, 0, sizeof(src));
  src.mem = n;
  src.len = B;
  CHECK_INT(bg_ext4_write(img, "/n", &src, &((struct bg_meta){.mode = 0644}), 0, &err), 0);
  bg_tree_free(t); /* /c is still to be copied: from the spool, on the copier's own */
  CHECK_INT(bg_ext4_close_sum(img, sum, &size, NULL, NULL, &err), 0);
  CHECK_INT(bg_sha256_file("img", want, NULL, &err), 0);
  CHECK(memcmp(sum, want, sizeof(sum)) == 0);
  CHECK_INT(size, 64 << 20);
  fsck_clean("img");
  same_as("img", "/a", a, A);
  same_as("img", "/n", n, B);
  same_as("img", "/c", c, C);
  /* the new file took the blocks of the one removed (in the same build left alone): what
   * that file's copy would have overwritten */
  snprintf(before, sizeof(before), "%s", capture("debugfs -R 'bmap /b 0' %s 2>/dev/null", "ref"));
  CHECK_STR(capture("debugfs -R 'bmap /n 0' %s 2>/dev/null", "img"), before);
  free(a);
  free(b);
  free(c);
  free(n);
}

/* Small files whose blocks follow one another in the spool and in the image are copied
 * together, the tail of each one's last block with them: each file keeps its bytes and the rest
 * of its last block is zeros. Half of them are spooled in the reverse of the image's order, so
 * neighbours in the image are not neighbours in the spool. debugfs, e2fsck and the image's own
 * bytes judge. */
BG_TEST(small_files_copied_together_keep_their_bytes)
{
  enum { N = 24 };
  static const size_t sizes[N] = {513, 4096, 5000, 1, 8191, 12295, 700, 4097,
                                  3000, 4095, 9000, 600, 513, 40000, 2, 4096,
                                  6000, 777, 8192, 1500, 20001, 4000, 9999, 513};
  unsigned char *data[N], tail[4096];
  struct bg_tree *t = new_tree();
  struct bg_ext4_opts o = opts(64);
  char path[32];
  unsigned long long blk;
  size_t i, k, used;
  int fd, j;

  need_e2fsprogs();
  for (i = 0; i < N; i++)
    data[i] = pattern(sizes[i], (unsigned)i + 10);
  for (j = 0; j < N; j++) { /* /f00../f11 in order, then /f23 down to /f12 */
    i = j < N / 2 ? (size_t)j : (size_t)(N - 1 - (j - N / 2));
    snprintf(path, sizeof(path), "/f%02zu", i);
    add_spooled(t, path, data[i], sizes[i]);
  }
  create_ok(t, "img", &o);
  bg_tree_free(t);
  fsck_clean("img");
  fd = open("img", O_RDONLY);
  CHECK(fd >= 0);
  for (i = 0; i < N; i++) {
    snprintf(path, sizeof(path), "/f%02zu", i);
    same_as("img", path, data[i], sizes[i]);
    used = sizes[i] % 4096;
    if (used == 0)
      continue;
    snprintf(path, sizeof(path), "/f%02zu %zu", i, sizes[i] / 4096);
    CHECK(sscanf(capture("debugfs -R 'bmap %s' img 2>/dev/null", path), "%llu", &blk) == 1);
    CHECK_INT(pread(fd, tail, 4096 - used, (off_t)(blk * 4096 + used)), (long)(4096 - used));
    for (k = 0; k < 4096 - used && tail[k] == 0; k++)
      ;
    if (k != 4096 - used)
      bg_test_fail(__FILE__, __LINE__, "/f%02zu: byte %zu of its last block is not zero", i,
                   used + k);
  }
  close(fd);
  for (i = 0; i < N; i++)
    free(data[i]);
}

/* The copier alone: copies wait until asked for (settle runs those up to the one asked for and
 * no more); once sealed, ready never calls a byte final before its copy is done; a copy from a
 * source shorter than said fails settle, ready and finish with the source named. */
BG_TEST(copier_runs_copies_in_image_order_when_asked)
{
  enum { PIECES = 40, LEN = 300000, GAP = 1 << 20 };
  unsigned char *src = pattern((size_t)PIECES * LEN, 5), *got = malloc(GAP);
  static atomic_int no_range;
  struct bg_tree_range r = {-1, 0, "here", &no_range};
  struct bg_ext4_copier *c;
  struct bg_error err;
  uint64_t at, end = (uint64_t)PIECES * GAP, k, i, fin;
  int in, out;

  CHECK(got != NULL);
  in = open("source", O_RDWR | O_CREAT | O_TRUNC, 0644);
  out = open("out", O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(in >= 0 && out >= 0);
  CHECK_INT(pwrite(in, src, (size_t)PIECES * LEN, 0), PIECES * LEN);
  CHECK_INT(ftruncate(out, (off_t)end), 0);
  bg_error_clear(&err);
  c = bg_ext4_copier_start(out, &err);
  CHECK(c != NULL);
  r.fd = in;
  for (i = 0; i < PIECES; i++) { /* piece i of the source at MiB i of the image */
    r.at = i * LEN;
    CHECK_INT(bg_ext4_copier_add(c, &r, LEN, i * GAP + 4096, &err), 0);
  }
  CHECK_INT(bg_ext4_copier_settle(c, 10 * GAP + 5000, 10 * GAP + 5001, &err), 0);
  CHECK_INT(pread(out, got, LEN, 10 * GAP + 4096), LEN);
  CHECK(memcmp(got, src + 10 * LEN, LEN) == 0);
  CHECK_INT(pread(out, got, LEN, 11 * GAP + 4096), LEN);
  for (k = 0; k < LEN && got[k] == 0; k++)
    ;
  CHECK_INT(k, LEN); /* not asked for: not copied */
  CHECK_INT(bg_ext4_copier_settle(c, 11 * GAP, 11 * GAP + 4096, &err), 0); /* no copy there */
  CHECK_INT(pread(out, got, 1, 11 * GAP + 4096), 1);
  CHECK_INT(got[0], 0);
  bg_ext4_copier_seal(c);
  for (at = 0; at < end; at = fin) {
    fin = bg_ext4_copier_ready(c, at, &err);
    CHECK(fin > at);
    /* everything it calls final is: the piece of each MiB below fin is in place (the last
     * first: the one the copier would be at if it were not) */
    for (i = PIECES; i-- > at / GAP;) {
      if (i * GAP + 4096 + LEN > fin)
        continue;
      CHECK_INT(pread(out, got, LEN, (off_t)(i * GAP + 4096)), LEN);
      CHECK(memcmp(got, src + i * LEN, LEN) == 0);
    }
  }
  CHECK_INT(bg_ext4_copier_finish(c, &err), 0);
  bg_ext4_copier_free(c);

  c = bg_ext4_copier_start(out, &err);
  CHECK(c != NULL);
  r.at = (uint64_t)PIECES * LEN - 10;
  CHECK_INT(bg_ext4_copier_add(c, &r, 100, 0, &err), 0); /* 90 bytes past its end */
  CHECK_INT(bg_ext4_copier_settle(c, 0, 1, &err), -1);
  CHECK_STR(err.msg, "writing file data: the spool file in here is shorter than expected");
  bg_error_clear(&err);
  bg_ext4_copier_seal(c);
  CHECK(bg_ext4_copier_ready(c, 0, &err) == 0);
  CHECK_CONTAINS(err.msg, "shorter than expected");
  CHECK_INT(bg_ext4_copier_finish(c, &err), -1);
  bg_ext4_copier_free(c);
  close(in);
  close(out);
  free(src);
  free(got);
}
