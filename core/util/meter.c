#include "meter.h"

#include <string.h>
#include <time.h>

#define BAR_SECONDS 0.2
#define PLAIN_SECONDS 5.0
#define BAR_WIDTH 24

double bg_meter_clock(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bg_human_bytes(double n, char *out, size_t cap)
{
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;

  while (n >= 1024 && u < 4) {
    n /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, cap, "%.0f %s", n, units[u]);
  else
    snprintf(out, cap, "%.1f %s", n, units[u]);
}

void bg_meter_init(struct bg_meter *m, int mode, const char *label)
{
  memset(m, 0, sizeof(*m));
  m->mode = mode;
  m->out = stderr;
  m->start = bg_meter_clock();
  /* a bar shows at once; plain lines only for a step that runs long */
  m->last = mode == BG_METER_BAR ? m->start - BAR_SECONDS : m->start;
  snprintf(m->label, sizeof(m->label), "%s", label);
}

int bg_meter_due(const struct bg_meter *m)
{
  if (m->mode == BG_METER_NONE)
    return 0;
  return bg_meter_clock() - m->last >= (m->mode == BG_METER_BAR ? BAR_SECONDS : PLAIN_SECONDS);
}

void bg_meter_show(struct bg_meter *m, double fraction, const char *text)
{
  char bar[BAR_WIDTH + 1];
  int fill, pct;

  if (m->mode == BG_METER_NONE)
    return;
  m->last = bg_meter_clock();
  if (m->mode == BG_METER_PLAIN) {
    fprintf(m->out, "%s: %s\n", m->label, text);
    fflush(m->out);
    return;
  }
  if (fraction < 0) {
    fprintf(m->out, "\r\033[K%s: %s", m->label, text);
  } else {
    fill = fraction >= 1 ? BAR_WIDTH : (int)(fraction * BAR_WIDTH);
    memset(bar, '=', (size_t)fill);
    memset(bar + fill, ' ', (size_t)(BAR_WIDTH - fill));
    bar[BAR_WIDTH] = '\0';
    pct = fraction >= 1 ? 100 : (int)(fraction * 100);
    fprintf(m->out, "\r\033[K%s [%s] %3d%% %s", m->label, bar, pct, text);
  }
  m->bar_drawn = 1;
  fflush(m->out);
}

void bg_meter_line(struct bg_meter *m, const char *text)
{
  if (m->mode == BG_METER_NONE)
    return;
  if (m->bar_drawn)
    fputs("\r\033[K", m->out);
  m->bar_drawn = 0;
  fprintf(m->out, "%s: %s\n", m->label, text);
  fflush(m->out);
}

void bg_meter_done(struct bg_meter *m)
{
  if (m->bar_drawn) {
    fputs("\r\033[K", m->out);
    fflush(m->out);
  }
  m->bar_drawn = 0;
}
