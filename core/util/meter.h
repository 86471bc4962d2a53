/* A progress line for one long step (replaying layers, writing an image) on stderr: a bar redrawn
 * in place on a terminal, plain lines now and then otherwise, or nothing. The caller asks
 * bg_meter_due() before formatting anything, so a step can ask once per entry cheaply. */
#ifndef BG_METER_H
#define BG_METER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum bg_meter_mode { BG_METER_NONE = 0, BG_METER_PLAIN = 1, BG_METER_BAR = 2 };

struct bg_meter {
  int mode;
  FILE *out;
  double start;    /* monotonic seconds */
  double last;     /* when the last bar or line was drawn */
  int bar_drawn;   /* a bar is on the current line */
  char label[160]; /* "flattening debian:bookworm" */
};

/* Monotonic seconds. */
double bg_meter_clock(void);
/* "12.3 MiB" */
void bg_human_bytes(double n, char *out, size_t cap);

void bg_meter_init(struct bg_meter *m, int mode, const char *label);
/* Whether a redraw is due now: every 0.2 s for a bar, every 5 s for plain lines. */
int bg_meter_due(const struct bg_meter *m);
/* Draws the bar at fraction (0..1, negative: unknown) with text after it, or, in plain mode,
 * prints "label: text". */
void bg_meter_show(struct bg_meter *m, double fraction, const char *text);
/* A line of its own in either mode ("label: text"); a bar is redrawn below it later. */
void bg_meter_line(struct bg_meter *m, const char *text);
/* Ends the step: clears the bar. */
void bg_meter_done(struct bg_meter *m);

#endif
