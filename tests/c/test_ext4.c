#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#include "ext4/ext4.h"
#include "tree/tree.h"

static struct bg_meta meta(uint32_t mode, uint32_t uid, uint32_t gid, int64_t mtime)
{
  struct bg_meta m;

  memset(&m, 0, sizeof(m));
  m.mode = mode;
  m.uid = uid;
  m.gid = gid;
  m.mtime.sec = mtime;
  m.atime.sec = mtime;
  m.ctime.sec = mtime;
  return m;
}

static struct bg_tree *new_tree(void)
{
  struct bg_error err;
  struct bg_tree *t;

  bg_error_clear(&err);
  t = bg_tree_new(NULL, &err);
  CHECK(t != NULL);
  return t;
}

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

static void need_e2fsprogs(void)
{
  if (run("command -v e2fsck >/dev/null && command -v debugfs >/dev/null") != 0)
    bg_test_skip("e2fsprogs is not installed");
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
