#include "harness.h"

#include <stdarg.h>
#include <unistd.h>

#define MAX_CASES 512

static struct {
  const char *name;
  void (*fn)(void);
} cases[MAX_CASES];
static int ncases;
static const char *current;

void bg_test_register(const char *name, void (*fn)(void))
{
  if (ncases == MAX_CASES) {
    fprintf(stderr, "too many test cases\n");
    exit(1);
  }
  cases[ncases].name = name;
  cases[ncases].fn = fn;
  ncases++;
}

void bg_test_fail(const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "FAIL %s: %s:%d: ", current ? current : "?", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

void bg_test_skip(const char *why)
{
  fprintf(stderr, "SKIP %s: %s\n", current ? current : "?", why);
  exit(2);
}

const char *bg_test_dir(void)
{
  const char *d = getenv("BG_TEST_DIR");

  return d != NULL ? d : ".";
}

/* CTest runs each case in a fresh directory of its own (tests/run-in-dir.sh); run by hand, the
 * binary makes one, so its files never land where it was started (a source tree, say). */
static void enter_fresh_dir(void)
{
  static char dir[4096];
  const char *tmp = getenv("TMPDIR");

  if (getenv("BG_TEST_DIR") != NULL)
    return;
  snprintf(dir, sizeof(dir), "%s/bg-test-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL || chdir(dir) != 0) {
    perror("cannot make a directory for the test");
    exit(1);
  }
  setenv("BG_TEST_DIR", dir, 1);
  fprintf(stderr, "running in %s\n", dir);
}

int main(int argc, char **argv)
{
  int i, ran = 0;

  enter_fresh_dir();
  for (i = 0; i < ncases; i++) {
    if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
      continue;
    current = cases[i].name;
    cases[i].fn();
    printf("ok %s\n", current);
    ran++;
  }
  if (ran == 0) {
    fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "(any)");
    return 1;
  }
  return 0;
}
