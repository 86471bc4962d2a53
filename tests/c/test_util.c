#include "harness.h"

#include <errno.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/path.h"

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

#include "fixtures.h"
#include "util/cleanup.h"

/* A child registers two files, forgets one and is killed by SIGTERM: the registered one is gone,
 * the forgotten one stays, and the child still dies of the signal. */
BG_TEST(cleanup_on_signal)
{
  int status, a, b;
  pid_t pid;

  touch("tmp-a");
  touch("tmp-b");
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

/* ---- the path policy ---- */

/* One path under one policy: what it cleans to, or what is wrong with it. */
static const struct {
  const char *in;
  unsigned flags;
  const char *want; /* NULL: refused with problem */
  int problem;
} path_cases[] = {
  /* entry names: relative, "." dropped, never ".." */
  {"./a", BG_PATH_ENTRY, "a", 0},
  {"a//b/", BG_PATH_ENTRY, "a/b", 0},
  {"./e/./f", BG_PATH_ENTRY, "e/f", 0},
  {"./", BG_PATH_ENTRY, "", 0},
  {".wh.etc/x", BG_PATH_ENTRY, ".wh.etc/x", 0},
  {"", BG_PATH_ENTRY, NULL, BG_PATH_EMPTY},
  {"/etc/passwd", BG_PATH_ENTRY, NULL, BG_PATH_ABSOLUTE},
  {"a/../b", BG_PATH_ENTRY, NULL, BG_PATH_DOTDOT},
  {"..", BG_PATH_ENTRY, NULL, BG_PATH_DOTDOT},
  /* hardlink targets: inside the image root, as a chroot reads them */
  {"/usr/bin/a", BG_PATH_HARDLINK, "usr/bin/a", 0},
  {"usr/lib/../bin/a", BG_PATH_HARDLINK, "usr/bin/a", 0},
  {"//a/./b", BG_PATH_HARDLINK, "a/b", 0},
  {"a/..", BG_PATH_HARDLINK, "", 0},
  {"../etc/shadow", BG_PATH_HARDLINK, NULL, BG_PATH_CLIMB},
  {"/../etc", BG_PATH_HARDLINK, NULL, BG_PATH_CLIMB},
  {"a/../../b", BG_PATH_HARDLINK, NULL, BG_PATH_CLIMB},
  /* API paths: "." and ".." are misuse */
  {"/usr//bin/", BG_PATH_API, "usr/bin", 0},
  {"/", BG_PATH_API, "", 0},
  {"", BG_PATH_API, "", 0},
  {"/a/.", BG_PATH_API, NULL, BG_PATH_DOT},
  {"./a", BG_PATH_API, NULL, BG_PATH_DOT},
  {"/a/..", BG_PATH_API, NULL, BG_PATH_DOTDOT},
  /* a resolver's own reading keeps ".." for the symlinks it follows */
  {"a/../b/./c", 0, "a/../b/c", 0},
};

BG_TEST(path_policies)
{
  char out[BG_PATH_MAX + 1];
  size_t i, len;
  int p;

  for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
    len = 0;
    p = bg_path_clean(path_cases[i].in, strlen(path_cases[i].in), path_cases[i].flags, out,
                      sizeof(out), &len);
    if (path_cases[i].want != NULL ? p != BG_PATH_OK || strcmp(out, path_cases[i].want) != 0
                                   : p != path_cases[i].problem)
      bg_test_fail(__FILE__, __LINE__, "%s (flags %#x): got %s, problem %d", path_cases[i].in,
                   path_cases[i].flags, p == BG_PATH_OK ? out : "nothing", p);
    CHECK(p != BG_PATH_OK || strlen(out) == len);
  }
}

/* The message bg_path_error gives for what is wrong with in (under BG_PATH_API). */
static const char *path_message(const char *in, size_t n, const char *what, int *code)
{
  static struct bg_error err;
  char out[BG_PATH_MAX];
  size_t len;

  bg_error_clear(&err);
  CHECK_INT(bg_path_error(&err, bg_path_clean(in, n, BG_PATH_API, out, sizeof(out), &len), in, n,
                          what), -1);
  *code = err.code;
  return err.msg;
}

BG_TEST(path_lengths_and_nul)
{
  char name[300], path[BG_PATH_MAX + 10], out[BG_PATH_MAX + 1];
  size_t len = 0;
  int code;

  memset(name, 'n', sizeof(name));
  CHECK_INT(bg_path_clean(name, 256, BG_PATH_API, out, sizeof(out), &len), BG_PATH_NAME_LONG);
  CHECK_INT(bg_path_clean(name, 256, BG_PATH_LONGNAMES, out, sizeof(out), &len), BG_PATH_OK);
  CHECK_INT(bg_path_clean(name, 255, BG_PATH_API, out, sizeof(out), &len), BG_PATH_OK);
  CHECK_INT(len, 255);
  /* 4095 bytes fit, 4096 do not: Linux's PATH_MAX less its NUL */
  memset(path, 'a', sizeof(path));
  for (len = 100; len < sizeof(path); len += 101)
    path[len] = '/';
  path[BG_PATH_MAX] = '\0';
  CHECK_INT(bg_path_clean(path, BG_PATH_MAX, 0, out, sizeof(out), &len), BG_PATH_OK);
  CHECK_INT(len, BG_PATH_MAX);
  path[BG_PATH_MAX] = 'a';
  CHECK_INT(bg_path_clean(path, BG_PATH_MAX + 1, 0, out, sizeof(out), &len), BG_PATH_LONG);
  /* a NUL inside the length is refused, never a silent cut */
  CHECK_INT(bg_path_clean("a\0b", 3, BG_PATH_API, out, sizeof(out), &len), BG_PATH_NUL);
  name[100] = '\0';
  CHECK_STR(path_message(name, 300, "x", &code), "x: a NUL byte in the name");
  memset(name, 'n', 299);
  name[299] = '\0';
  CHECK_STR(path_message(name, 299, NULL, &code), "name component too long (299 bytes, at most 255)");
  CHECK_INT(code, BG_EINVAL);
  CHECK_STR(path_message("/..", 3, "/..", &code), "/..: unsafe path (a \"..\" component)");
  CHECK_INT(code, BG_EUNSAFE);
}

BG_TEST(path_append_climbs_from_a_start)
{
  char out[64] = "usr/lib";
  size_t len = 7;

  /* a relative symlink target read from its own directory */
  CHECK_INT(bg_path_append(out, sizeof(out), &len, "../../etc", 9, BG_PATH_POPDOTDOT), 0);
  CHECK_STR(out, "etc");
  CHECK_INT(bg_path_append(out, sizeof(out), &len, "../../x", 7, BG_PATH_POPDOTDOT),
            BG_PATH_CLIMB);
  len = 0;
  out[0] = '\0';
  CHECK_INT(bg_path_append(out, 8, &len, "abc/defg", 8, 0), BG_PATH_LONG);
  CHECK_INT(bg_path_append(out, 9, &len, "abc/defg", 8, 0), 0);
  CHECK_STR(out, "abc/defg");
}

BG_TEST(path_split_host_paths)
{
  struct bg_error err;
  const char *base;
  char dir[16];

  bg_error_clear(&err);
  CHECK_INT(bg_path_split("out.ext4", dir, sizeof(dir), &base, &err), 0);
  CHECK_STR(dir, ".");
  CHECK_STR(base, "out.ext4");
  CHECK_INT(bg_path_split("/x", dir, sizeof(dir), &base, &err), 0);
  CHECK_STR(dir, "/");
  CHECK_INT(bg_path_split("a/b/c", dir, sizeof(dir), &base, &err), 0);
  CHECK_STR(dir, "a/b");
  CHECK_STR(base, "c");
  CHECK_INT(bg_path_split("a/..", dir, sizeof(dir), &base, &err), -1);
  CHECK_STR(err.msg, "a/..: not a file name");
  bg_error_clear(&err);
  CHECK_INT(bg_path_split("a/", dir, sizeof(dir), &base, &err), -1);
  bg_error_clear(&err);
  CHECK_INT(bg_path_split("0123456789abcdefgh/x", dir, sizeof(dir), &base, &err), -1);
  CHECK_INT(err.code, BG_ETOOBIG);
}

/* ---- the loss report's notes ---- */

#include "util/notes.h"

BG_TEST(notes_kinds_have_names)
{
  int k;

  for (k = 1; k < BG_NOTE_KINDS; k++) {
    CHECK(strcmp(bg_note_kind_name(k), "unknown") != 0);
    CHECK_INT(bg_note_kind_of(bg_note_kind_name(k)), k);
  }
  CHECK_STR(bg_note_kind_name(BG_NOTE_LOST_FOUND), "lost+found_replaced");
  CHECK_STR(bg_note_kind_name(0), "unknown");
  CHECK_STR(bg_note_kind_name(BG_NOTE_KINDS), "unknown");
  CHECK_INT(bg_note_kind_of("devices"), 0);
}

BG_TEST(notes_cap_bytes_and_count_the_rest)
{
  static char path[4097];
  struct bg_notes ns;
  size_t i;

  bg_notes_init(&ns);
  memset(path, 'p', 4096);
  path[0] = '/';
  /* long paths meet the byte cap long before the entry cap */
  for (i = 0; i < 5000; i++) {
    path[1] = (char)('a' + i % 26); /* no two in a row alike */
    bg_notes_add(&ns, BG_NOTE_FIFO, 1, path, "fifo");
  }
  CHECK_INT(ns.n, BG_NOTES_BYTES / (4096 + 4 + 2));
  CHECK(ns.bytes <= BG_NOTES_BYTES);
  CHECK_INT(ns.total, 5000);
  CHECK_INT(ns.count[BG_NOTE_FIFO], 5000);
  CHECK_INT(bg_notes_unlisted(&ns), 5000 - ns.n);
  /* a short one is listed while there is room for it */
  CHECK_INT(bg_notes_add(&ns, BG_NOTE_XATTR, 2, "/x", "xattr user.a"), 1);
  CHECK_INT(ns.count[BG_NOTE_XATTR], 1);
  CHECK_STR(ns.v[ns.n - 1].path, "/x");
  /* a repeat of the last note is no note; the same words on another layer are */
  CHECK_INT(bg_notes_add(&ns, BG_NOTE_XATTR, 2, "/x", "xattr user.a"), 0);
  CHECK_INT(bg_notes_add(&ns, BG_NOTE_XATTR, 3, "/x", "xattr user.a"), 1);
  CHECK_INT(ns.total, 5002);
  bg_notes_free(&ns);
  CHECK_INT(ns.n, 0);
  CHECK_INT(ns.total, 0);
}
