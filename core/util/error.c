#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void bg_error_clear(struct bg_error *err)
{
  err->code = 0;
  err->sys_errno = 0;
  err->msg[0] = '\0';
}

static void verror(struct bg_error *err, int code, int errnum, const char *fmt, va_list ap)
{
  size_t len;

  if (err->code != 0)
    return;
  err->code = code;
  err->sys_errno = errnum;
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  if (errnum != 0) {
    len = strlen(err->msg);
    snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum));
  }
}

int bg_error_set(struct bg_error *err, int code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  verror(err, code, 0, fmt, ap);
  va_end(ap);
  return -1;
}

int bg_error_errno(struct bg_error *err, int errnum, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  verror(err, BG_EIO, errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int bg_error_prefix(struct bg_error *err, const char *fmt, ...)
{
  char prefix[BG_ERROR_MAX];
  char old[BG_ERROR_MAX];
  size_t pl, ol;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof(old));
  /* "prefix: old", cut to fit */
  pl = strlen(prefix);
  if (pl > BG_ERROR_MAX - 3)
    pl = BG_ERROR_MAX - 3;
  ol = strlen(old);
  if (ol > BG_ERROR_MAX - 3 - pl)
    ol = BG_ERROR_MAX - 3 - pl;
  memcpy(err->msg, prefix, pl);
  memcpy(err->msg + pl, ": ", 2);
  memcpy(err->msg + pl + 2, old, ol);
  err->msg[pl + 2 + ol] = '\0';
  return -1;
}

const char *bg_errcode_name(int code)
{
  static const char *const names[] = {
    "ok", "io", "invalid", "nomem", "toobig", "unsafe",
    "mismatch", "notfound", "network", "filesystem", "nospace",
  };

  if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
    return "unknown";
  return names[code];
}
