/* Pull progress on stderr: bars on a terminal, one line per layer otherwise, or nothing. */
#ifndef BG_OCI_PROGRESS_H
#define BG_OCI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "../util/meter.h" /* bg_human_bytes */

enum bg_progress_mode { BG_PROGRESS_NONE = 0, BG_PROGRESS_PLAIN = 1, BG_PROGRESS_BAR = 2 };

struct bg_progress_item {
  char label[32];     /* "sha256:0123456789ab" */
  uint64_t size, have;
  double start, end;  /* monotonic seconds; end 0 while running */
  int started, done, drawn;
};

struct bg_progress {
  int mode;
  FILE *out;
  char name[256];
  struct bg_progress_item *items;
  size_t n;
  size_t lines_drawn;
  double last_draw;
};

/* n items; returns -1 on allocation failure (then mode is NONE). */
int bg_progress_init(struct bg_progress *p, int mode, const char *name, size_t n);
void bg_progress_item(struct bg_progress *p, size_t i, const char *digest, uint64_t size);
void bg_progress_update(struct bg_progress *p, size_t i, uint64_t have);
void bg_progress_done(struct bg_progress *p, size_t i, int cached);
void bg_progress_free(struct bg_progress *p);

#endif
