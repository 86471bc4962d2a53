#include "progress.h"

#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"

#define REDRAW_SECONDS 0.2

int bg_progress_init(struct bg_progress *p, int mode, const char *name, size_t n)
{
  memset(p, 0, sizeof(*p));
  p->mode = mode;
  p->out = stderr;
  snprintf(p->name, sizeof(p->name), "%s", name);
  if (mode == BG_PROGRESS_NONE || n == 0)
    return 0;
  p->items = calloc(n, sizeof(*p->items));
  if (p->items == NULL) {
    p->mode = BG_PROGRESS_NONE;
    return -1;
  }
  p->n = n;
  return 0;
}

void bg_progress_item(struct bg_progress *p, size_t i, const char *digest, uint64_t size)
{
  if (p->items == NULL || i >= p->n)
    return;
  snprintf(p->items[i].label, sizeof(p->items[i].label), "%.19s", digest);
  p->items[i].size = size;
}

static void line(struct bg_progress *p, const struct bg_progress_item *it, double now)
{
  char have[32], size[32], rate[32], eta[32] = "";
  double secs = (it->done ? it->end : now) - it->start;
  double r = secs > 0 ? (double)it->have / secs : 0;
  int width = 24, fill;
  char bar[32];

  bg_human_bytes((double)it->have, have, sizeof(have));
  bg_human_bytes((double)it->size, size, sizeof(size));
  bg_human_bytes(r, rate, sizeof(rate));
  fill = it->size ? (int)((double)it->have * width / (double)it->size) : width;
  if (fill > width)
    fill = width;
  memset(bar, '=', (size_t)fill);
  memset(bar + fill, ' ', (size_t)(width - fill));
  bar[width] = '\0';
  if (!it->done && r > 0 && it->size > it->have)
    snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(it->size - it->have) / r);
  fprintf(p->out, "\r\033[K%s [%s] %s / %s %s/s%s%s\n", it->label, bar, have, size, rate, eta,
          it->done ? " done" : "");
}

static void draw(struct bg_progress *p, int force)
{
  double now = bg_now();
  size_t i;

  if (!force && now - p->last_draw < REDRAW_SECONDS)
    return;
  p->last_draw = now;
  if (p->lines_drawn > 0)
    fprintf(p->out, "\033[%zuA", p->lines_drawn);
  for (i = 0; i < p->n; i++)
    line(p, &p->items[i], now);
  p->lines_drawn = p->n;
  fflush(p->out);
}

void bg_progress_update(struct bg_progress *p, size_t i, uint64_t have)
{
  if (p->items == NULL || i >= p->n)
    return;
  if (!p->items[i].started) {
    p->items[i].started = 1;
    p->items[i].start = bg_now();
  }
  p->items[i].have = have;
  if (p->mode == BG_PROGRESS_BAR)
    draw(p, 0);
}

void bg_progress_done(struct bg_progress *p, size_t i, int cached)
{
  struct bg_progress_item *it;
  char size[32];

  if (p->items == NULL || i >= p->n)
    return;
  it = &p->items[i];
  if (!it->started)
    it->start = bg_now();
  it->end = bg_now();
  it->done = 1;
  it->have = it->size;
  if (p->mode == BG_PROGRESS_BAR) {
    draw(p, 1);
    return;
  }
  bg_human_bytes((double)it->size, size, sizeof(size));
  if (cached)
    fprintf(p->out, "%s: layer %s %s (cached)\n", p->name, it->label, size);
  else
    fprintf(p->out, "%s: layer %s %s in %.1fs\n", p->name, it->label, size, it->end - it->start);
  fflush(p->out);
}

void bg_progress_free(struct bg_progress *p)
{
  free(p->items);
  p->items = NULL;
  p->n = 0;
}
