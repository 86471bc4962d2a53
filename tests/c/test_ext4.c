#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include "ext4/ext4.h"
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
  CHECK_STR(err.msg, "image too small: needs at least 107 MiB");
  /* no image, no temporary file (home and tmp are the runner's) */
  CHECK_INT(run("ls -A | grep -qvx -e home -e tmp"), 1);
  o = opts(106);
  bg_error_clear(&err);
  CHECK_INT(bg_ext4_create("img", &o, t, &err), -1);
  o = opts(107);
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
