#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int log_level = BG_LOG_INFO;

void bg_log_set_level(int level)
{
  log_level = level;
}

int bg_log_get_level(void)
{
  return log_level;
}

void bg_log(int level, const char *fmt, ...)
{
  static const char *const tags[] = {"error: ", "warning: ", "", ""};
  va_list ap;

  if (level > log_level)
    return;
  fputs("banger-build: ", stderr);
  if (level >= 0 && level <= BG_LOG_DEBUG)
    fputs(tags[level], stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
