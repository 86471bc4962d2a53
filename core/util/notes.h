/* Things a build changed or dropped to make an image the kernel accepts, recorded as data
 * (kind, path, detail) so a caller can report them, not only log them. The list has a cap fixed
 * when it is made; past it only a count is kept. */
#ifndef BG_NOTES_H
#define BG_NOTES_H

#include <stddef.h>

#define BG_NOTES_CAP 10000 /* entries kept; more are counted in `dropped` */

struct bg_note {
  char *kind;   /* a short fixed word: "hardlinks_split", "time_clamped", ... */
  char *path;   /* the path inside the image it is about */
  char *detail; /* one line for people */
};

struct bg_notes {
  struct bg_note *v;
  size_t n, alloc;
  size_t dropped; /* notes past the cap, or lost to a failed allocation */
};

void bg_notes_init(struct bg_notes *ns);
/* Adds one note; never fails (a note that cannot be kept is counted in `dropped`). */
void bg_notes_add(struct bg_notes *ns, const char *kind, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Moves every note of from to the end of to; from is left empty. */
void bg_notes_move(struct bg_notes *to, struct bg_notes *from);
void bg_notes_free(struct bg_notes *ns);

#endif
