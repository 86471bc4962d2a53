#include "harness.h"

#include <errno.h>

#include "util/buf.h"
#include "util/error.h"

BG_TEST(error_first_wins)
{
  struct bg_error err;

  bg_error_clear(&err);
  CHECK_INT(bg_error_set(&err, BG_EINVAL, "first %d", 1), -1);
  bg_error_set(&err, BG_EIO, "second");
  CHECK_INT(err.code, BG_EINVAL);
  CHECK_STR(err.msg, "first 1");
}

BG_TEST(error_prefix_and_errno)
{
  struct bg_error err;

  bg_error_clear(&err);
  bg_error_errno(&err, ENOENT, "cannot open %s", "x");
  bg_error_prefix(&err, "while writing inode %d", 12);
  CHECK_STR(err.msg, "while writing inode 12: cannot open x: No such file or directory");
  CHECK_INT(err.code, BG_EIO);
  CHECK_INT(err.sys_errno, ENOENT);
}

BG_TEST(error_prefix_truncates)
{
  struct bg_error err;
  char big[2000];

  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  bg_error_clear(&err);
  bg_error_set(&err, BG_EINVAL, "%s", big);
  bg_error_prefix(&err, "%s", big);
  CHECK_INT(strlen(err.msg), BG_ERROR_MAX - 1);
}

BG_TEST(buf_grows_to_cap)
{
  struct bg_buf b;
  struct bg_error err;
  int i;

  bg_error_clear(&err);
  bg_buf_init(&b, 100);
  for (i = 0; i < 10; i++)
    CHECK_INT(bg_buf_add(&b, "0123456789", 10, &err), 0);
  CHECK_INT(b.len, 100);
  CHECK_INT(b.data[100], '\0');
  CHECK_INT(bg_buf_add(&b, "x", 1, &err), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  CHECK_INT(b.len, 100);
  bg_buf_free(&b);
}

BG_TEST(buf_printf_and_take)
{
  struct bg_buf b;
  struct bg_error err;
  size_t len;
  char *p;

  bg_error_clear(&err);
  bg_buf_init(&b, 16);
  CHECK_INT(bg_buf_printf(&b, &err, "%s-%d", "abc", 42), 0);
  CHECK_STR(b.data, "abc-42");
  CHECK_INT(bg_buf_printf(&b, &err, "%s", "0123456789abcdef"), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
  CHECK_STR(b.data, "abc-42");
  p = bg_buf_take(&b, &len);
  CHECK_INT(len, 6);
  CHECK_STR(p, "abc-42");
  CHECK(b.data == NULL);
  free(p);
  bg_buf_free(&b);
}

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"

/* A child registers two files, forgets one and is killed by SIGTERM: the registered one is gone,
 * the forgotten one stays, and the child still dies of the signal. */
BG_TEST(cleanup_on_signal)
{
  int status, a, b;
  FILE *f;
  pid_t pid;

  f = fopen("tmp-a", "w");
  CHECK(f != NULL);
  fclose(f);
  f = fopen("tmp-b", "w");
  CHECK(f != NULL);
  fclose(f);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    bg_cleanup_install();
    a = bg_cleanup_add("tmp-a");
    b = bg_cleanup_add("tmp-b");
    if (a < 0 || b < 0)
      _exit(3);
    bg_cleanup_forget(b);
    raise(SIGTERM);
    _exit(4);
  }
  CHECK_INT(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status));
  CHECK_INT(WTERMSIG(status), SIGTERM);
  CHECK_INT(access("tmp-a", F_OK), -1);
  CHECK_INT(access("tmp-b", F_OK), 0);
}

BG_TEST(cleanup_slots_are_bounded)
{
  int i, slot = 0;

  for (i = 0; i < BG_CLEANUP_MAX; i++)
    CHECK(bg_cleanup_add("x") >= 0);
  CHECK_INT(bg_cleanup_add("x"), -1);
  for (i = 0; i < BG_CLEANUP_MAX; i++)
    bg_cleanup_forget(i);
  slot = bg_cleanup_add("y");
  CHECK_INT(slot, 0);
  bg_cleanup_forget(slot);
  bg_cleanup_forget(-1);
}
