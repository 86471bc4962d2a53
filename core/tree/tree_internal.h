/* What the tree's own files and the layer reader share, and nobody else needs. */
#ifndef BG_TREE_INTERNAL_H
#define BG_TREE_INTERNAL_H

#include "tree.h"

struct bg_tree {
  struct bg_node *root;
  uint64_t entries;
  struct bg_tree_limits limits;
  uint32_t gen;            /* generation of the layer being replayed; 0 before any */
  uint64_t layer_bytes;    /* uncompressed layer bytes read into this tree, all layers */
  uint64_t layer_entries;  /* tar entries read into this tree, all layers */
  /* spool: one unlinked temporary file, appended through a write buffer */
  int spool_fd;
  uint64_t spool_size;     /* bytes appended so far, buffered ones included */
  unsigned char *spool_buf;
  size_t spool_buffered;
  /* the host file last read, kept open for sequential reads of one file */
  int host_fd;
  char *host_path;
};

/* A new directory named name in dir (which must not hold that name yet). */
struct bg_node *bg_tree_new_dir(struct bg_tree *t, struct bg_node *dir, const char *name,
                                size_t len, const struct bg_meta *m, struct bg_error *err);
void bg_spool_close(struct bg_tree *t);

#endif
