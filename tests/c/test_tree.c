#include "harness.h"

#include "fixtures.h"

static void add_mem(struct bg_tree *t, const char *path, const char *text)
{
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_content c;
  struct bg_error err;

  memset(&c, 0, sizeof(c));
  c.kind = BG_CONTENT_MEM;
  c.mem = (unsigned char *)strdup(text);
  bg_error_clear(&err);
  CHECK_INT(bg_tree_add_file(t, path, &m, &c, strlen(text), BG_PARENTS, NULL, &err), 0);
}

static struct bg_node *must_lookup(struct bg_tree *t, const char *path, int flags)
{
  struct bg_node *n = NULL;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_lookup(t, path, flags, &n, &err) != 0)
    bg_test_fail(__FILE__, __LINE__, "lookup %s: %s", path, err.msg);
  return n;
}

static const char *path_of(struct bg_node *n)
{
  static char buf[4096];
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_node_path(n, buf, sizeof(buf), &err), 0);
  return buf;
}

BG_TEST(paths_are_normalised)
{
  struct bg_tree *t = new_tree();

  add_mem(t, "./a//b/c", "x");
  CHECK_STR(path_of(must_lookup(t, "/a/b/c", 0)), "/a/b/c");
  CHECK_STR(path_of(must_lookup(t, "a/./b//c/", 0)), "/a/b/c");
  CHECK_STR(path_of(must_lookup(t, "/", 0)), "/");
  CHECK_STR(path_of(must_lookup(t, "", 0)), "/");
  CHECK_INT(must_lookup(t, "a", 0)->inode->mode, S_IFDIR | 0755);
  bg_tree_free(t);
}

BG_TEST(symlinks_resolve_inside_the_root)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_error err;
  struct bg_node *n;

  bg_error_clear(&err);
  add_mem(t, "etc/passwd", "root");
  CHECK_INT(bg_tree_symlink(t, "abs", "/etc", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "up", "../../../../etc", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "etc/self", "passwd", &m, 0, NULL, &err), 0);
  CHECK_STR(path_of(must_lookup(t, "abs/passwd", 0)), "/etc/passwd");
  CHECK_STR(path_of(must_lookup(t, "up/passwd", 0)), "/etc/passwd");
  CHECK_STR(path_of(must_lookup(t, "/../../etc/passwd", 0)), "/etc/passwd");
  CHECK_STR(path_of(must_lookup(t, "etc/self", BG_FOLLOW)), "/etc/passwd");
  CHECK_STR(path_of(must_lookup(t, "etc/self", 0)), "/etc/self");
  CHECK_STR(path_of(must_lookup(t, "abs", BG_FOLLOW)), "/etc");
  /* a parent through a symlink: writes land inside the tree */
  add_mem(t, "up/shadow", "s");
  CHECK_STR(path_of(must_lookup(t, "etc/shadow", 0)), "/etc/shadow");
  CHECK_INT(bg_tree_lookup(t, "etc/missing", 0, &n, &err), -1);
  CHECK_INT(err.code, BG_ENOTFOUND);
  bg_tree_free(t);
}

BG_TEST(symlink_loops_fail)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_error err;
  struct bg_node *n;

  bg_error_clear(&err);
  CHECK_INT(bg_tree_symlink(t, "a", "b", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "b", "/a", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_lookup(t, "a/x", 0, &n, &err), -1);
  CHECK_CONTAINS(err.msg, "too many levels of symbolic links");
  bg_tree_free(t);
}

BG_TEST(replace_rules)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0700, 5, 6, 1000);
  struct bg_error err;

  bg_error_clear(&err);
  add_mem(t, "d/f", "x");
  /* dir over dir: only attributes change, children stay */
  CHECK_INT(bg_tree_mkdir(t, "d", &m, 0, NULL, &err), 0);
  CHECK_INT(must_lookup(t, "d", 0)->inode->mode, S_IFDIR | 0700);
  CHECK_INT(must_lookup(t, "d", 0)->inode->uid, 5);
  must_lookup(t, "d/f", 0);
  /* BG_KEEP leaves an existing directory as it is */
  m.mode = 0711;
  CHECK_INT(bg_tree_mkdir(t, "d", &m, BG_KEEP, NULL, &err), 0);
  CHECK_INT(must_lookup(t, "d", 0)->inode->mode, S_IFDIR | 0700);
  /* file over dir: the subtree goes */
  add_mem(t, "d", "now a file");
  CHECK_INT(must_lookup(t, "d", 0)->inode->mode, S_IFREG | 0644);
  CHECK_INT(bg_tree_entries(t), 1);
  /* dir over file */
  CHECK_INT(bg_tree_mkdir(t, "d", &m, 0, NULL, &err), 0);
  CHECK_INT(must_lookup(t, "d", 0)->inode->mode, S_IFDIR | 0711);
  bg_tree_free(t);
}

BG_TEST(hardlinks_share_an_inode)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_error err;
  struct bg_node *a, *b;

  bg_error_clear(&err);
  add_mem(t, "a", "content");
  CHECK_INT(bg_tree_link(t, "b", "a", 0, &b, &err), 0);
  a = must_lookup(t, "a", 0);
  CHECK(a->inode == b->inode);
  CHECK_INT(a->inode->nlink, 2);
  /* replacing one name leaves the other with the old content */
  add_mem(t, "a", "new");
  CHECK_INT(must_lookup(t, "b", 0)->inode->nlink, 1);
  CHECK_INT(must_lookup(t, "b", 0)->inode->size, 7);
  /* a hardlink to a symlink shares the symlink's inode */
  CHECK_INT(bg_tree_symlink(t, "s", "/a", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_link(t, "s2", "s", 0, NULL, &err), 0);
  CHECK(must_lookup(t, "s2", 0)->inode == must_lookup(t, "s", 0)->inode);
  CHECK_INT(must_lookup(t, "s2", 0)->inode->mode & S_IFMT, S_IFLNK);
  /* linking a name to itself changes nothing */
  CHECK_INT(bg_tree_link(t, "b", "b", 0, NULL, &err), 0);
  CHECK_INT(must_lookup(t, "b", 0)->inode->nlink, 1);
  /* directories cannot be linked */
  CHECK_INT(bg_tree_mkdir(t, "dir", &m, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_link(t, "dir2", "dir", 0, NULL, &err), -1);
  CHECK_CONTAINS(err.msg, "is a directory");
  bg_tree_free(t);
}

BG_TEST(remove_subtree_and_root)
{
  struct bg_tree *t = new_tree();
  struct bg_error err;
  struct bg_node *n;

  bg_error_clear(&err);
  add_mem(t, "a/b/c/d", "x");
  add_mem(t, "a/e", "y");
  CHECK_INT(bg_tree_entries(t), 5);
  CHECK_INT(bg_tree_remove(t, "a/b", &err), 0);
  CHECK_INT(bg_tree_entries(t), 2);
  CHECK_INT(bg_tree_lookup(t, "a/b/c", 0, &n, &err), -1);
  bg_error_clear(&err);
  CHECK_INT(bg_tree_remove(t, "/", &err), -1);
  CHECK_CONTAINS(err.msg, "cannot remove the root");
  bg_error_clear(&err);
  CHECK_INT(bg_tree_remove(t, "nope", &err), -1);
  CHECK_INT(err.code, BG_ENOTFOUND);
  bg_tree_free(t);
}

struct collect {
  char out[4096];
};

static int collect_visit(struct bg_node *n, void *ctx)
{
  struct collect *c = ctx;
  size_t len = strlen(c->out);

  snprintf(c->out + len, sizeof(c->out) - len, "%s%s", len ? " " : "", path_of(n));
  return 0;
}

BG_TEST(walk_is_sorted_preorder)
{
  struct bg_tree *t = new_tree();
  struct collect c;

  add_mem(t, "b/z", "1");
  add_mem(t, "a", "2");
  add_mem(t, "b/a", "3");
  add_mem(t, "B", "4");
  c.out[0] = '\0';
  CHECK_INT(bg_tree_walk(t, collect_visit, &c), 0);
  CHECK_STR(c.out, "/ /B /a /b /b/a /b/z");
  bg_tree_free(t);
}


BG_TEST(many_entries_in_one_directory)
{
  struct bg_tree *t = new_tree();
  struct bg_node *const *kids;
  struct bg_node *n;
  struct bg_error err;
  char name[64];
  size_t k;
  int i;

  bg_error_clear(&err);
  for (i = 49999; i >= 0; i--) {
    snprintf(name, sizeof(name), "big/f%05d", i);
    add_mem(t, name, "");
  }
  n = must_lookup(t, "big", 0);
  kids = bg_node_children(n, &k);
  CHECK_INT(k, 50000);
  CHECK_STR(kids[0]->name, "f00000");
  CHECK_STR(kids[49999]->name, "f49999");
  for (i = 0; i < 50000; i += 2) {
    snprintf(name, sizeof(name), "big/f%05d", i);
    CHECK_INT(bg_tree_remove(t, name, &err), 0);
  }
  kids = bg_node_children(n, &k);
  CHECK_INT(k, 25000);
  CHECK_STR(kids[0]->name, "f00001");
  bg_tree_free(t);
}

BG_TEST(entry_cap)
{
  struct bg_tree_limits lim = {10, 0};
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_error err;
  struct bg_tree *t;
  char name[32];
  int i, rc = 0;

  bg_error_clear(&err);
  t = bg_tree_new(&lim, &err);
  for (i = 0; i < 20 && rc == 0; i++) {
    snprintf(name, sizeof(name), "f%d", i);
    rc = bg_tree_add_file(t, name, &m, NULL, 0, 0, NULL, &err);
  }
  CHECK_INT(rc, -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  CHECK_CONTAINS(err.msg, "too many entries");
  CHECK_INT(bg_tree_entries(t), 10);
  bg_tree_free(t);
}

BG_TEST(spool_and_host_content)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_content c;
  struct bg_error err;
  struct bg_node *n;
  char buf[64];
  uint64_t off;
  size_t got;
  FILE *f;

  bg_error_clear(&err);
  CHECK_INT(bg_tree_spool_append(t, "hello world", 11, &off, &err), 0);
  CHECK_INT(off, 0);
  CHECK_INT(bg_tree_spool_append(t, "second", 6, &off, &err), 0);
  CHECK_INT(off, 11);
  memset(&c, 0, sizeof(c));
  c.kind = BG_CONTENT_SPOOL;
  c.offset = 11;
  CHECK_INT(bg_tree_add_file(t, "s", &m, &c, 6, 0, &n, &err), 0);
  CHECK_INT(bg_tree_read(t, n->inode, 2, buf, sizeof(buf), &got, &err), 0);
  CHECK_INT(got, 4);
  CHECK(memcmp(buf, "cond", 4) == 0);
  CHECK_INT(bg_tree_read(t, n->inode, 6, buf, sizeof(buf), &got, &err), 0);
  CHECK_INT(got, 0);

  f = fopen("host.txt", "w");
  CHECK(f != NULL);
  fputs("from the host", f);
  fclose(f);
  c.kind = BG_CONTENT_HOST;
  c.host_path = strdup("host.txt");
  CHECK_INT(bg_tree_add_file(t, "h", &m, &c, 13, 0, &n, &err), 0);
  CHECK_INT(bg_tree_read(t, n->inode, 5, buf, 4, &got, &err), 0);
  CHECK(memcmp(buf, "the ", 4) == 0);
  bg_tree_free(t);
}

BG_TEST(stats_count_hardlinks_once)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_tree_stats s;
  struct bg_error err;
  char big[5000];

  bg_error_clear(&err);
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  add_mem(t, "d/f", big);
  CHECK_INT(bg_tree_link(t, "d/g", "d/f", 0, NULL, &err), 0);
  CHECK_INT(bg_tree_symlink(t, "l", "/d/f", &m, 0, NULL, &err), 0);
  bg_tree_stats(t, 4096, &s);
  CHECK_INT(s.entries, 5);
  CHECK_INT(s.inodes, 4);
  CHECK_INT(s.files, 1);
  CHECK_INT(s.dirs, 2);
  CHECK_INT(s.symlinks, 1);
  CHECK_INT(s.bytes, 4999);
  CHECK_INT(s.data_blocks, 2 + 1 + 1); /* file, two directories */
  bg_tree_free(t);
}

BG_TEST(deep_tree_frees_without_recursion)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0755, 0, 0, 1000);
  struct bg_error err;
  char path[4096];
  size_t i;

  bg_error_clear(&err);
  for (i = 0; i + 2 < sizeof(path); i += 2)
    memcpy(path + i, "a/", 2);
  path[i] = '\0';
  CHECK_INT(bg_tree_mkdir(t, path, &m, BG_PARENTS, NULL, &err), 0);
  CHECK_INT(bg_tree_entries(t), 2047);
  bg_tree_free(t);
}
