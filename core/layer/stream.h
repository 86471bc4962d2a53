/* A layer blob as a stream of uncompressed bytes: gzip (ISA-L), zstd or plain, decompressed
 * in-process, counted, and hashed as the bytes pass: the blob's own sha256 when it is to be
 * checked, the DiffID always. With a thread of its own the stream reads and inflates ahead of
 * its reader through a small ring of buffers, so the two share the work of one layer on two
 * cores. Private to core/layer. */
#ifndef BG_LAYER_STREAM_H
#define BG_LAYER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "../digest/digest.h"
#include "../util/error.h"

struct bg_lstream;

struct bg_lstream_opts {
  int compression;      /* enum bg_layer_compression */
  uint64_t max_bytes;   /* the cap on uncompressed bytes of all layers of a tree... */
  uint64_t used;        /* ...of which earlier layers used this much: past it is BG_ETOOBIG */
  const char *blob_hex; /* the blob's sha256 (hex) to check at the end, or NULL */
  int threaded;         /* read and inflate on a thread of the stream's own */
  int hash_ahead;       /* with threaded: hash the DiffID on that thread, not the reader's */
};

/* Opens path and checks its first bytes against the compression. */
struct bg_lstream *bg_lstream_open(const char *path, const struct bg_lstream_opts *o,
                                   struct bg_error *err);
/* The next uncompressed bytes (valid until the next call); *n is 0 at the end of the stream. */
int bg_lstream_read(struct bg_lstream *s, const void **p, size_t *n, struct bg_error *err);
/* Reads what is left (the tar reader stops at the end-of-archive blocks), checks the blob's
 * digest when asked to, and writes the digest of the whole uncompressed stream as
 * "sha256:<hex>" into out (BG_DIGEST_STRLEN bytes). */
int bg_lstream_finish(struct bg_lstream *s, char *out, struct bg_error *err);
/* Uncompressed bytes handed to the reader so far. */
uint64_t bg_lstream_total(const struct bg_lstream *s);
/* Bytes of the blob read so far (compressed, as stored): at most one ring ahead of the reader
 * when threaded. */
uint64_t bg_lstream_blob_bytes(const struct bg_lstream *s);
/* Stops the stream's thread, if any, and frees everything. */
void bg_lstream_close(struct bg_lstream *s);

#endif
