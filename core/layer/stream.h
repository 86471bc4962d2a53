/* A layer blob as a stream of uncompressed bytes: gzip, zstd or plain, decompressed in-process,
 * sha256-hashed and counted as the bytes pass. Private to core/layer. */
#ifndef BG_LAYER_STREAM_H
#define BG_LAYER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "../digest/digest.h"
#include "../util/error.h"

struct bg_lstream;

/* Opens path and checks its first bytes against compression (enum bg_layer_compression).
 * max_bytes caps the uncompressed bytes of all layers of a tree, of which earlier layers used
 * `used`: going past it is a BG_ETOOBIG error. */
struct bg_lstream *bg_lstream_open(const char *path, int compression, uint64_t max_bytes,
                                   uint64_t used, struct bg_error *err);
/* The next uncompressed bytes (valid until the next call); *n is 0 at the end of the stream. */
int bg_lstream_read(struct bg_lstream *s, const void **p, size_t *n, struct bg_error *err);
/* Reads what is left (the tar reader stops at the end-of-archive blocks) and writes the digest
 * of the whole uncompressed stream as "sha256:<hex>" into out (BG_DIGEST_STRLEN bytes). */
int bg_lstream_finish(struct bg_lstream *s, char *out, struct bg_error *err);
uint64_t bg_lstream_total(const struct bg_lstream *s);
/* Bytes of the blob read so far (compressed, as stored). */
uint64_t bg_lstream_blob_bytes(const struct bg_lstream *s);
void bg_lstream_close(struct bg_lstream *s);

#endif
