/* The cache and the temporary files it and the image writer use, against what someone else
 * may have left in a shared directory. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/cache.h"
#include "util/tmpfile.h"

static int exists(const char *path)
{
  struct stat st;

  return lstat(path, &st) == 0;
}

static void touch(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  CHECK(fd >= 0);
  close(fd);
}

/* A PID that is not running: a child that has exited and been reaped. */
static long dead_pid(void)
{
  pid_t pid = fork();

  if (pid == 0)
    _exit(0);
  CHECK(pid > 0);
  waitpid(pid, NULL, 0);
  return (long)pid;
}

BG_TEST(tmpfile_named_locked_and_committed)
{
  struct bg_tmpfile t;
  struct bg_error err;
  char want[64];
  int fd;

  bg_error_clear(&err);
  CHECK_INT(bg_tmpfile_open(&t, ".", ".out.ext4.tmp-", 0644, &err), 0);
  snprintf(want, sizeof(want), "./.out.ext4.tmp-%ld-", (long)getpid());
  CHECK(strncmp(t.path, want, strlen(want)) == 0 && strlen(t.path) == strlen(want) + 6);
  /* held: another open file description cannot take the lock */
  fd = open(t.path, O_RDONLY);
  CHECK(fd >= 0);
  CHECK(flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK);
  close(fd);
  /* the sweep leaves the file of a live writer alone */
  CHECK_INT(bg_tmpfile_sweep(".", NULL), 0);
  CHECK(exists(t.path));
  CHECK_INT(bg_tmpfile_commit(&t, "out.ext4", &err), 0);
  CHECK_INT(bg_tmpfile_close(&t, &err), 0);
  CHECK(exists("out.ext4"));
  /* closed without a commit: removed */
  CHECK_INT(bg_tmpfile_open(&t, ".", ".x.tmp-", 0644, &err), 0);
  strcpy(want, t.path);
  CHECK_INT(bg_tmpfile_close(&t, &err), 0);
  CHECK(!exists(want));
}

BG_TEST(tmpfile_never_follows_a_planted_name)
{
  struct bg_tmpfile t;
  struct bg_error err;
  char buf[16] = "";
  int fd;

  /* whatever the name, O_EXCL|O_NOFOLLOW: a symlink there would make the open fail, never
   * write through; with random names a planted one is not even met */
  touch("victim");
  bg_error_clear(&err);
  CHECK_INT(bg_tmpfile_open(&t, ".", "v.tmp-", 0644, &err), 0);
  CHECK(write(t.fd, "new", 3) == 3);
  bg_tmpfile_discard(&t);
  CHECK(unlink("victim") == 0);
  CHECK(symlink("target", "planted") == 0);
  fd = open("planted", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
  CHECK(fd < 0 && errno == EEXIST);
  CHECK(!exists("target"));
  CHECK(readlink("planted", buf, sizeof(buf) - 1) == 6);
}

BG_TEST(tmpfile_sweep_removes_only_what_nobody_writes)
{
  char dead[64], live[64], locked[64], foreign[64], other[64], link[64];
  long pid = dead_pid();
  pid_t holder;
  int fd, p[2];

  /* gone: the PID is dead and nobody holds the lock */
  snprintf(dead, sizeof(dead), ".a.ext4.tmp-%ld-AbC123", pid);
  touch(dead);
  /* alive: our own PID */
  snprintf(live, sizeof(live), ".b.ext4.tmp-%ld-AbC123", (long)getpid());
  touch(live);
  /* the PID means nothing here (another PID namespace) but a process holds the lock */
  snprintf(locked, sizeof(locked), ".c.ext4.tmp-%ld-XyZ789", pid);
  touch(locked);
  CHECK(pipe(p) == 0);
  holder = fork();
  if (holder == 0) {
    int hfd = open(locked, O_RDONLY);
    if (hfd < 0 || flock(hfd, LOCK_EX) != 0)
      _exit(1);
    if (write(p[1], "x", 1) != 1)
      _exit(1);
    pause();
    _exit(0);
  }
  {
    char c;
    CHECK(read(p[0], &c, 1) == 1);
  }
  /* not our naming, or not a regular file: left alone */
  snprintf(foreign, sizeof(foreign), ".d.ext4.tmp-%ld-toolong1", pid);
  touch(foreign);
  snprintf(other, sizeof(other), "e.ext4.tmp-%ld-AbC123", pid);
  touch(other);
  snprintf(link, sizeof(link), ".f.ext4.tmp-%ld-AbC123", pid);
  CHECK(symlink("/nonexistent", link) == 0);
  CHECK_INT(bg_tmpfile_sweep(".", NULL), 1);
  CHECK(!exists(dead));
  CHECK(exists(live) && exists(locked) && exists(foreign) && exists(other) && exists(link));
  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0);
  /* its holder gone, the file goes too */
  CHECK_INT(bg_tmpfile_sweep(".", NULL), 1);
  CHECK(!exists(locked));
  /* a prefix limits the sweep to one kind */
  fd = open(dead, O_WRONLY | O_CREAT, 0644);
  close(fd);
  CHECK_INT(bg_tmpfile_sweep(".", ".tmp-"), 0);
  CHECK(exists(dead));
  close(p[0]);
  close(p[1]);
}

BG_TEST(cache_refuses_symlinked_blob_dirs)
{
  struct bg_cache c;
  struct bg_error err;

  CHECK(mkdir("elsewhere", 0755) == 0);
  CHECK(mkdir("c1", 0755) == 0 && mkdir("c1/blobs", 0755) == 0);
  CHECK(symlink("../../elsewhere", "c1/blobs/sha256") == 0);
  bg_error_clear(&err);
  CHECK_INT(bg_cache_open("c1", &c, &err), -1);
  CHECK_INT(err.code, BG_EUNSAFE);
  CHECK_CONTAINS(err.msg, "/c1/blobs/sha256 is not a directory (a symlink): refusing to use");
  CHECK(mkdir("c2", 0755) == 0 && symlink("../elsewhere", "c2/blobs") == 0);
  bg_error_clear(&err);
  CHECK_INT(bg_cache_open("c2", &c, &err), -1);
  CHECK_CONTAINS(err.msg, "/c2/blobs is not a directory (a symlink)");
  /* nothing was created through the links */
  CHECK(!exists("elsewhere/sha256"));
  /* the cache directory itself may be a symlink */
  CHECK(mkdir("c3", 0755) == 0 && symlink("c3", "c3-link") == 0);
  bg_error_clear(&err);
  CHECK_INT(bg_cache_open("c3-link", &c, &err), 0);
}

BG_TEST(cache_blob_symlinks_and_fifos_are_not_read)
{
  struct bg_cache c;
  struct bg_digest d;
  struct bg_error err;
  struct bg_buf b;
  unsigned char raw[BG_SHA256_LEN];
  char ds[BG_DIGEST_STRLEN], path[PATH_MAX];

  bg_error_clear(&err);
  CHECK_INT(bg_cache_open("cache", &c, &err), 0);
  CHECK_INT(bg_sha256_buf("hello", 5, raw, &err), 0);
  bg_digest_format(raw, ds);
  CHECK_INT(bg_digest_parse(ds, &d, &err), 0);
  bg_cache_blob_path(&c, d.hex, path, sizeof(path));
  /* /dev/zero would hash forever: removed unread */
  CHECK(symlink("/dev/zero", path) == 0);
  CHECK_INT(bg_cache_check(&c, &d, BG_SIZE_UNKNOWN, &err), 2);
  CHECK(!exists(path));
  /* a FIFO would block the open */
  CHECK(mkfifo(path, 0644) == 0);
  CHECK_INT(bg_cache_check(&c, &d, 5, &err), 2);
  CHECK(!exists(path));
  CHECK(symlink("/etc/hostname", path) == 0);
  bg_buf_init(&b, 1 << 20);
  CHECK_INT(bg_cache_read(&c, &d, 1 << 20, &b, &err), 2);
  CHECK(!exists(path));
  /* a regular file of the wrong size is not even hashed */
  CHECK_INT(bg_cache_put(&c, &d, "hello", 5, &err), 0);
  CHECK_INT(bg_cache_check(&c, &d, 6, &err), 2);
  CHECK_INT(bg_cache_put(&c, &d, "hello", 5, &err), 0);
  CHECK_INT(bg_cache_read(&c, &d, 1 << 20, &b, &err), 0);
  CHECK_STR(b.data, "hello");
  bg_buf_free(&b);
}

BG_TEST(cache_sweeps_temp_blobs_of_gone_writers)
{
  struct bg_cache c;
  struct bg_error err;
  struct bg_blob_writer w;
  char stale[PATH_MAX];

  bg_error_clear(&err);
  CHECK_INT(bg_cache_open("cache", &c, &err), 0);
  snprintf(stale, sizeof(stale), "%s/blobs/sha256/.tmp-%ld-QwErTy", c.dir, dead_pid());
  touch(stale);
  CHECK_INT(bg_blob_writer_open(&c, NULL, BG_SIZE_UNKNOWN, &w, &err), 0);
  bg_cache_sweep(&c);
  CHECK(!exists(stale));
  CHECK(exists(w.t.path)); /* ours, being written */
  bg_blob_writer_abort(&w);
  CHECK(!exists(w.t.path));
}
