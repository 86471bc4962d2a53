/* What the tree's own files share, and nobody else needs. */
#ifndef BG_TREE_INTERNAL_H
#define BG_TREE_INTERNAL_H

#include <stdatomic.h>

#include "tree.h"

/* A spool's write buffer holds file bytes; extents say where in the spool each run goes, so
 * holes between them cost neither buffer space nor disk. */
#define BG_SPOOL_EXTENTS 256
struct bg_spool_extent {
  uint64_t off;  /* in the spool */
  size_t len;
};

/* One spool: an unlinked temporary file, written through a buffer of extents by one thread at
 * a time. */
struct bg_spool {
  unsigned index;          /* in the tree's spools, what a content record names */
  uint64_t limit;          /* the tree's max_spool_bytes */
  int fd;
  char *dir;
  uint64_t size;           /* logical bytes so far: appended, holes and padding */
  uint64_t flushed;        /* every byte below this offset is in the file (or a hole in it) */
  uint64_t filesize;       /* the file's size on disk */
  unsigned char *buf;
  size_t buffered;
  struct bg_spool_extent ext[BG_SPOOL_EXTENTS];
  size_t next;             /* extents in use */
  atomic_int no_copy_range; /* copy_file_range refused once: pread and pwrite from then on */
};

struct bg_tree {
  struct bg_node *root;
  uint64_t entries;
  struct bg_tree_limits limits;
  uint32_t gen;            /* generation of the layer being replayed; 0 before any */
  struct bg_tree_layer_totals layers;
  struct bg_notes notes;   /* for the build's loss report */
  /* spools, made on first use */
  struct bg_spool *spools[BG_TREE_SPOOLS];
  /* the host file last read, kept open for sequential reads of one file */
  int host_fd;
  char *host_path;
};

/* ---- directory index (dirindex.c) ---- */
struct bg_dirindex *bg_dirindex_new(void);
void bg_dirindex_free(struct bg_dirindex *d);
int bg_dirindex_insert(struct bg_dirindex *d, struct bg_node *node);
void bg_dirindex_delete(struct bg_dirindex *d, struct bg_node *node);
/* Calls fn on every child, in no order; the index must not change meanwhile. */
void bg_dirindex_each(struct bg_dirindex *d, void (*fn)(struct bg_node *child, void *ctx),
                      void *ctx);

/* ---- inodes (inode.c) ---- */
struct bg_inode *bg_inode_new(uint32_t mode, const struct bg_meta *m);
void bg_inode_free(struct bg_inode *ino);
/* Drops one name's reference; frees the inode with its last name. */
void bg_inode_unref(struct bg_inode *ino);
/* Sets permission bits, owner and times from m; the type stays. */
void bg_inode_set_attrs(struct bg_inode *ino, const struct bg_meta *m);

/* ---- resolving paths (resolve.c) ---- */
struct bg_resolved {
  struct bg_node *dir;  /* directory holding the last component */
  struct bg_node *node; /* what the path names, or NULL if the last component is missing */
  char last[BG_TREE_NAME_MAX + 1]; /* "" when the path names the root or a target's ".." */
};
/* The one resolver: chroot semantics, symlinks followed on the way (and at the end with
 * BG_FOLLOW; nowhere with BG_EXACT), missing directories created with BG_PARENTS, their times
 * `when`. */
int bg_tree_resolve(struct bg_tree *t, const char *path, int flags, const struct bg_time *when,
                    struct bg_resolved *r, struct bg_error *err);

/* ---- the tree (tree.c) ---- */
/* A new name for ino in dir (which must not hold that name yet), within the caps and
 * BG_PATH_MAX; the inode gains a link. */
struct bg_node *bg_tree_node_new(struct bg_tree *t, struct bg_node *dir, const char *name,
                                 size_t len, struct bg_inode *ino, struct bg_error *err);
/* A new directory named name in dir (which must not hold that name yet). */
struct bg_node *bg_tree_new_dir(struct bg_tree *t, struct bg_node *dir, const char *name,
                                size_t len, const struct bg_meta *m, struct bg_error *err);

/* ---- contents (content.c) ---- */
void bg_tree_spools_close(struct bg_tree *t);

#endif
