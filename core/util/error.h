/* Errors with context, e2fsprogs style: "while writing inode 12: No space left". */
#ifndef BG_ERROR_H
#define BG_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define BG_ERROR_MAX 1024

/* Error classes, so callers can tell "the world failed" from "bad input". */
enum bg_errcode {
  BG_OK = 0,
  BG_EIO = 1,       /* reading or writing a host file failed */
  BG_EINVAL = 2,    /* malformed input: a digest, a name, an option */
  BG_ENOMEM = 3,    /* allocation failed */
  BG_ETOOBIG = 4,   /* a capped buffer or count would be exceeded */
  BG_EUNSAFE = 5,   /* a path or link would leave the root */
  BG_EMISMATCH = 6, /* a digest or size did not match */
  BG_ENOTFOUND = 7, /* the named thing does not exist */
  BG_ENET = 8,      /* network or protocol failure */
  BG_EFS = 9,       /* libext2fs reported an error */
  BG_ENOSPC = 10,   /* the image is too small */
};

struct bg_error {
  int code;                /* enum bg_errcode; 0 when no error is recorded */
  int sys_errno;           /* errno at the time, or 0 */
  char msg[BG_ERROR_MAX];  /* always NUL-terminated */
};

void bg_error_clear(struct bg_error *err);

/* Records an error unless one is already recorded: the first error wins. Returns -1. */
int bg_error_set(struct bg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As bg_error_set, with ": strerror(errnum)" appended. */
int bg_error_errno(struct bg_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "context: " in front of the recorded message, keeping the code. Returns -1. */
int bg_error_prefix(struct bg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Human-readable name of a code ("unsafe path" and the like are in the messages themselves). */
const char *bg_errcode_name(int code);

#endif
