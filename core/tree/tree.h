/* The merged filesystem tree: what the layers of an image add up to, held in memory.
 *
 * A node is a name in a directory; an inode is what names point to (several names for a hardlink).
 * Metadata is O(entries); file bytes live elsewhere (struct bg_content says where). Paths given to
 * these functions are inside the tree and read under util/path.h's BG_PATH_API policy: "/a/b",
 * "a/b" and "a//b/" are the same path, "." and ".." components are refused. A lookup follows
 * symlinks the way a chroot would (absolute targets start at the tree's root, ".." in a target
 * stops at the root, more than BG_TREE_MAX_HOPS symlinks is ELOOP), so nothing ever resolves
 * outside it. No node's absolute path is longer than BG_PATH_MAX bytes: what would be deeper is
 * refused where it would be made, so every name can be walked, looked up and shown to a recipe. */
#ifndef BG_TREE_H
#define BG_TREE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "../util/error.h"
#include "../util/path.h"
#include "../util/notes.h"

#define BG_TREE_MAX_HOPS 40
#define BG_TREE_NAME_MAX 255  /* bytes in one path component (ext4's limit) */
#define BG_TREE_PATH_MAX 4096 /* a buffer for any path or symlink target and its NUL: both are at
                                 most BG_PATH_MAX (4095) bytes */
#define BG_TREE_SYMLINK_MAX BG_PATH_MAX /* what ext4 stores at 4 KiB blocks, and Linux reads */

struct bg_time {
  int64_t sec; /* may be negative (before 1970) or past 2038 */
  uint32_t nsec;
};

/* What a new entry looks like. mode holds permission bits only (07777: setuid/setgid/sticky too);
 * the type comes from the function called. Ids are numeric and may exceed 65535. */
struct bg_meta {
  uint32_t mode;
  uint32_t uid;
  uint32_t gid;
  struct bg_time mtime;
  struct bg_time atime;
  struct bg_time ctime;
};

enum bg_content_kind {
  BG_CONTENT_NONE = 0, /* empty file */
  BG_CONTENT_MEM,      /* bytes owned by the inode (small files, recipe-written files) */
  BG_CONTENT_SPOOL,    /* bytes at offset in the tree's spool file */
  BG_CONTENT_HOST,     /* bytes of a host file, read when the image is written */
};

/* One of offset, mem and host_path, as kind says (a million small files are a million of these). */
struct bg_content {
  uint16_t kind;       /* enum bg_content_kind */
  uint16_t flags;      /* BG_CONTENT_DENSE */
  uint32_t spool;      /* SPOOL: which of the tree's spools */
  union {
    uint64_t offset;     /* SPOOL */
    unsigned char *mem;  /* MEM: owned */
    char *host_path;     /* HOST: owned */
  };
};

/* SPOOL: every block of the content holds data (none is a hole), as the layer reader knows. */
#define BG_CONTENT_DENSE 1

/* Frees what a content record owns and empties it. */
void bg_content_clear(struct bg_content *c);

struct bg_xattr {
  char *name; /* full name with namespace prefix: "security.capability", "user.x" */
  unsigned char *value;
  size_t len;
};

struct bg_node;

/* Fields ordered so that none needs padding: the tree holds one of these per file. */
struct bg_inode {
  uint32_t mode; /* S_IFREG/S_IFDIR/S_IFLNK/S_IFCHR/S_IFBLK/S_IFIFO/S_IFSOCK | 07777 */
  uint32_t uid;
  uint32_t gid;
  uint32_t nlink;        /* names in the tree that refer to this inode */
  struct bg_time mtime;
  struct bg_time atime;
  struct bg_time ctime;
  uint64_t size;         /* regular file: content bytes; symlink: target length */
  uint64_t zero_blocks;  /* regular file: 4 KiB blocks of content known to be all zeros, which
                            become holes in the spool and in the image */
  char *target;          /* symlink target, owned */
  struct bg_xattr *xattrs; /* owned, sorted by name */
  void *user;            /* free for a writer's bookkeeping */
  struct bg_content content;
  uint32_t rdev_major;   /* character and block devices */
  uint32_t rdev_minor;
  uint32_t nxattrs;
  uint32_t ino;          /* free for a writer to record the inode number it chose; 0 at first */
};

struct bg_dirindex; /* a directory's children: hashed by name, sorted on demand */

/* One allocation per name, the name at its end. */
struct bg_node {
  struct bg_node *parent;  /* the root's parent is itself */
  struct bg_inode *inode;
  struct bg_dirindex *children; /* directories only */
  uint32_t namelen;
  uint32_t gen; /* the layer that last wrote this name or something below it (see
                   bg_tree_begin_layer); 0 for names made outside a layer */
  uint32_t clean_gen; /* directories: a layer during which nothing below is known to come from
                         a lower layer (made in it, or made opaque in it) */
  uint32_t pathlen;   /* bytes of the absolute path ("/a/b" is 4; 0 for the root) */
  char name[];        /* one component, NUL-terminated; "" for the root */
};

struct bg_tree;

/* Caps that turn a hostile image into a clean error instead of exhausted memory or disk. */
struct bg_tree_limits {
  uint64_t max_entries;     /* names in the tree */
  uint64_t max_spool_bytes; /* bytes written to the spool */
};

struct bg_tree *bg_tree_new(const struct bg_tree_limits *limits, struct bg_error *err);
void bg_tree_free(struct bg_tree *t);
struct bg_node *bg_tree_root(struct bg_tree *t);
uint64_t bg_tree_entries(const struct bg_tree *t);

/* Looks a path up. BG_FOLLOW also follows a symlink in the last component; BG_EXACT follows no
 * symlink anywhere, so the path must be a node's own path (a symlink on the way is "not a
 * directory"). Missing: BG_ENOTFOUND. */
#define BG_FOLLOW 1
#define BG_EXACT 8
int bg_tree_lookup(struct bg_tree *t, const char *path, int flags, struct bg_node **out,
                   struct bg_error *err);

/* Finds the directory that would hold path (following symlinks on the way) and the last
 * component. With BG_PARENTS, missing directories on the way are created 0755 0:0 with `when` as
 * their times. A path naming the root itself is BG_EINVAL. */
#define BG_PARENTS 2
int bg_tree_parent(struct bg_tree *t, const char *path, int flags, const struct bg_time *when,
                   struct bg_node **dir, char *last, struct bg_error *err);

/* Creating entries. Layer semantics: if path exists and both it and the new entry are
 * directories, only the attributes change (or nothing, with BG_KEEP); in every other case the old
 * entry (a whole subtree, if a directory) is removed first. flags may hold BG_PARENTS. */
#define BG_KEEP 4
int bg_tree_mkdir(struct bg_tree *t, const char *path, const struct bg_meta *m, int flags,
                  struct bg_node **out, struct bg_error *err);
/* content is moved into the inode (the caller's struct is cleared); size is the byte count. */
int bg_tree_add_file(struct bg_tree *t, const char *path, const struct bg_meta *m,
                     struct bg_content *content, uint64_t size, int flags, struct bg_node **out,
                     struct bg_error *err);
int bg_tree_symlink(struct bg_tree *t, const char *path, const char *target,
                    const struct bg_meta *m, int flags, struct bg_node **out,
                    struct bg_error *err);
/* type is S_IFCHR, S_IFBLK, S_IFIFO or S_IFSOCK. */
int bg_tree_mknod(struct bg_tree *t, const char *path, uint32_t type, const struct bg_meta *m,
                  uint32_t major, uint32_t minor, int flags, struct bg_node **out,
                  struct bg_error *err);
/* A new name for the inode at `existing` (not followed: a hardlink to a symlink shares the
 * symlink's inode). Directories cannot be linked. */
int bg_tree_link(struct bg_tree *t, const char *path, const char *existing, int flags,
                 struct bg_node **out, struct bg_error *err);

/* Removes a name (a directory with everything below it; no recursion on the C stack). Removing
 * the root is BG_EINVAL; a missing path is BG_ENOTFOUND. */
int bg_tree_remove(struct bg_tree *t, const char *path, struct bg_error *err);
/* Removes node (not the root) and everything below it. */
void bg_tree_remove_node(struct bg_tree *t, struct bg_node *node);

/* A directory's children sorted bytewise by name. The array belongs to the directory and stays
 * valid until the directory changes. */
struct bg_node *const *bg_node_children(struct bg_node *dir, size_t *n);
/* One child by name (exact bytes), or NULL. */
struct bg_node *bg_node_child(struct bg_node *dir, const char *name, size_t namelen);
/* Writes the node's absolute path ("/" for the root) into buf; BG_ETOOBIG if it does not fit. */
int bg_node_path(const struct bg_node *node, char *buf, size_t size, struct bg_error *err);

/* Visits every node in sorted pre-order (a directory before its children), root first. A
 * non-zero return from fn stops the walk and is returned. Iterative: deep trees are fine. */
typedef int (*bg_tree_visit_fn)(struct bg_node *node, void *ctx);
int bg_tree_walk(struct bg_tree *t, bg_tree_visit_fn fn, void *ctx);

/* Sets (or with value NULL removes) one extended attribute. What the kernel could not show or
 * ext4 could not hold is refused with BG_EINVAL (see bg_xattr_problem) or BG_ETOOBIG (the
 * inode's xattrs would not fit one 4 KiB block). */
int bg_inode_set_xattr(struct bg_inode *ino, const char *name, const void *value, size_t len,
                       struct bg_error *err);
/* Why an xattr cannot go on an inode of type mode (S_IFMT bits), or NULL when it can: a name
 * (namelen bytes) over 255 bytes or holding a NUL, outside the namespaces Linux knows (user.,
 * trusted., security., system.posix_acl_access and system.posix_acl_default), with nothing after
 * its prefix, user.* on anything but a file or directory (the kernel hides those), or a POSIX ACL
 * value the kernel would not read back. */
const char *bg_xattr_problem(const char *name, size_t namelen, const void *value, size_t len,
                             uint32_t mode);

/* Device numbers Linux can encode: a major below 4096, a minor below 2^20. */
#define BG_DEV_MAJOR_MAX 4095u
#define BG_DEV_MINOR_MAX 0xfffffu

/* File contents. A spool is a sequential temporary file in $TMPDIR, unlinked from the start so
 * nothing is left behind whatever happens; a tree has up to BG_TREE_SPOOLS of them, so layers
 * read at the same time each write their own (one thread writes a spool at a time). A file's
 * bytes go in after bg_spool_begin, which puts them at a 4 KiB boundary (so a file's blocks are
 * the spool's) and checks that size more bytes fit under the tree's cap; appends then give the
 * bytes, holes the runs of zeros, which take no space in the spool. The cap counts both (a
 * file's logical size) for each spool. A write that would leave TMPDIR's filesystem with less
 * than a small reserve fails cleanly before the filesystem does. Append returns the offset its
 * bytes start at. */
#define BG_TREE_SPOOLS 4
struct bg_spool;
/* The tree's spool number i (below BG_TREE_SPOOLS); its file is made at the first write. */
struct bg_spool *bg_tree_spool(struct bg_tree *t, unsigned i, struct bg_error *err);
unsigned bg_spool_index(const struct bg_spool *s);
int bg_spool_begin(struct bg_spool *s, uint64_t size, uint64_t *offset, struct bg_error *err);
int bg_spool_append(struct bg_spool *s, const void *p, size_t n, uint64_t *offset,
                    struct bg_error *err);
int bg_spool_hole(struct bg_spool *s, uint64_t n, struct bg_error *err);
/* Writes out what is buffered, so the file holds every byte given so far. */
int bg_spool_flush(struct bg_spool *s, struct bg_error *err);
/* The same on spool 0. */
int bg_tree_spool_begin(struct bg_tree *t, uint64_t size, uint64_t *offset, struct bg_error *err);
int bg_tree_spool_append(struct bg_tree *t, const void *p, size_t n, uint64_t *offset,
                         struct bg_error *err);
int bg_tree_spool_hole(struct bg_tree *t, uint64_t n, struct bg_error *err);
/* The spools' logical size and the bytes their files take on disk (st_blocks, what du shows),
 * summed. */
int bg_tree_spool_usage(struct bg_tree *t, uint64_t *logical, uint64_t *allocated,
                        struct bg_error *err);
/* Reads up to n bytes of a regular file's content from off; *got is 0 at the end. */
int bg_tree_read(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, void *buf, size_t n,
                 size_t *got, struct bg_error *err);
/* The first offset at or after off where a regular file's content may hold data, its size when
 * none is left: what lies before is a hole (of a sparse entry, a run of zeros), reading as
 * zeros. Content whose holes are not known says off; dense content asks no one. */
int bg_tree_next_data(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, uint64_t *data,
                      struct bg_error *err);
/* The first offset at or after off where such a hole starts, its size when none does: the data
 * found by bg_tree_next_data runs up to there. */
int bg_tree_next_hole(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, uint64_t *hole,
                      struct bg_error *err);

/* Where n bytes of a regular file's spool content from off are: the spool's descriptor (the
 * tree's: dup it to read past the tree's life), the offset in it, the spool's directory (for
 * messages), and the flag bg_copy_range keeps for copies from that spool. The spool is flushed
 * up to there first. */
struct bg_tree_range {
  int fd;
  uint64_t at;
  const char *dir;
  atomic_int *no_range;
};
int bg_tree_spool_range(struct bg_tree *t, const struct bg_inode *ino, uint64_t off, uint64_t n,
                        struct bg_tree_range *r, struct bg_error *err);

/* Layers. Each layer replayed into the tree gets a generation number, so whiteouts can tell
 * what lower layers put there from what the current layer did. Returns the new generation (1 for
 * the first layer). */
uint32_t bg_tree_begin_layer(struct bg_tree *t);
uint32_t bg_tree_layer_gen(const struct bg_tree *t);
/* Marks node and its ancestors as written by the current layer. */
void bg_tree_touch(struct bg_tree *t, struct bg_node *node);
/* Removes everything lower layers put below dir; what the current layer wrote stays. A directory
 * made opaque stays so for the rest of the layer: asking again costs nothing, and each directory
 * is searched at most once a layer. Iterative. */
int bg_tree_make_opaque(struct bg_tree *t, struct bg_node *dir, struct bg_error *err);

/* What the layers replayed into a tree added up to, for the caps that span layers. The layer
 * reader keeps these counts; they live with the tree they describe. */
struct bg_tree_layer_totals {
  uint64_t bytes;   /* uncompressed layer bytes */
  uint64_t entries; /* tar entries */
  uint64_t content; /* regular files' logical bytes (a sparse file's holes count) */
};
struct bg_tree_layer_totals *bg_tree_layer_totals(struct bg_tree *t);

/* Notes: what the tree dropped or changed on the way in, for the build's loss report
 * (util/notes.h): what happened (kind), to which path, in which layer and why. layer is the
 * layer being replayed (bg_tree_layer_gen) for what a layer said, 0 for what the build changed
 * after. Returns 1 when the note was made, 0 when it repeats the one before it. */
int bg_tree_note(struct bg_tree *t, uint32_t layer, int kind, const char *path, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
/* The notes, in the order they were made, with their counts by kind. */
const struct bg_notes *bg_tree_notes(const struct bg_tree *t);

struct bg_tree_stats {
  uint64_t entries;     /* names */
  uint64_t inodes;      /* distinct inodes, the root included */
  uint64_t files, dirs, symlinks, specials;
  uint64_t bytes;       /* content bytes of regular files, each inode counted once */
  uint64_t data_blocks; /* blocks of block_size needed for file data, slow symlinks, directory
                           blocks and xattr blocks, an estimate that errs high */
};
void bg_tree_stats(struct bg_tree *t, uint32_t block_size, struct bg_tree_stats *s);

#endif
