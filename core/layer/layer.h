/* Replaying image layers (tar streams, gzip, zstd or plain) into a tree, with the OCI whiteout
 * rules. Each blob is read once, as a stream: decompressed in-process, hashed (the DiffID, and
 * the blob's digest when asked), parsed by libarchive's tar reader, and every regular file's
 * bytes appended to a spool of the tree. Nothing is written to the host filesystem except the
 * spools.
 *
 * Rules (see README.md, banger.tree; paths through util/path.h):
 * - entry names: a leading "/" or any ".." component is "unsafe path"; "./a", "a//b", "a/" are
 *   normalised; an empty name is an error; a component over 255 bytes or a path over 4095 is an
 *   error (the tree refuses a name a symlink would lead deeper, too). Names are raw bytes, never
 *   converted between character sets.
 * - the root entry ("./", "/" is refused as absolute) changes nothing: the image writer decides
 *   the root's owner and mode. A root entry that is not a directory is an error.
 * - ".wh.NAME" removes NAME as lower layers left it; "DIR/.wh..wh..opq" removes everything lower
 *   layers put in DIR, wherever the marker is in the layer. What this layer itself wrote stays.
 *   Only the last component marks a whiteout (".wh.etc/x" is a file in a directory ".wh.etc").
 *   ".wh." with an empty, "." or ".." NAME is an error; other ".wh..wh.*" names, and what is
 *   below them, are AUFS bookkeeping and ignored. Whiteouts never appear in the tree.
 * - symlinks: absolute targets are kept as they are (they resolve inside the guest); a relative
 *   target that climbs above the root, read from the link's own directory, is "unsafe symlink";
 *   a target over 4095 bytes is an error.
 * - hardlinks: the target is a path in the image root (this or a lower layer's), read as a chroot
 *   would, an absolute one too; one climbing above the root is "unsafe hardlink"; a directory
 *   target is an error; the entry's own mode and owner do not change the shared inode.
 * - metadata: a negative PAX time with a fraction is read as written (libarchive loses the
 *   fraction's sign; the reader puts it back when a probe at start-up says it must).
 * - contents: files up to BG_LAYER_MEM_MAX bytes in memory, the others in the spool, their
 *   blocks of zeros and sparse holes as holes; logical sizes count against max_bytes.
 * - devices and fifos: skipped, or kept with BG_LAYER_DEVICES_KEEP unless Linux cannot encode
 *   the device number. A character device 0:0 (an overlayfs whiteout, which the OCI format does
 *   not define) is always dropped: it is neither a whiteout nor a device worth keeping; so are
 *   sockets.
 * - xattrs: dropped, or kept with BG_LAYER_XATTRS_KEEP (never trusted.overlay.*),
 *   security.capability v3 rewritten as v2 (the rootid of a user namespace means nothing in a
 *   VM); what the kernel could not show or ext4 could not hold is dropped, as is a malformed
 *   capability.
 * Everything left out or changed is a note on the tree (bg_tree_notes: the loss report), with
 * the layer's number; what Linux could not hold is a warning on the log too. */
#ifndef BG_LAYER_H
#define BG_LAYER_H

#include <stdint.h>

#include "../tree/tree.h"
#include "../util/error.h"

enum bg_layer_devices { BG_LAYER_DEVICES_SKIP = 0, BG_LAYER_DEVICES_KEEP = 1 };
enum bg_layer_xattrs { BG_LAYER_XATTRS_DROP = 0, BG_LAYER_XATTRS_KEEP = 1 };

/* Files up to this size keep their bytes in memory rather than in the spool. */
#define BG_LAYER_MEM_MAX 512

struct bg_layer_policy {
  int devices;          /* enum bg_layer_devices */
  int xattrs;           /* enum bg_layer_xattrs */
  uint64_t max_bytes;   /* uncompressed bytes read into this tree over all layers, and regular
                           files' logical bytes over all layers; 0: 64 GiB */
  uint64_t max_entries; /* tar entries read into this tree over all layers; 0: 8 million */
  unsigned parallel;    /* layers read at once, each on two threads of its own, applied in order
                           (0: 2; at most BG_TREE_SPOOLS) */
  /* called after each entry: the layer (0 for the first), blob bytes read so far in it, entries
   * of all layers; and when a layer is done */
  void (*progress)(void *ctx, size_t layer, uint64_t blob_bytes, uint64_t entries);
  void (*layer_done)(void *ctx, size_t layer);
  void *progress_ctx;
};

/* Media types this reader accepts, and the compression each implies. */
enum bg_layer_compression { BG_LAYER_PLAIN = 0, BG_LAYER_GZIP = 1, BG_LAYER_ZSTD = 2 };
/* Returns the compression for media_type, or -1 when it is not a layer media type. */
int bg_layer_compression_of(const char *media_type);

/* One layer to replay. */
struct bg_layer_src {
  const char *path;
  const char *media_type;
  const char *diff_id;     /* "sha256:<hex>", compared with the uncompressed stream's digest */
  const char *blob_digest; /* "sha256:<hex>", checked against the blob as it is read */
  const char *label;       /* names the layer in every message ("layer 2 (sha256:...) of x") */
};

/* Replays layers into t, oldest first: up to policy->parallel of them are read at once (each
 * inflated, hashed and parsed on threads of its own, its contents in a spool of its own) and
 * applied to the tree in order, so the result, the caps and the first error are what replaying
 * them one by one would give. diff_id and blob_digest are checked when not NULL. Messages read
 * "<label>: <entry>: <problem>". On failure the tree holds part of the layers and should be
 * discarded. */
int bg_layer_apply_all(struct bg_tree *t, const struct bg_layer_src *layers, size_t n,
                       const struct bg_layer_policy *policy, struct bg_error *err);

/* The same for one layer at path. label NULL is "layer". */
int bg_layer_apply(struct bg_tree *t, const char *path, const char *media_type,
                   const char *expected_diff_id, const struct bg_layer_policy *policy,
                   const char *label, struct bg_error *err);

/* The DiffID of a blob without replaying it: the digest of its uncompressed stream, read through
 * the same decompressor. out holds BG_DIGEST_STRLEN bytes. */
int bg_layer_diff_id(const char *path, const char *media_type, char *out, struct bg_error *err);

#endif
