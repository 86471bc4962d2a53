/* A capped list of notes: what a build changed to make an image valid. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notes.h"

void bg_notes_init(struct bg_notes *ns)
{
  memset(ns, 0, sizeof(*ns));
}

/* Room for one more entry: 0, or -1 at the cap or without memory. */
static int grow(struct bg_notes *ns)
{
  struct bg_note *nv;
  size_t want;

  if (ns->n >= BG_NOTES_CAP)
    return -1;
  if (ns->n < ns->alloc)
    return 0;
  want = ns->alloc ? ns->alloc * 2 : 8;
  if (want > BG_NOTES_CAP)
    want = BG_NOTES_CAP;
  nv = realloc(ns->v, want * sizeof(*nv));
  if (nv == NULL)
    return -1;
  ns->v = nv;
  ns->alloc = want;
  return 0;
}

static void note_free(struct bg_note *e)
{
  free(e->kind);
  free(e->path);
  free(e->detail);
}

void bg_notes_add(struct bg_notes *ns, const char *kind, const char *path, const char *fmt, ...)
{
  struct bg_note *e;
  char detail[512];
  va_list ap;

  if (ns == NULL)
    return;
  if (grow(ns) != 0) {
    ns->dropped++;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  e = &ns->v[ns->n];
  e->kind = strdup(kind);
  e->path = strdup(path);
  e->detail = strdup(detail);
  if (e->kind == NULL || e->path == NULL || e->detail == NULL) {
    note_free(e);
    ns->dropped++;
    return;
  }
  ns->n++;
}

void bg_notes_move(struct bg_notes *to, struct bg_notes *from)
{
  size_t i;

  for (i = 0; i < from->n; i++) {
    if (grow(to) == 0) {
      to->v[to->n++] = from->v[i];
    } else {
      note_free(&from->v[i]);
      to->dropped++;
    }
  }
  to->dropped += from->dropped;
  free(from->v);
  bg_notes_init(from);
}

void bg_notes_free(struct bg_notes *ns)
{
  size_t i;

  if (ns == NULL)
    return;
  for (i = 0; i < ns->n; i++)
    note_free(&ns->v[i]);
  free(ns->v);
  bg_notes_init(ns);
}
