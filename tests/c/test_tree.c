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

  add_mem(t, "a//b/c", "x");
  CHECK_STR(path_of(must_lookup(t, "/a/b/c", 0)), "/a/b/c");
  CHECK_STR(path_of(must_lookup(t, "a/b//c/", 0)), "/a/b/c");
  CHECK_STR(path_of(must_lookup(t, "/", 0)), "/");
  CHECK_STR(path_of(must_lookup(t, "", 0)), "/");
  CHECK_INT(must_lookup(t, "a", 0)->inode->mode, S_IFDIR | 0755);
  bg_tree_free(t);
}

/* "." and ".." in a path given to the tree are misuse: "/a/." never quietly means "/a". */
BG_TEST(dot_components_are_refused)
{
  static const char *const bad[] = {"/a/.", "./a", "a/./b", "/a/..", "/../x", "..", "a/../b"};
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_content c;
  struct bg_error err;
  struct bg_node *n;
  size_t i;

  add_mem(t, "a/b", "x");
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    bg_error_clear(&err);
    memset(&c, 0, sizeof(c));
    CHECK_INT(bg_tree_add_file(t, bad[i], &m, &c, 0, BG_PARENTS, NULL, &err), -1);
    CHECK(err.code == BG_EINVAL || err.code == BG_EUNSAFE);
    CHECK(strncmp(err.msg, bad[i], strlen(bad[i])) == 0);
    bg_error_clear(&err);
    CHECK_INT(bg_tree_mkdir(t, bad[i], &m, BG_PARENTS, NULL, &err), -1);
    bg_error_clear(&err);
    CHECK_INT(bg_tree_lookup(t, bad[i], 0, &n, &err), -1);
    bg_error_clear(&err);
    CHECK_INT(bg_tree_remove(t, bad[i], &err), -1);
    bg_error_clear(&err);
    CHECK_INT(bg_tree_link(t, "l", bad[i], 0, NULL, &err), -1);
  }
  bg_error_clear(&err);
  CHECK_INT(bg_tree_lookup(t, "/a/.", 0, &n, &err), -1);
  CHECK_STR(err.msg, "/a/.: a \".\" component");
  /* nothing was made or removed on the way */
  CHECK_STR(listing(t), "/ /a/ /a/b");
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
  CHECK_STR(path_of(must_lookup(t, "etc/self", BG_FOLLOW)), "/etc/passwd");
  CHECK_STR(path_of(must_lookup(t, "etc/self", 0)), "/etc/self");
  CHECK_STR(path_of(must_lookup(t, "abs", BG_FOLLOW)), "/etc");
  /* BG_EXACT follows nothing: only a node's own path finds it */
  CHECK_INT(bg_tree_lookup(t, "abs/passwd", BG_EXACT, &n, &err), -1);
  CHECK_STR(err.msg, "abs/passwd: abs is not a directory");
  bg_error_clear(&err);
  CHECK_STR(path_of(must_lookup(t, "abs", BG_EXACT | BG_FOLLOW)), "/abs");
  CHECK_STR(path_of(must_lookup(t, "/etc/passwd", BG_EXACT)), "/etc/passwd");
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

/* ---- limits every name and inode keeps ---- */

static int count_visit(struct bg_node *n, void *ctx)
{
  char path[BG_TREE_PATH_MAX];
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_node_path(n, path, sizeof(path), &err), 0);
  CHECK_INT(strlen(path), n->parent == n ? 1 : n->pathlen);
  (*(int *)ctx)++;
  return 0;
}

/* A symlink can lead a write deeper than any path Linux takes: no name that deep is made, so
 * every name stays one a walk can show and a lookup can find. */
BG_TEST(no_name_deeper_than_path_max)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0755, 0, 0, 1000);
  struct bg_content c;
  struct bg_error err;
  struct bg_node *n;
  char deep[BG_TREE_PATH_MAX], name[300];
  size_t i, len = 0;
  int count = 0;

  bg_error_clear(&err);
  for (i = 0; i < 16; i++) { /* 16 components of 249 bytes: a 4000-byte path */
    deep[len++] = '/';
    memset(deep + len, 'a' + (int)i, 249);
    len += 249;
  }
  deep[len] = '\0';
  CHECK_INT(bg_tree_mkdir(t, deep, &m, BG_PARENTS, NULL, &err), 0);
  m.mode = 0777;
  CHECK_INT(bg_tree_symlink(t, "/s", deep, &m, 0, NULL, &err), 0);
  /* 4000 + 1 + 94 = 4095 bytes: the longest path there is */
  memcpy(name, "s/", 2);
  memset(name + 2, 'x', 94);
  name[96] = '\0';
  memset(&c, 0, sizeof(c));
  CHECK_INT(bg_tree_add_file(t, name, &m, &c, 0, 0, &n, &err), 0);
  CHECK_INT(n->pathlen, 4095);
  /* one byte more is refused, whether file, directory made on the way, or link */
  memset(name + 2, 'y', 95);
  name[97] = '\0';
  CHECK_INT(bg_tree_add_file(t, name, &m, &c, 0, 0, NULL, &err), -1);
  CHECK_STR(err.msg, "path too long (4096 bytes, at most 4095)");
  CHECK_INT(err.code, BG_ETOOBIG);
  bg_error_clear(&err);
  CHECK_INT(bg_tree_mkdir(t, "s/dir/and/below", &m, BG_PARENTS, NULL, &err), 0);
  memset(name + 2, 'z', 200);
  memcpy(name + 202, "/f", 3);
  CHECK_INT(bg_tree_mkdir(t, name, &m, BG_PARENTS, NULL, &err), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  bg_error_clear(&err);
  CHECK_INT(bg_tree_link(t, name, "/s", BG_PARENTS, NULL, &err), -1);
  /* every name there is has a path that fits, and the walk sees them all */
  bg_tree_walk(t, count_visit, &count);
  CHECK_INT(count, bg_tree_entries(t) + 1);
  bg_tree_free(t);
}

BG_TEST(symlink_targets_ext4_can_hold)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_error err;
  char target[BG_TREE_PATH_MAX + 2];

  bg_error_clear(&err);
  memset(target, 't', sizeof(target));
  target[4095] = '\0';
  CHECK_INT(bg_tree_symlink(t, "ok", target, &m, 0, NULL, &err), 0);
  target[4095] = 't';
  target[4096] = '\0';
  CHECK_INT(bg_tree_symlink(t, "long", target, &m, 0, NULL, &err), -1);
  CHECK_STR(err.msg, "long: symlink target too long (4096 bytes, at most 4095)");
  CHECK_INT(err.code, BG_ETOOBIG);
  bg_tree_free(t);
}

/* A POSIX ACL in the xattr form: version 2, then (tag, perm, id) entries. */
static size_t acl(unsigned char *out, const unsigned *e, size_t n)
{
  size_t i, len = 4;

  memset(out, 0, 4 + 8 * n);
  out[0] = 2;
  for (i = 0; i < n; i++, len += 8) {
    out[len] = (unsigned char)e[3 * i];
    out[len + 2] = (unsigned char)e[3 * i + 1];
    out[len + 4] = (unsigned char)e[3 * i + 2];
  }
  return len;
}

BG_TEST(xattrs_linux_can_show)
{
  static const unsigned good[] = {1, 7, 0, 2, 5, 1000, 4, 5, 0, 0x10, 5, 0, 0x20, 4, 0};
  static const unsigned no_mask[] = {1, 7, 0, 2, 5, 1000, 4, 5, 0, 0x20, 4, 0};
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0777, 0, 0, 1000);
  struct bg_inode *f, *d, *l;
  struct bg_error err;
  unsigned char v[64];
  char name[300], big[4000];
  size_t n;

  add_mem(t, "f", "x");
  f = must_lookup(t, "f", 0)->inode;
  d = bg_tree_root(t)->inode;
  bg_error_clear(&err);
  CHECK_INT(bg_tree_symlink(t, "l", "f", &m, 0, NULL, &err), 0);
  l = must_lookup(t, "l", 0)->inode;
  /* names: 255 bytes at most, in a namespace the kernel shows, with something after it */
  memcpy(name, "user.", 5);
  memset(name + 5, 'n', 250);
  name[255] = '\0';
  CHECK_INT(bg_inode_set_xattr(f, name, "v", 1, &err), 0);
  name[255] = 'n';
  name[256] = '\0';
  CHECK_INT(bg_inode_set_xattr(f, name, "v", 1, &err), -1);
  CHECK_CONTAINS(err.msg, ": name over 255 bytes");
  CHECK_INT(err.code, BG_EINVAL);
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(f, "foo.bar", "v", 1, &err), -1);
  CHECK_STR(err.msg, "xattr foo.bar: not in a namespace Linux shows (user., trusted., security., "
                     "system.posix_acl_access, system.posix_acl_default)");
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(f, "system.foo", "v", 1, &err), -1);
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(f, "user.", "v", 1, &err), -1);
  CHECK_STR(err.msg, "xattr user.: nothing after the namespace");
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(f, "trusted.overlay.opaque", "y", 1, &err), -1);
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(l, "user.x", "v", 1, &err), -1);
  CHECK_STR(err.msg, "xattr user.x: user. xattrs are shown on files and directories only");
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(l, "trusted.x", "v", 1, &err), 0);
  /* POSIX ACLs as the kernel reads them back */
  n = acl(v, good, 5);
  CHECK_INT(bg_inode_set_xattr(f, "system.posix_acl_access", v, n, &err), 0);
  CHECK_INT(bg_inode_set_xattr(d, "system.posix_acl_default", v, n, &err), 0);
  CHECK_INT(bg_inode_set_xattr(f, "system.posix_acl_default", v, n, &err), -1);
  CHECK_STR(err.msg, "xattr system.posix_acl_default: a default POSIX ACL on something not a "
                     "directory");
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(l, "system.posix_acl_access", v, n, &err), -1);
  bg_error_clear(&err);
  n = acl(v, no_mask, 4);
  CHECK_INT(bg_inode_set_xattr(d, "system.posix_acl_access", v, n, &err), -1);
  CHECK_STR(err.msg, "xattr system.posix_acl_access: malformed POSIX ACL (entries)");
  bg_error_clear(&err);
  v[0] = 1;
  CHECK_INT(bg_inode_set_xattr(d, "system.posix_acl_access", v, n, &err), -1);
  CHECK_CONTAINS(err.msg, "(version)");
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(d, "system.posix_acl_access", v, 7, &err), -1);
  CHECK_CONTAINS(err.msg, "(size)");
  /* what does not fit the 4 KiB ext4 gives an inode's xattrs is refused, nothing changed */
  bg_error_clear(&err);
  memset(big, 'b', sizeof(big));
  CHECK_INT(bg_inode_set_xattr(d, "user.big", big, 3900, &err), 0);
  CHECK_INT(bg_inode_set_xattr(d, "user.more", big, 200, &err), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  CHECK_STR(err.msg, "xattr user.more: 200 bytes, more than the inode's xattrs can hold in ext4");
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(d, "user.big", big, 3999, &err), -1);
  CHECK_INT(d->xattrs[1].len, 3900); /* system.posix_acl_default sorts first */
  CHECK_INT(d->nxattrs, 2);
  bg_error_clear(&err);
  CHECK_INT(bg_inode_set_xattr(d, "user.big", big, 3950, &err), 0); /* replaced in place */
  bg_tree_free(t);
}

BG_TEST(device_numbers_linux_can_encode)
{
  struct bg_tree *t = new_tree();
  struct bg_meta m = meta(0600, 0, 0, 1000);
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_tree_mknod(t, "ok", S_IFCHR, &m, 4095, 1048575, 0, NULL, &err), 0);
  CHECK_INT(bg_tree_mknod(t, "major", S_IFBLK, &m, 4096, 0, 0, NULL, &err), -1);
  CHECK_STR(err.msg, "major: device 4096:0 cannot be encoded (major at most 4095, minor at most "
                     "1048575)");
  bg_error_clear(&err);
  CHECK_INT(bg_tree_mknod(t, "minor", S_IFCHR, &m, 0, 1048576, 0, NULL, &err), -1);
  CHECK_STR(listing(t), "/ /ok");
  bg_tree_free(t);
}

BG_TEST(notes_are_kept_for_the_report)
{
  struct bg_tree *t = new_tree();
  const struct bg_notes *ns = bg_tree_notes(t);
  size_t i;

  bg_tree_begin_layer(t);
  bg_tree_begin_layer(t);
  CHECK_INT(bg_tree_note(t, 2, BG_NOTE_XATTR, "/usr/bin/ping", "xattr %s: %s", "user.", "empty"),
            1);
  bg_tree_note(t, 2, BG_NOTE_DEVICE, "/dev/x", "device 4096:0");
  bg_tree_note(t, 0, BG_NOTE_MOUNTPOINT, "/run", "made");
  CHECK_INT(ns->n, 3);
  CHECK_INT(ns->total, 3);
  CHECK_INT(ns->v[0].kind, BG_NOTE_XATTR);
  CHECK_STR(bg_note_kind_name(ns->v[0].kind), "xattr");
  CHECK_STR(ns->v[0].path, "/usr/bin/ping");
  CHECK_INT(ns->v[0].layer, 2);
  CHECK_STR(ns->v[0].detail, "xattr user.: empty");
  CHECK_STR(bg_note_kind_name(ns->v[1].kind), "device");
  CHECK_INT(ns->v[2].layer, 0);
  CHECK_INT(ns->count[BG_NOTE_MOUNTPOINT], 1);
  /* kept up to a cap, all counted by kind */
  for (i = 0; i < BG_NOTES_MAX + 5; i++)
    bg_tree_note(t, 2, BG_NOTE_DEVICE, "/d", "x %zu", i);
  /* the same note twice in a row is one note */
  CHECK_INT(bg_tree_note(t, 2, BG_NOTE_DEVICE, "/d", "x %d", BG_NOTES_MAX + 4), 0);
  CHECK_INT(ns->n, BG_NOTES_MAX);
  CHECK_INT(ns->total, BG_NOTES_MAX + 8);
  CHECK_INT(ns->count[BG_NOTE_DEVICE], BG_NOTES_MAX + 6);
  CHECK_INT(bg_notes_unlisted(ns), 8);
  bg_tree_free(t);
}

/* Holes in the spool take no disk: a file's zeros are skipped, not written. */
BG_TEST(spool_keeps_holes)
{
  struct bg_tree_limits lim = {0, (uint64_t)1 << 30};
  struct bg_meta m = meta(0644, 0, 0, 1000);
  struct bg_content c;
  struct bg_error err;
  struct bg_tree *t;
  struct bg_node *n;
  uint64_t off, logical, allocated, at;
  static unsigned char buf[8192];
  size_t got;

  bg_error_clear(&err);
  t = bg_tree_new(&lim, &err);
  CHECK(t != NULL);
  CHECK_INT(bg_tree_spool_append(t, "abc", 3, &off, &err), 0);
  /* a file's bytes start at a block boundary */
  CHECK_INT(bg_tree_spool_begin(t, (256 << 20) + 8, &off, &err), 0);
  CHECK_INT(off, 4096);
  CHECK_INT(bg_tree_spool_append(t, "head", 4, NULL, &err), 0);
  CHECK_INT(bg_tree_spool_hole(t, 256 << 20, &err), 0);
  CHECK_INT(bg_tree_spool_append(t, "tail", 4, NULL, &err), 0);
  memset(&c, 0, sizeof(c));
  c.kind = BG_CONTENT_SPOOL;
  c.offset = off;
  CHECK_INT(bg_tree_add_file(t, "sparse", &m, &c, (256 << 20) + 8, 0, &n, &err), 0);
  CHECK_INT(bg_tree_read(t, n->inode, 0, buf, 4, &got, &err), 0);
  CHECK(got == 4 && memcmp(buf, "head", 4) == 0);
  CHECK_INT(bg_tree_read(t, n->inode, 100 << 20, buf, sizeof(buf), &got, &err), 0);
  CHECK_INT(got, sizeof(buf));
  CHECK(buf[0] == 0 && memcmp(buf, buf + 1, sizeof(buf) - 1) == 0);
  CHECK_INT(bg_tree_read(t, n->inode, (256 << 20) + 4, buf, 4, &got, &err), 0);
  CHECK(got == 4 && memcmp(buf, "tail", 4) == 0);
  /* where the data and the holes are, in whole blocks: what a writer skips */
  CHECK_INT(bg_tree_next_data(t, n->inode, 0, &at, &err), 0);
  CHECK_INT(at, 0);
  CHECK_INT(bg_tree_next_hole(t, n->inode, 0, &at, &err), 0);
  CHECK_INT(at, 4096);
  CHECK_INT(bg_tree_next_data(t, n->inode, 4096, &at, &err), 0);
  CHECK_INT(at, 256 << 20);
  CHECK_INT(bg_tree_next_hole(t, n->inode, 256 << 20, &at, &err), 0);
  CHECK_INT(at, (256 << 20) + 8);
  CHECK_INT(bg_tree_spool_usage(t, &logical, &allocated, &err), 0);
  CHECK_INT(logical, 4096 + (256 << 20) + 8);
  CHECK(allocated <= 64 * 1024);
  /* the cap counts holes: they are file bytes all the same */
  CHECK_INT(bg_tree_spool_hole(t, (uint64_t)1 << 30, &err), -1);
  CHECK_STR(err.msg, "image content exceeds the limit of 1073741824 bytes");
  bg_error_clear(&err);
  CHECK_INT(bg_tree_spool_begin(t, (uint64_t)1 << 30, &off, &err), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  bg_tree_free(t);
}
