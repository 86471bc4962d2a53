/* The loss report's model: capped lists of notes, counted by kind. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notes.h"

static const char *const kind_names[BG_NOTE_KINDS] = {
  [BG_NOTE_DEVICE] = "device",
  [BG_NOTE_FIFO] = "fifo",
  [BG_NOTE_SOCKET] = "socket",
  [BG_NOTE_OVERLAY_WHITEOUT] = "overlay_whiteout",
  [BG_NOTE_XATTR] = "xattr",
  [BG_NOTE_OVERLAY_XATTR] = "overlay_xattr",
  [BG_NOTE_CAPABILITY_V2] = "capability_v2",
  [BG_NOTE_HARDLINKS_SPLIT] = "hardlinks_split",
  [BG_NOTE_TIME_CLAMPED] = "time_clamped",
  [BG_NOTE_LOST_FOUND] = "lost+found_replaced",
  [BG_NOTE_OWNER_REMAPPED] = "owner_remapped",
  [BG_NOTE_MOUNTPOINT] = "mountpoint_created",
  [BG_NOTE_REPLACED] = "replaced",
};

const char *bg_note_kind_name(int kind)
{
  if (kind <= 0 || kind >= BG_NOTE_KINDS)
    return "unknown";
  return kind_names[kind];
}

int bg_note_kind_of(const char *name)
{
  int k;

  for (k = 1; k < BG_NOTE_KINDS; k++)
    if (strcmp(kind_names[k], name) == 0)
      return k;
  return 0;
}

void bg_notes_init(struct bg_notes *ns)
{
  memset(ns, 0, sizeof(*ns));
}

static uint64_t hash_str(uint64_t h, const char *s)
{
  for (; *s != '\0'; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull;
}

/* Room for one more entry of len bytes of text: 0, or -1 past a cap or without memory. */
static int grow(struct bg_notes *ns, size_t len)
{
  struct bg_note *nv;
  size_t want;

  if (ns->n >= BG_NOTES_MAX || len > BG_NOTES_BYTES - ns->bytes)
    return -1;
  if (ns->n < ns->alloc)
    return 0;
  want = ns->alloc ? ns->alloc * 2 : 8;
  if (want > BG_NOTES_MAX)
    want = BG_NOTES_MAX;
  nv = realloc(ns->v, want * sizeof(*nv));
  if (nv == NULL)
    return -1;
  ns->v = nv;
  ns->alloc = want;
  return 0;
}

int bg_notes_add(struct bg_notes *ns, int kind, uint32_t layer, const char *path,
                 const char *fmt, ...)
{
  struct bg_note *e;
  char detail[512];
  size_t plen, dlen;
  uint64_t h;
  va_list ap;

  if (ns == NULL)
    return 0;
  if (kind <= 0 || kind >= BG_NOTE_KINDS)
    kind = 0;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  h = hash_str(14695981039346656037ull ^ ((uint64_t)layer << 8 | (uint64_t)kind), path);
  h = hash_str(h, detail);
  if (ns->total > 0 && h == ns->last)
    return 0;
  ns->last = h;
  ns->total++;
  ns->count[kind]++;
  plen = strlen(path);
  dlen = strlen(detail);
  if (grow(ns, plen + dlen + 2) != 0)
    return 1;
  e = &ns->v[ns->n];
  e->kind = kind;
  e->layer = layer;
  e->path = malloc(plen + 1);
  e->detail = malloc(dlen + 1);
  if (e->path == NULL || e->detail == NULL) {
    free(e->path);
    free(e->detail);
    return 1;
  }
  memcpy(e->path, path, plen + 1);
  memcpy(e->detail, detail, dlen + 1);
  ns->bytes += plen + dlen + 2;
  ns->n++;
  return 1;
}

uint64_t bg_notes_unlisted(const struct bg_notes *ns)
{
  return ns->total - ns->n;
}

void bg_notes_free(struct bg_notes *ns)
{
  size_t i;

  if (ns == NULL)
    return;
  for (i = 0; i < ns->n; i++) {
    free(ns->v[i].path);
    free(ns->v[i].detail);
  }
  free(ns->v);
  bg_notes_init(ns);
}
