/* Fixtures the C tests share: trees and their metadata, and layers written with libarchive and
 * applied to a tree. The helpers fail the running case through the harness, never return errors. */
#ifndef BG_FIXTURES_H
#define BG_FIXTURES_H

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>

#include "layer/layer.h"
#include "tree/tree.h"

/* An empty tree with the default limits. */
struct bg_tree *new_tree(void);

/* Metadata with mode, owner, and mtime, atime and ctime all at time (nanoseconds zero). */
struct bg_meta meta(uint32_t mode, uint32_t uid, uint32_t gid, int64_t time);

/* An empty host file at path (in the case's directory). */
void touch(const char *path);

/* ---- layers ---- */

enum { PLAIN = 0, GZIP = 1, ZSTD = 2 };
extern const char *const media[3]; /* the OCI layer media type of each compression */

/* One entry of a layer: type f file, d dir, l symlink, h hardlink, c/b devices, p fifo. */
struct ent {
  const char *name;
  char type;
  const char *data; /* file content or link target */
  unsigned mode;    /* 0: 0644 files, 0755 dirs, 0777 symlinks */
  int64_t uid, gid;
};

/* An entry written positionally, trailing fields left out (files using it turn off
 * -Wmissing-field-initializers). */
#define E(...) {__VA_ARGS__}

/* A layer writer on file: pax, or ustar when ustar is set. */
struct archive *lw_open(const char *file, int comp, int ustar);
/* The header of x, mtime 1700000000; the caller may adjust it before lw_put. */
struct archive_entry *mk(const struct ent *x);
/* Writes e and len bytes of data, then frees e. */
void lw_put(struct archive *a, struct archive_entry *e, const void *data, size_t len);
void lw_close(struct archive *a);
/* Writes an empty regular file entry named name (mode 0644, root's). */
void lw_empty(struct archive *a, const char *name);
void write_layer(const char *file, int comp, const struct ent *es, size_t n);

#define LAYER(file, comp, ...)                                                                     \
  do {                                                                                             \
    static const struct ent es_[] = {__VA_ARGS__};                                                 \
    write_layer(file, comp, es_, sizeof(es_) / sizeof(es_[0]));                                    \
  } while (0)

/* The error of the last apply_p, must_apply or fails. */
extern struct bg_error last_err;

/* Applies file as layer "L"; returns the status, the error in last_err. */
int apply_p(struct bg_tree *t, const char *file, int comp, const char *diff_id,
            const struct bg_layer_policy *p);
void must_apply(struct bg_tree *t, const char *file, int comp);
/* The error a one-layer tree made of file gives. */
const char *fails(const char *file, int comp);

/* ---- looking at a tree ---- */

/* The node at path (symlinks not followed), NULL when there is none. */
struct bg_node *find(struct bg_tree *t, const char *path);
/* The inode at path, which must exist. */
struct bg_inode *ino_of(struct bg_tree *t, const char *path);
/* A file's content, NUL-terminated, in a static buffer. */
const char *content(struct bg_tree *t, const char *path);
/* The sorted "/path" list of the tree, directories with "/", symlinks with "@", one space apart,
 * in a static buffer, for whole-tree comparisons. */
const char *listing(struct bg_tree *t);

#endif
