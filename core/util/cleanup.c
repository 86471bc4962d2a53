#include "cleanup.h"

#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The handler only reads these: a slot is filled before it is marked used, and unmarked before
 * it is reused, so a signal arriving in between sees either nothing or a whole path. */
static char paths[BG_CLEANUP_MAX][PATH_MAX];
static volatile sig_atomic_t used[BG_CLEANUP_MAX];

static void on_signal(int sig)
{
  int i;

  for (i = 0; i < BG_CLEANUP_MAX; i++) {
    if (used[i])
      unlink(paths[i]);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void bg_cleanup_install(void)
{
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction sa;
  size_t i;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    sigaddset(&sa.sa_mask, sigs[i]);
  for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    sigaction(sigs[i], &sa, NULL);
}

int bg_cleanup_add(const char *path)
{
  size_t n = strlen(path);
  int i;

  if (n >= PATH_MAX)
    return -1;
  for (i = 0; i < BG_CLEANUP_MAX; i++) {
    if (used[i])
      continue;
    memcpy(paths[i], path, n + 1);
    used[i] = 1;
    return i;
  }
  return -1;
}

void bg_cleanup_forget(int slot)
{
  if (slot >= 0 && slot < BG_CLEANUP_MAX)
    used[slot] = 0;
}
