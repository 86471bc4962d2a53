#include "tmpfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define RAND_LEN 6
#define TRIES 16

static void random_suffix(char out[RAND_LEN + 1])
{
  static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char r[RAND_LEN];
  struct timespec ts;
  size_t i;

  if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
    clock_gettime(CLOCK_REALTIME, &ts);
    for (i = 0; i < sizeof(r); i++)
      r[i] = (unsigned char)(ts.tv_nsec >> (i * 5)) ^ (unsigned char)rand();
  }
  for (i = 0; i < RAND_LEN; i++)
    out[i] = set[r[i] % (sizeof(set) - 1)];
  out[RAND_LEN] = '\0';
}

int bg_tmpfile_open(struct bg_tmpfile *t, const char *dir, const char *prefix, mode_t mode,
                    struct bg_error *err)
{
  char rnd[RAND_LEN + 1];
  sigset_t block, saved;
  int i, n, rc = -1;

  t->fd = -1;
  t->slot = -1;
  t->committed = 0;
  /* a signal between the file's creation and its registration would leave it behind */
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &block, &saved);
  for (i = 0; i < TRIES; i++) {
    random_suffix(rnd);
    n = snprintf(t->path, sizeof(t->path), "%s/%s%ld-%s", dir, prefix, (long)getpid(), rnd);
    if (n < 0 || (size_t)n >= sizeof(t->path)) {
      bg_error_set(err, BG_ETOOBIG, "%s: path too long for a temporary file", dir);
      t->path[0] = '\0';
      goto out;
    }
    t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (t->fd >= 0 || errno != EEXIST)
      break;
  }
  if (t->fd < 0) {
    bg_error_errno(err, errno, "cannot create %s", t->path);
    t->path[0] = '\0';
    goto out;
  }
  /* nobody else has the name yet (O_EXCL), so the lock cannot be contended */
  if (flock(t->fd, LOCK_EX | LOCK_NB) != 0) {
    bg_error_errno(err, errno, "cannot lock %s", t->path);
    bg_tmpfile_discard(t);
    goto out;
  }
  t->slot = bg_cleanup_add(t->path);
  rc = 0;
out:
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  return rc;
}

int bg_tmpfile_commit(struct bg_tmpfile *t, const char *final, struct bg_error *err)
{
  if (rename(t->path, final) != 0)
    return bg_error_errno(err, errno, "cannot rename %s to %s", t->path, final);
  t->committed = 1;
  bg_cleanup_forget(t->slot);
  t->slot = -1;
  return 0;
}

int bg_tmpfile_close(struct bg_tmpfile *t, struct bg_error *err)
{
  int rc = 0;

  if (t->fd < 0)
    return 0;
  if (!t->committed)
    unlink(t->path);
  bg_cleanup_forget(t->slot);
  t->slot = -1;
  if (close(t->fd) != 0)
    rc = bg_error_errno(err, errno, "cannot close %s", t->path);
  t->fd = -1;
  return rc;
}

void bg_tmpfile_discard(struct bg_tmpfile *t)
{
  struct bg_error ignored;

  if (t->fd < 0)
    return;
  bg_error_clear(&ignored);
  bg_tmpfile_close(t, &ignored);
}

/* The PID of a temporary name: the rest after the prefix is "<digits>-XXXXXX". 0 if not ours. */
static long name_pid(const char *name, const char *prefix)
{
  const char *rest, *p;
  long pid = 0;
  size_t i;

  if (prefix != NULL) {
    if (strncmp(name, prefix, strlen(prefix)) != 0)
      return 0;
    rest = name + strlen(prefix);
  } else {
    /* ".NAME.tmp-": the last ".tmp-", with a non-empty NAME before it */
    if (name[0] != '.')
      return 0;
    rest = NULL;
    for (p = strstr(name + 1, ".tmp-"); p != NULL; p = strstr(p + 1, ".tmp-"))
      rest = p;
    if (rest == NULL || rest == name + 1)
      return 0;
    rest += 5;
  }
  for (p = rest; *p >= '0' && *p <= '9'; p++) {
    if (pid > 99999999)
      return 0;
    pid = pid * 10 + (*p - '0');
  }
  if (p == rest || *p != '-' || strlen(p + 1) != RAND_LEN)
    return 0;
  for (i = 1; i <= RAND_LEN; i++)
    if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
          (p[i] >= '0' && p[i] <= '9')))
      return 0;
  return pid;
}

static int pid_alive(long pid)
{
  return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

int bg_tmpfile_sweep(const char *dir, const char *prefix)
{
  struct dirent *de;
  struct stat st;
  int dfd, fd, removed = 0;
  DIR *d;
  long pid;

  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return 0;
  d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    return 0;
  }
  while ((de = readdir(d)) != NULL) {
    pid = name_pid(de->d_name, prefix);
    if (pid <= 0 || pid_alive(pid))
      continue;
    /* the PID may live in another PID namespace (a container writing to a shared directory):
     * the lock its writer holds is what says the file is still in use */
    fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      continue;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        unlinkat(dfd, de->d_name, 0) == 0)
      removed++;
    close(fd);
  }
  closedir(d);
  return removed;
}

int bg_mkdir_p(const char *dir, mode_t mode, struct bg_error *err)
{
  char buf[PATH_MAX];
  struct stat st;
  size_t i, n = strlen(dir);

  if (n >= sizeof(buf))
    return bg_error_set(err, BG_ETOOBIG, "%s: path too long", dir);
  memcpy(buf, dir, n + 1);
  for (i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    buf[i] = '\0';
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
      return bg_error_errno(err, errno, "cannot create directory %s", buf);
    if (stat(buf, &st) != 0)
      return bg_error_errno(err, errno, "cannot stat %s", buf);
    if (!S_ISDIR(st.st_mode))
      return bg_error_set(err, BG_EIO, "%s: not a directory", buf);
    if (i < n)
      buf[i] = '/';
  }
  return 0;
}

int bg_write_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  ssize_t w;

  while (n > 0) {
    w = write(fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int bg_sync_dir(const char *dir, struct bg_error *err)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int en;

  if (fd < 0)
    return bg_error_errno(err, errno, "cannot open %s", dir);
  /* EINVAL: a filesystem that cannot sync a directory (the rename is as durable as it gets) */
  if (fsync(fd) != 0 && errno != EINVAL) {
    en = errno;
    close(fd);
    return bg_error_errno(err, en, "cannot sync %s", dir);
  }
  if (close(fd) != 0)
    return bg_error_errno(err, errno, "cannot close %s", dir);
  return 0;
}
