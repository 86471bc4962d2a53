/* Between a layer's reader (decode.c: a thread per layer, which inflates, hashes, parses the tar
 * stream, checks names and links and spools contents) and the tree (apply.c, on the caller's
 * thread, which replays the layers in order): records, one or more per tar entry, in batches.
 * Every rule that needs the tree (whiteouts, hardlink targets, paths through symlinks) and every
 * cap that spans layers is applied in order, so a layer read ahead of its turn fails exactly
 * where and how it would have alone. Private to core/layer. */
#ifndef BG_LAYER_DECODE_H
#define BG_LAYER_DECODE_H

#include <stdatomic.h>
#include <stdint.h>

#include "layer.h"
#include "../util/chan.h"

#define BG_LAYER_SHOW_MAX 200 /* bytes of an entry name quoted in a message */

enum bg_rec_kind {
  BG_REC_SKIP = 1, /* an entry that changes nothing: the root, AUFS bookkeeping, a skipped node */
  BG_REC_DIR,
  BG_REC_FILE,
  BG_REC_SYMLINK,
  BG_REC_NODE,     /* a device or fifo */
  BG_REC_LINK,     /* a hardlink: the target in str */
  BG_REC_WHITEOUT, /* BG_REC_OPAQUE or the name after ".wh." */
  BG_REC_NOTE,     /* something of the entry before was dropped: kind in code, detail in str */
  BG_REC_LOG,      /* a line for the log: level in code, text in str */
  BG_REC_ERROR,    /* the layer failed: code, message in str (naming the entry); with
                      BG_REC_ENTRY it counts as an entry first */
  BG_REC_END,      /* the layer's last record: its DiffID in str */
};

#define BG_REC_ENTRY 1  /* flags: an error that counts as an entry */
#define BG_REC_OPAQUE 2 /* flags: a whiteout that is an opaque marker */
#define BG_REC_LABELLED 4 /* flags: a log line that names the layer first */
#define BG_REC_WARN 8   /* flags: a note of what Linux cannot hold, a warning on the log too */

/* One record; strings follow it: the cleaned path, str, the entry's name as shown in messages,
 * each NUL-terminated, then the xattrs (u32 value length, name NUL-terminated, value). */
struct bg_rec {
  uint32_t len; /* with what follows, a multiple of 8 */
  uint16_t kind;
  uint16_t flags;
  int32_t code;
  uint32_t path_len, str_len, shown_len, xattrs_len, nxattrs;
  uint32_t ifmt; /* BG_REC_NODE */
  uint32_t major, minor;
  struct bg_meta m;
  uint64_t size, zero_blocks; /* BG_REC_FILE */
  struct bg_content c;        /* BG_REC_FILE: SPOOL or MEM (owned by the record until applied) */
  uint64_t stream_total;      /* uncompressed bytes the tar reader had been given */
  uint64_t blob_bytes;        /* of the blob read by then */
  char data[];
};

#define BG_BATCH_SIZE (64 * 1024)
struct bg_batch {
  size_t used;
  unsigned char data[BG_BATCH_SIZE];
};

static inline const char *bg_rec_path(const struct bg_rec *r)
{
  return r->data;
}
static inline const char *bg_rec_str(const struct bg_rec *r)
{
  return r->data + r->path_len + 1;
}
static inline const char *bg_rec_shown(const struct bg_rec *r)
{
  return r->data + r->path_len + 1 + r->str_len + 1;
}
static inline const unsigned char *bg_rec_xattrs(const struct bg_rec *r)
{
  return (const unsigned char *)r->data + r->path_len + r->str_len + r->shown_len + 3;
}

/* Frees a batch and what its records still own. */
void bg_batch_free(struct bg_batch *b);

/* What a layer's reader needs; it owns nothing of it. */
struct bg_decode {
  const char *path;
  int compression;
  const char *blob_hex; /* checked at the end when not NULL */
  const struct bg_layer_policy *policy;
  uint64_t max_bytes, max_entries;
  uint64_t used_bytes, used_content; /* by the layers below, as far as known at the start */
  struct bg_spool *spool;            /* this reader's alone while it runs */
  struct bg_chan *out;               /* batches to the tree, closed by the reader when done */
  atomic_int *cancel;                /* set when nobody wants the rest */
};

/* The reader: runs to the end of the layer (or its first error, sent as a record), then closes
 * out. As a thread's function: arg is a struct bg_decode. */
void *bg_layer_decode(void *arg);

/* An entry name fit for a message: non-printable bytes as \xNN, long names cut. */
void bg_layer_show(const char *raw, char *out, size_t cap);

#endif
