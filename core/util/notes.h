/* The loss report's model: every change a build makes to what the layers say, recorded as data
 * (kind, path, layer, detail) so a caller can count, list and report it, not only log it. The
 * tree keeps the notes of flattening and of the pipeline's edits, an ext4 image those of its
 * writer and editor; both are lists of this one shape.
 *
 * A list keeps at most BG_NOTES_MAX entries and BG_NOTES_BYTES of their text, both fixed when it
 * is made; past them an entry is only counted, by kind, so the counts are always whole. */
#ifndef BG_NOTES_H
#define BG_NOTES_H

#include <stddef.h>
#include <stdint.h>

#define BG_NOTES_MAX 100000              /* entries listed; more are counted only */
#define BG_NOTES_BYTES ((size_t)16 << 20) /* bytes of paths and details listed */

/* What happened. Names (bg_note_kind_name) are the report's words; keep them stable. */
enum bg_note_kind {
  BG_NOTE_DEVICE = 1,       /* "device": a device node of a layer left out */
  BG_NOTE_FIFO,             /* "fifo": a fifo of a layer left out */
  BG_NOTE_SOCKET,           /* "socket": a socket of a layer left out (always) */
  BG_NOTE_OVERLAY_WHITEOUT, /* "overlay_whiteout": a character device 0:0 left out (always) */
  BG_NOTE_XATTR,            /* "xattr": an xattr dropped, by policy or as Linux cannot hold it */
  BG_NOTE_OVERLAY_XATTR,    /* "overlay_xattr": a trusted.overlay.* xattr dropped (always) */
  BG_NOTE_CAPABILITY_V2,    /* "capability_v2": a v3 security.capability rewritten as v2 */
  BG_NOTE_HARDLINKS_SPLIT,  /* "hardlinks_split": names over ext4's link limit split */
  BG_NOTE_TIME_CLAMPED,     /* "time_clamped": a time outside ext4's range clamped */
  BG_NOTE_LOST_FOUND,       /* "lost+found_replaced": a non-directory /lost+found replaced */
  BG_NOTE_OWNER_REMAPPED,   /* "owner_remapped": uid or gid changed by a remap policy */
  BG_NOTE_MOUNTPOINT,       /* "mountpoint_created": a mount point the guest needs, made */
  BG_NOTE_REPLACED,         /* "replaced": an entry of the layers replaced by an injected one */
  BG_NOTE_KINDS             /* one past the last kind */
};

struct bg_note {
  int kind;       /* enum bg_note_kind */
  uint32_t layer; /* the layer it came from (1 for the base), 0 for what the build did after */
  char *path;     /* the path inside the image it is about: "/usr/bin/ping" */
  char *detail;   /* one line for people: "xattr security.capability (xattrs=drop)" */
};

struct bg_notes {
  struct bg_note *v;
  size_t n, alloc;
  size_t bytes;                     /* of the paths and details in v */
  uint64_t total;                   /* every note made, listed or not */
  uint64_t count[BG_NOTE_KINDS];    /* by kind, listed or not */
  uint64_t last;                    /* a hash of the last note, to say nothing twice in a row */
};

void bg_notes_init(struct bg_notes *ns);
/* Adds one note. Never fails: a note past the caps, or that finds no memory, is counted only.
 * The same note as the one before it (same kind, layer, path and detail) is not made again: an
 * entry may say one thing twice. Returns 1 when the note was made, 0 for such a repeat. */
int bg_notes_add(struct bg_notes *ns, int kind, uint32_t layer, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Entries counted but not listed. */
uint64_t bg_notes_unlisted(const struct bg_notes *ns);
void bg_notes_free(struct bg_notes *ns);

/* "device", "xattr", ... ; "unknown" for anything else. */
const char *bg_note_kind_name(int kind);
/* The kind of a name, or 0 when it names none. */
int bg_note_kind_of(const char *name);

#endif
