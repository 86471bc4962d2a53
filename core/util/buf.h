/* Growable byte buffers with a hard cap given at creation (curl's dynbuf "toobig"). */
#ifndef BG_BUF_H
#define BG_BUF_H

#include <stddef.h>

#include "error.h"

struct bg_buf {
  char *data;    /* NUL-terminated when non-NULL, so text can be used directly */
  size_t len;
  size_t alloc;
  size_t max;    /* len never exceeds this */
};

void bg_buf_init(struct bg_buf *b, size_t max);
void bg_buf_free(struct bg_buf *b);
void bg_buf_reset(struct bg_buf *b);

/* Appends n bytes; fails with BG_ETOOBIG past the cap, BG_ENOMEM if allocation fails. */
int bg_buf_add(struct bg_buf *b, const void *p, size_t n, struct bg_error *err);
int bg_buf_addstr(struct bg_buf *b, const char *s, struct bg_error *err);
int bg_buf_printf(struct bg_buf *b, struct bg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends a whole file. Returns 0, or 1 without recording an error when the file does not
 * exist, or -1 (BG_ETOOBIG past the cap, with the path in the message). */
int bg_buf_read_file(struct bg_buf *b, const char *path, struct bg_error *err);

/* Appends what is left to read of fd (name is for messages): 0 or -1. */
int bg_buf_read_fd(struct bg_buf *b, int fd, const char *name, struct bg_error *err);

/* Hands the data to the caller (who frees it) and leaves the buffer empty. */
char *bg_buf_take(struct bg_buf *b, size_t *len);

#endif
