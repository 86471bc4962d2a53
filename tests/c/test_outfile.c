/* Output files that appear whole or not at all. */
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "util/outfile.h"

static int entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;

  CHECK(d != NULL);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  }
  closedir(d);
  return n;
}

BG_TEST(commit_makes_parents_and_renames)
{
  struct bg_outfile o;
  struct bg_error err;
  struct stat st;
  mode_t old = umask(022);

  bg_error_clear(&err);
  CHECK_INT(bg_outfile_open(&o, "a/b/file", 1, &err), 0);
  CHECK_INT(entries("a/b"), 1); /* the temporary file, under a hidden name */
  CHECK(access("a/b/file", F_OK) != 0);
  CHECK_INT(bg_outfile_write(&o, "hello", 5, &err), 0);
  CHECK_INT(bg_outfile_commit(&o, &err), 0);
  CHECK_INT(stat("a/b/file", &st), 0);
  CHECK_INT(st.st_size, 5);
  CHECK_INT(st.st_mode & 0777, 0644);
  CHECK_INT(entries("a/b"), 1);
  bg_outfile_abort(&o); /* after a commit: nothing to do */
  CHECK_INT(stat("a/b/file", &st), 0);
  umask(old);
}

BG_TEST(abort_leaves_nothing)
{
  struct bg_outfile o;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(mkdir("d", 0755), 0);
  CHECK_INT(bg_outfile_open(&o, "d/file", 0, &err), 0);
  CHECK_INT(bg_outfile_write(&o, "x", 1, &err), 0);
  bg_outfile_abort(&o);
  CHECK_INT(entries("d"), 0);
}

BG_TEST(bad_paths)
{
  struct bg_outfile o;
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_outfile_open(&o, "nodir/file", 0, &err), -1);
  CHECK_CONTAINS(err.msg, "cannot create nodir/.file.tmp-");
  bg_error_clear(&err);
  CHECK_INT(bg_outfile_open(&o, "dir/", 1, &err), -1);
  CHECK_CONTAINS(err.msg, "dir/: not a file name");
  touch("plain");
  bg_error_clear(&err);
  CHECK_INT(bg_outfile_open(&o, "plain/sub/file", 1, &err), -1);
  CHECK_CONTAINS(err.msg, "plain: not a directory");
}

BG_TEST(open_sweeps_what_a_killed_writer_left)
{
  struct bg_outfile o;
  struct bg_error err;

  /* a writer killed with -9 (no such PID), and another file's temporary name, which stays */
  CHECK_INT(mkdir("k", 0755), 0);
  touch("k/.vmlinux.tmp-999999999-abcdef");
  touch("k/.Image.tmp-999999999-abcdef");
  bg_error_clear(&err);
  CHECK_INT(bg_outfile_open(&o, "k/vmlinux", 0, &err), 0);
  CHECK(access("k/.vmlinux.tmp-999999999-abcdef", F_OK) != 0);
  CHECK(access("k/.Image.tmp-999999999-abcdef", F_OK) == 0);
  CHECK_INT(entries("k"), 2);
  bg_outfile_abort(&o);
  CHECK_INT(entries("k"), 1);
}
