/* ext4 images through libext2fs: a writer that lays a whole tree out in one pass, and an editor
 * with debugfs-style primitives that works on any ext4 image (ours or mkfs.ext4's).
 *
 * Paths given to the editor are inside the image and resolve the way a chroot would: absolute
 * symlink targets restart at the image root, ".." stops at the root, more than BG_EXT4_MAX_HOPS
 * symlinks is an error. Nothing an image contains can send a write outside it. */
#ifndef BG_EXT4_H
#define BG_EXT4_H

#include <stddef.h>
#include <stdint.h>

#include "../tree/tree.h"
#include "../util/error.h"
#include "../util/notes.h"

#define BG_EXT4_MIN_SIZE ((uint64_t)64 << 20)  /* the smallest image the writer makes */
#define BG_EXT4_MAX_SIZE ((uint64_t)128 << 40) /* the largest: 2^35 blocks, no meta_bg needed */
#define BG_EXT4_BLOCK_SIZE 4096
#define BG_EXT4_INODE_SIZE 256
#define BG_EXT4_MAX_HOPS 40
#define BG_EXT4_LINK_MAX 65000 /* names one inode holds; the writer splits more over copies */

struct bg_ext4_opts {
  uint64_t size;           /* bytes; rounded down to whole blocks; BG_EXT4_MIN_SIZE..MAX_SIZE */
  const char *label;       /* volume label, at most 16 bytes; NULL for none */
  const char *seed;        /* UUID and directory hash seed derive from it; NULL: random */
  int have_uuid;           /* uuid below wins over the seed's */
  unsigned char uuid[16];
  int journal;             /* non-zero: an internal journal of the size mkfs.ext4 would pick */
  uint64_t inodes;         /* inode count; 0: from inode_ratio, grown to fit the tree */
  uint32_t inode_ratio;    /* bytes per inode; 0: mkfs.ext4's (16384, 32768 from 4 TiB, 65536
                              from 16 TiB) */
  uint32_t reserved_permille; /* blocks reserved for root, in 1/1000; mkfs.ext4 uses 50 */
  int have_time;           /* every filesystem timestamp becomes `time` (SOURCE_DATE_EPOCH) */
  int64_t time;
  /* bg_ext4_build calls it as inodes are written: done of total, now and then and at the end */
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *progress_ctx;
};

/* Defaults: journal on, 5% reserved, no label, random UUID, current time. */
void bg_ext4_opts_init(struct bg_ext4_opts *o);

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
int bg_ext4_parse_uuid(const char *s, unsigned char uuid[16], struct bg_error *err);

/* What the writer must leave free beyond the tree (content-aware sizing). */
struct bg_ext4_policy {
  double headroom;          /* free blocks and inodes as a fraction of what the tree takes */
  uint64_t min_free;        /* at least this many free bytes, not counting root's reserve */
  uint64_t min_free_inodes; /* at least this many free inodes */
};

/* The one sizing model, the one the writer checks against: the smallest size (whole MiB, at
 * least BG_EXT4_MIN_SIZE) at which the tree fits with these options and, when pol is given, the
 * inode count to ask for (*inodes; the tree's own plus the policy's free ones). The size it
 * returns builds; one MiB less fails with "image too small". opts->size is ignored, and so is
 * opts->inodes when pol is given. */
int bg_ext4_size_for(const struct bg_ext4_opts *opts, struct bg_tree *tree,
                     const struct bg_ext4_policy *pol, uint64_t *bytes, uint64_t *inodes,
                     struct bg_error *err);
/* bg_ext4_size_for without a policy. */
int bg_ext4_min_size(const struct bg_ext4_opts *opts, struct bg_tree *tree, uint64_t *bytes,
                     struct bg_error *err);

struct bg_ext4;

/* Writes the tree as a new ext4 image under a temporary name next to path and returns it open
 * for editing; bg_ext4_close renames it to path once written back and synced, bg_ext4_discard
 * (or a failed close) removes it. The root directory is 0755 0:0; every other inode is as the
 * tree says. A tree that does not fit fails with BG_ENOSPC "image too small: needs at least N
 * MiB" before any file is created. What ext4 cannot hold as given (more than BG_EXT4_LINK_MAX
 * names for one inode, times outside 1901..2446, a /lost+found that is not a directory) is
 * changed and noted in bg_ext4_notes. Uses the inode fields `ino` and `user` of the tree. */
struct bg_ext4 *bg_ext4_build(const char *path, const struct bg_ext4_opts *opts,
                              struct bg_tree *tree, struct bg_error *err);
/* bg_ext4_build, then bg_ext4_close. */
int bg_ext4_create(const char *path, const struct bg_ext4_opts *opts, struct bg_tree *tree,
                   struct bg_error *err);

/* ---- editor ---- */

/* Opens an image; for writing only one this editor can change safely (not bigalloc, no journal
 * to recover). */
#define BG_EXT4_WRITE 1
struct bg_ext4 *bg_ext4_open(const char *path, int flags, struct bg_error *err);
/* Writes everything back (when writable), syncs, puts a built image in place, and frees the
 * handle; NULL is fine. A failure is reported (a built image is then removed). */
int bg_ext4_close(struct bg_ext4 *img, struct bg_error *err);
/* bg_ext4_close, and the sha256 of the image as closed into sum (32 bytes) and its size: a
 * built image is hashed while it is synced, an opened one read again once written back. sum
 * may be NULL. meanwhile (or NULL) is called once the image is written back (not when that
 * fails), while it is synced and hashed on threads of their own (a built image). */
int bg_ext4_close_sum(struct bg_ext4 *img, unsigned char *sum, uint64_t *size,
                      void (*meanwhile)(void *), void *arg, struct bg_error *err);
/* Frees the handle without committing: a built image's temporary file is removed; an opened
 * image is written back as far as it got, errors ignored. NULL is fine. */
void bg_ext4_discard(struct bg_ext4 *img);
/* What was changed to make the image valid (writer and editor), in order. */
const struct bg_notes *bg_ext4_notes(const struct bg_ext4 *img);
/* Timestamps the editor writes when none is given (SOURCE_DATE_EPOCH); default: now. */
void bg_ext4_set_time(struct bg_ext4 *img, int64_t now);

struct bg_ext4_stat {
  uint32_t ino;
  uint32_t mode; /* S_IF* | 07777 */
  uint32_t uid, gid;
  uint64_t size;
  uint32_t links;
  struct bg_time mtime, atime, ctime;
  uint32_t rdev_major, rdev_minor;
  uint32_t flags; /* i_flags */
  uint64_t blocks; /* 512-byte units, as stat(2) */
};

/* Looks a path up; BG_FOLLOW (from tree.h) follows a symlink in the last component. */
int bg_ext4_stat(struct bg_ext4 *img, const char *path, int flags, struct bg_ext4_stat *st,
                 struct bg_error *err);
/* A symlink's target (NUL-terminated, at most BG_TREE_PATH_MAX bytes). */
int bg_ext4_readlink(struct bg_ext4 *img, const char *path, char *buf, size_t size,
                     struct bg_error *err);
/* Calls fn for each extended attribute of path (BG_FOLLOW: of what a symlink there names). */
typedef int (*bg_ext4_xattr_fn)(const char *name, const void *value, size_t len, void *ctx);
int bg_ext4_xattrs(struct bg_ext4 *img, const char *path, int flags, bg_ext4_xattr_fn fn,
                   void *ctx, struct bg_error *err);

/* Reads up to max bytes of a file (symlinks followed) into a malloc'ed buffer. */
int bg_ext4_read(struct bg_ext4 *img, const char *path, uint64_t max, unsigned char **out,
                 size_t *len, struct bg_error *err);

struct bg_ext4_dirent {
  char *name;
  uint32_t ino;
  uint32_t mode; /* type bits and permissions of the entry's inode */
};
/* The entries of a directory (symlinks followed), "." and ".." left out, sorted bytewise by name.
 * Free with bg_ext4_dirents_free. */
int bg_ext4_list(struct bg_ext4 *img, const char *path, struct bg_ext4_dirent **out, size_t *n,
                 struct bg_error *err);
void bg_ext4_dirents_free(struct bg_ext4_dirent *d, size_t n);

/* Where a file's bytes come from. */
struct bg_ext4_source {
  const void *mem;       /* bytes in memory, or */
  const char *host_path; /* a host file read when written */
  uint64_t len;          /* for mem */
};

/* flags: BG_PARENTS creates missing directories on the way (0755 0:0). */
int bg_ext4_mkdir(struct bg_ext4 *img, const char *path, const struct bg_meta *m, int flags,
                  struct bg_error *err);
/* Creates a regular file, replacing whatever non-directory has that name (a symlink there is
 * replaced, not followed): the new file is complete before the name moves to it, and a failure
 * leaves the image as it was. Times: m's, or the image's time with BG_EXT4_NOW. A host file's
 * holes stay holes (SEEK_DATA). A symlink target must be shorter than a block. */
#define BG_EXT4_NOW 8
int bg_ext4_write(struct bg_ext4 *img, const char *path, const struct bg_ext4_source *src,
                  const struct bg_meta *m, int flags, struct bg_error *err);
int bg_ext4_symlink(struct bg_ext4 *img, const char *path, const char *target,
                    const struct bg_meta *m, int flags, struct bg_error *err);
/* Sets one inode field the way debugfs's set_inode_field does: uid, gid, mode (whole i_mode,
 * type bits included), mtime, atime, ctime, crtime (seconds, any epoch), mtime_nsec, atime_nsec,
 * ctime_nsec, crtime_nsec, links_count, flags, generation, size. The last component is not
 * followed. On 128-byte inodes times are clamped to 1901..2038 as the kernel does (noted). */
int bg_ext4_set_field(struct bg_ext4 *img, const char *path, const char *field, int64_t value,
                      struct bg_error *err);
/* Whether name is a field bg_ext4_set_field knows. */
int bg_ext4_field_known(const char *name);
/* Removes a name; a directory only when empty, or with BG_EXT4_RECURSIVE everything below it.
 * Inodes whose last name goes are freed with their blocks. */
#define BG_EXT4_RECURSIVE 16
int bg_ext4_remove(struct bg_ext4 *img, const char *path, int flags, struct bg_error *err);

#endif
