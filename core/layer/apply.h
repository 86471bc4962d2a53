/* Replaying a layer's records (decode.h) into the tree, on the caller's thread. Private to
 * core/layer. */
#ifndef BG_LAYER_APPLY_H
#define BG_LAYER_APPLY_H

#include "decode.h"

struct bg_apply {
  struct bg_tree *t;
  const struct bg_layer_policy *policy;
  const char *label;
  size_t layer; /* 0 for the first */
  const char *diff_id; /* expected, or NULL */
  uint64_t max_bytes, max_entries;
  struct bg_tree_layer_totals *totals; /* the tree's: updated as records are applied */
  uint64_t bytes_below; /* uncompressed bytes of the layers below this one */
  int ended;            /* the layer's last record was applied */
};

/* Applies a batch; stops at the first error (the entry named, not yet the layer). */
int bg_apply_batch(struct bg_apply *ap, struct bg_batch *b, struct bg_error *err);

#endif
