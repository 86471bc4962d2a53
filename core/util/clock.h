/* Monotonic time, for deadlines, backoff and progress rates. */
#ifndef BG_CLOCK_H
#define BG_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (unaffected by changes to the wall clock). */
double bg_now(void);

#endif
