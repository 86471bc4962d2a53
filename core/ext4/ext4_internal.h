/* What the writer, the sizing model and the editor share: inode fields, data layout, directory
 * blocks, the editor's handle, errors. */
#ifndef BG_EXT4_INTERNAL_H
#define BG_EXT4_INTERNAL_H

#include <stddef.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <ext2fs/ext2_ext_attr.h>

#include "ext4.h"
#include "../util/tmpfile.h"

/* Directory blocks and extent headers are built in host order and checksummed in place before a
 * bulk write, which is only right where host order is disk order. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ext4 writer assumes a little-endian host"
#endif

#define BG_EXT4_EXTRA_ISIZE 32 /* i_extra_isize of every inode we write: room for times, crtime */
#define BG_EXT4_LPF_INO 11     /* lost+found, where mkfs.ext4 puts it */
#define BG_EXT4_EXT_MAX_LEN 32768 /* blocks in one initialised extent */

/* Loads libext2fs's error messages (once). */
void bg_ext4_init(void);

/* Records "context: libext2fs message" (BG_ENOSPC for allocation failures, else BG_EFS). */
int bg_ext4_fail(struct bg_error *err, errcode_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- inode fields ---- */

/* Times as ext4 stores them: 34 bits of seconds and nanoseconds with the extra field (returns 1
 * when t lay outside 1901..2446 and was clamped), or the kernel's signed 32 bits without it
 * (set_small: clamped to 1901..2038). */
int bg_ext4_time_set(uint32_t *lo, uint32_t *extra, const struct bg_time *t);
int bg_ext4_time_set_small(uint32_t *lo, const struct bg_time *t);
struct bg_time bg_ext4_time_get(uint32_t lo, uint32_t extra, int has_extra);

/* Which times of an inode bg_ext4_inode_init had to clamp. */
#define BG_EXT4_CLAMPED_MTIME 1
#define BG_EXT4_CLAMPED_ATIME 2
#define BG_EXT4_CLAMPED_CTIME 4

/* A fresh inode: type|mode, owner (32-bit ids), times. large: the on-disk inode has room for
 * the extra fields (i_extra_isize 32: nanoseconds, epoch bits, crtime); otherwise i_extra_isize
 * is 0 and times are clamped to 32 bits. Returns the BG_EXT4_CLAMPED_* bits. */
int bg_ext4_inode_init(struct ext2_inode_large *in, uint32_t mode, uint32_t uid, uint32_t gid,
                       const struct bg_time *mtime, const struct bg_time *atime,
                       const struct bg_time *ctime, int large);
/* Notes a clamped time of path ("mtime 4102444800 ... stored as 2147483647"). */
void bg_ext4_note_time(struct bg_notes *notes, const char *path, const char *field,
                       const struct bg_time *t, int large);
/* Notes each time bg_ext4_inode_init clamped. */
void bg_ext4_note_clamped(struct bg_notes *notes, const char *path, int clamped,
                          const struct bg_time *mtime, const struct bg_time *atime,
                          const struct bg_time *ctime, int large);
/* Whether the inode's i_extra_isize covers a field of the large inode. */
static inline int bg_ext4_has_extra(const struct ext2_inode_large *in, size_t field_end)
{
  return (size_t)EXT2_GOOD_OLD_INODE_SIZE + in->i_extra_isize >= field_end;
}
#define HAS_EXTRA(in, field)                                                                       \
  bg_ext4_has_extra(in, offsetof(struct ext2_inode_large, field) + sizeof((in)->field))
void bg_ext4_set_uid(struct ext2_inode_large *in, uint32_t uid);
void bg_ext4_set_gid(struct ext2_inode_large *in, uint32_t gid);
uint8_t bg_ext4_ftype(uint32_t mode);

/* Device numbers the way the kernel stores them in i_block. */
void bg_ext4_set_rdev(struct ext2_inode_large *in, uint32_t major, uint32_t minor);
void bg_ext4_get_rdev(const struct ext2_inode_large *in, uint32_t *major, uint32_t *minor);

/* What follows i_extra_isize in an inode: the in-inode xattrs (magic, entries, values), empty
 * (len 0) unless the inode holds inline data. */
#define BG_EXT4_IBODY_MAX 256
struct bg_ext4_ibody {
  size_t len;
  unsigned char b[BG_EXT4_IBODY_MAX];
};

/* Writes a new inode whole: the on-disk inode (in-inode xattrs of a freed one included) is
 * cleared first, then ib (NULL: nothing) goes after the extra fields; nothing is filled in
 * (ext2fs_write_new_inode would set times it takes for unset). */
int bg_ext4_write_fresh_inode(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                              const struct bg_ext4_ibody *ib, const char *what,
                              struct bg_error *err);

struct bg_ext4;

/* The writer's inodes in runs of inode table blocks (itable.c): put in increasing order, each
 * written whole (as bg_ext4_write_fresh_inode does) into a run of up to `blocks` blocks that
 * goes out in one write when the next inode lies past it, or at flush. While hooked to the
 * image, libext2fs's reads of inodes not yet put come from the run or as zeros, and its writes
 * of the inode named by building (which is put whole afterwards) are dropped. An inode
 * libext2fs is to change once put (its xattrs) is flushed first and named by outside: the rest
 * of its table block is then written through libext2fs. */
struct bg_ext4_itable {
  ext2_filsys fs;
  blk64_t start;       /* the run's first block */
  uint32_t n, cap;     /* blocks in the run, at most */
  unsigned char *buf;
  ext2_ino_t outside;  /* the highest inode libext2fs wrote */
  ext2_ino_t last;     /* the highest inode put */
  ext2_ino_t building; /* the inode being laid out, 0: none */
};
int bg_ext4_itable_init(struct bg_ext4_itable *t, ext2_filsys fs, uint32_t blocks,
                        struct bg_error *err);
void bg_ext4_itable_hook(struct bg_ext4 *img, struct bg_ext4_itable *t); /* t NULL: unhooks */
void bg_ext4_itable_building(struct bg_ext4_itable *t, ext2_ino_t ino);
int bg_ext4_itable_put(struct bg_ext4_itable *t, ext2_ino_t ino, struct ext2_inode_large *in,
                       const struct bg_ext4_ibody *ib, const char *what, struct bg_error *err);
int bg_ext4_itable_flush(struct bg_ext4_itable *t, struct bg_error *err);
void bg_ext4_itable_outside(struct bg_ext4_itable *t, ext2_ino_t ino);
void bg_ext4_itable_free(struct bg_ext4_itable *t);

/* ---- file data ---- */

/* Reads up to n bytes at off; *got 0 means the end. */
typedef int (*bg_ext4_read_fn)(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                               struct bg_error *err);
/* Where the next data is: the first byte at or after off that may hold data (*start, size or
 * more: none) and where that data ends (*end). */
typedef int (*bg_ext4_data_fn)(void *ctx, uint64_t off, uint64_t *start, uint64_t *end,
                               struct bg_error *err);

/* Writes n bytes from off straight into the image file, at byte dst of it. */
typedef int (*bg_ext4_copy_fn)(void *ctx, uint64_t off, uint64_t n, uint64_t dst,
                               struct bg_error *err);

struct bg_ext4_src {
  bg_ext4_read_fn read;
  bg_ext4_data_fn data; /* NULL: every byte may be data */
  void *ctx;
  bg_ext4_copy_fn copy; /* the data runs hold no block of zeros and can go to the image without
                           being read here; NULL: read them */
};

/* Memory. */
struct bg_ext4_memsrc {
  const unsigned char *p;
  uint64_t len;
};
int bg_ext4_mem_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                     struct bg_error *err);

/* A host file, read with pread; its holes are found with SEEK_DATA/SEEK_HOLE and never read. */
struct bg_ext4_host {
  int fd;
  const char *path;
};
/* Opens path (a regular file) and reports its size. */
int bg_ext4_host_open(struct bg_ext4_host *h, const char *path, uint64_t *size,
                      struct bg_error *err);
void bg_ext4_host_close(struct bg_ext4_host *h);
int bg_ext4_host_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                      struct bg_error *err);
int bg_ext4_host_data(void *ctx, uint64_t off, uint64_t *start, uint64_t *end,
                      struct bg_error *err);

/* A regular file of the tree; content in the spool keeps its holes (SEEK_DATA), never read. */
struct bg_ext4_treesrc {
  struct bg_tree *tree;
  const struct bg_inode *ti;
  struct bg_ext4_copier *copier;   /* which does the copies (bg_ext4_tree_copy) */
};
int bg_ext4_tree_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                      struct bg_error *err);
/* Hands a copy of spool content into the image to the copier. */
int bg_ext4_tree_copy(void *ctx, uint64_t off, uint64_t n, uint64_t dst, struct bg_error *err);

/* The writer's copies of file data into the image file out, on a thread of its own
 * (copier.c), owned by the image's handle from the build to its close. Copies are queued in any
 * order (their ranges of the image never overlap) and run in that order, when something waits
 * for them, when the queue is full, or once sealed; one that goes before the last queued waits
 * for the rest first, so what is queued is always in image order. */
struct bg_ext4_copier;
struct bg_ext4_copier *bg_ext4_copier_start(int out, struct bg_error *err);
/* Queues a copy of n bytes of the spool range r (r->at on) to byte dst of the image. */
int bg_ext4_copier_add(struct bg_ext4_copier *c, const struct bg_tree_range *r, uint64_t n,
                       uint64_t dst, struct bg_error *err);
/* Waits for every queued copy into bytes start..end of the image (c may be NULL: none). */
int bg_ext4_copier_settle(struct bg_ext4_copier *c, uint64_t start, uint64_t end,
                          struct bg_error *err);
/* No more copies come; everything queued runs. */
void bg_ext4_copier_seal(struct bg_ext4_copier *c);
/* Once sealed: waits until the image's bytes from at on are final up to the returned offset
 * (more than at; UINT64_MAX: all of them), or returns 0 with err once a copy failed. A
 * bg_sparse_gate's ready. */
uint64_t bg_ext4_copier_ready(void *c, uint64_t at, struct bg_error *err);
/* Seals it and waits for every copy: the first one's error, if any. */
int bg_ext4_copier_finish(struct bg_ext4_copier *c, struct bg_error *err);
/* Stops it (what is still queued is dropped) and frees it. */
void bg_ext4_copier_free(struct bg_ext4_copier *c);
int bg_ext4_tree_data(void *ctx, uint64_t off, uint64_t *start, uint64_t *end,
                      struct bg_error *err);

/* Blocks of bs bytes and runs of data within the first size bytes of a source that knows its
 * holes (src->data): what bg_ext4_put_data can take at most. */
int bg_ext4_extent_count(const struct bg_ext4_src *src, uint64_t size, uint32_t bs,
                         uint64_t *blocks, uint64_t *runs, struct bg_error *err);

#define BG_EXT4_PUT_HOLES 1 /* all-zero blocks become holes */
#define BG_EXT4_PUT_SWEEP 2 /* take free blocks strictly in order from the goal (the writer: what
                               the sizing model counts on) instead of looking for a run that
                               holds the whole file */

/* Data blocks on their way to the image: runs that follow each other on disk (consecutive files
 * of the writer) go out in one write. */
struct bg_ext4_wbuf {
  blk64_t start;
  uint32_t n, cap; /* blocks held, blocks it holds at most */
  unsigned char *buf;
};
int bg_ext4_wbuf_init(struct bg_ext4_wbuf *wb, uint32_t blocks, uint32_t bs, struct bg_error *err);
int bg_ext4_wbuf_flush(ext2_filsys fs, struct bg_ext4_wbuf *wb, struct bg_error *err);
void bg_ext4_wbuf_free(struct bg_ext4_wbuf *wb);

/* Where the next run of blocks is looked for, and where data goes. */
struct bg_ext4_cursor {
  blk64_t goal;
  struct bg_ext4_wbuf *wb; /* NULL: straight to the image */
  unsigned char *scratch;  /* BG_EXT4_CHUNK bytes to read data into, or NULL: allocated */
};
#define BG_EXT4_CHUNK ((size_t)1 << 20) /* bytes read and written at a time */

/* Lays `size` bytes from src out starting the search at at->goal, sets i_size, i_blocks and the
 * block map: extents (the flag and tree), or direct and indirect blocks on images without the
 * extent feature. The inode must not be written yet when it needs more than four extents; it is
 * not written here. The goal moves past the run. what names the file in errors. On failure every
 * block this call allocated is free again and *in is to be thrown away. */
int bg_ext4_put_data(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in, uint64_t size,
                     const struct bg_ext4_src *src, int flags, struct bg_ext4_cursor *at,
                     const char *what, struct bg_error *err);

/* Inline data (the inline_data feature): a regular file's bytes in its inode, the first 60 in
 * i_block, the rest in the value of an in-inode "system.data" xattr. The bytes an inode of
 * inode_size holds so (0: none), and what the xattr takes of the in-inode xattr space for a
 * file of size bytes. */
size_t bg_ext4_inline_room(size_t inode_size, size_t extra_isize);
size_t bg_ext4_inline_ibody_use(uint64_t size);
/* What the writer's inodes hold so: 128 bytes. */
#define BG_EXT4_INLINE_MAX                                                                         \
  (EXT4_MIN_INLINE_DATA_SIZE + BG_EXT4_INODE_SIZE - EXT2_GOOD_OLD_INODE_SIZE -                     \
   BG_EXT4_EXTRA_ISIZE - 8 - (sizeof(struct ext2_ext_attr_entry) + 4))
/* Whether the editor writes size bytes inline into a new inode in: the image has the feature
 * and the room. */
int bg_ext4_inline_ok(ext2_filsys fs, const struct ext2_inode_large *in, uint64_t size);
/* Stores size bytes (at most bg_ext4_inline_room) from src inline: sets i_block, i_size and the
 * flag (extents cleared) and fills *ib for bg_ext4_write_fresh_inode. No block is taken. */
int bg_ext4_put_inline(ext2_filsys fs, struct ext2_inode_large *in, uint64_t size,
                       const struct bg_ext4_src *src, struct bg_ext4_ibody *ib, const char *what,
                       struct bg_error *err);

/* Stores a symlink target: inline under 60 bytes, else in one block; a target of a block or
 * more is refused (the kernel reads at most a block less one byte). Sets i_size and blocks. */
int bg_ext4_put_symlink(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in,
                        const char *target, struct bg_ext4_cursor *at, const char *what,
                        struct bg_error *err);

/* Blocks of extent index (leaves and nodes) a file of `extents` extents can need when they are
 * appended in order, as bg_ext4_put_data does. */
uint64_t bg_ext4_extent_index_blocks(uint64_t extents);

/* ---- directories ---- */

struct bg_ext4_dentry {
  const char *name;
  uint32_t len;
  uint32_t ino;
  uint8_t ftype;
  uint32_t hash; /* filled by the builder */
};

/* Builds the blocks of a new directory holding ents (sorted or not): one linear block when
 * everything fits, else a hash tree like the kernel's. At least min_blocks blocks. Checksums are
 * set. *out is malloc'ed, *nblocks long; *indexed says whether EXT2_INDEX_FL belongs on it. */
int bg_ext4_build_dir(ext2_filsys fs, ext2_ino_t ino, ext2_ino_t parent,
                      struct bg_ext4_dentry *ents, size_t n, uint32_t min_blocks,
                      unsigned char **out, uint32_t *nblocks, int *indexed, struct bg_error *err);

/* The most blocks bg_ext4_build_dir can make for n entries whose rec_lens add up to rec_sum
 * (each at most rec_max) on a 4 KiB-block image with checksums. BG_ETOOBIG (naming what) when
 * the entries could need more than two index levels. */
int bg_ext4_dir_blocks_bound(uint64_t n, uint64_t rec_sum, uint32_t rec_max, uint32_t min_blocks,
                             uint64_t *blocks, const char *what, struct bg_error *err);
/* 1 for ".", 2 for "..", 0 for any other entry. */
int bg_ext4_dot_entry(const struct ext2_dir_entry *d);
/* The rec_len of an entry with a name of len bytes. */
uint32_t bg_ext4_rec_len(uint32_t len);

/* ---- the tree as the writer lays it out ---- */

/* /lost+found in the root: the image needs a directory there, so a tree's non-directory of that
 * name gives way to one (noted) and a tree's directory takes inode 11. */
int bg_ext4_is_lpf(const struct bg_node *node);
int bg_ext4_lpf_replaced(const struct bg_node *node);

/* What the writer will take for a tree (measure.c): counted the way it writes, with bounds where
 * the layout decides. */
struct bg_ext4_need {
  uint64_t blocks;  /* data, directory, symlink, xattr and extent blocks of every inode */
  uint64_t spread;  /* blocks placed outside the writer's sweep (xattr blocks of inodes without
                       data) and files with many extents: each may cost an extent block more */
  uint64_t inodes;  /* the highest inode number used */
  uint64_t written; /* inodes written from the tree, hardlink copies included */
};
int bg_ext4_measure(struct bg_tree *tree, int inline_data, struct bg_ext4_need *nd,
                    struct bg_error *err);
/* Whether the writer of an inline_data image keeps this inode's data in it: a regular file of 1
 * to BG_EXT4_INLINE_MAX bytes whose xattrs still fit beside it (in the inode and a block). */
int bg_ext4_goes_inline(const struct bg_inode *ti);
/* The inode count for a size: opts', else the ratio's, grown to fit the tree without a ratio. */
uint64_t bg_ext4_inode_count(const struct bg_ext4_opts *o, uint64_t size,
                             const struct bg_ext4_need *nd);
/* 1 when the tree fits a size-byte image with `inodes` inodes (and leaves what pol asks), 0 when
 * not, -1 on error. *have_inodes (may be NULL): the inodes such an image has. */
int bg_ext4_fits(const struct bg_ext4_opts *o, uint64_t size, uint64_t inodes,
                 const struct bg_ext4_need *nd, const struct bg_ext4_policy *pol,
                 uint64_t *have_inodes, struct bg_error *err);

/* ---- the editor ---- */

struct bg_ext4_dircache;

struct bg_ext4 {
  ext2_filsys fs;
  int writable;
  char *path;          /* where the image is (built images: where it goes at close) */
  struct bg_tmpfile tmp; /* built images: the temporary file (locked) until close; fd -1 else */
  struct bg_notes notes;
  struct bg_ext4_dircache *dirs; /* directory blocks read and checked (dir.c), or NULL */
  struct bg_ext4_itable *itable; /* the writer's inode runs while it builds, else NULL */
  struct bg_ext4_copier *copier; /* a built image's file data still being copied, or NULL */
  errcode_t write_error;         /* the first write libext2fs could only report to a handler */
  unsigned long long write_block;
};

/* Sends the writes libext2fs fails to report (its block cache evicts a dirty block and drops the
 * error) to the handle, which then fails the edit and the close. */
void bg_ext4_watch_writes(struct bg_ext4 *img);
/* Makes every read and write of the handle's I/O channel wait for the copies still to come into
 * the blocks it touches (img->copier). Everything but the copier reaches the image's blocks
 * through that channel: a block freed and taken again is written there too. */
void bg_ext4_guard_copies(struct bg_ext4 *img);
/* A recorded write failure as an error ("while writing block N of path"); 0 when none. */
int bg_ext4_writes_ok(struct bg_ext4 *img, const char *path, struct bg_error *err);

/* The image's clock: bg_ext4_set_time's, else now. */
time_t bg_ext4_now(struct bg_ext4 *img);
int bg_ext4_need_write(struct bg_ext4 *img, const char *path, struct bg_error *err);
/* Whether new inodes of this image have room for the extra fields. */
int bg_ext4_large_inodes(const struct bg_ext4 *img);
int bg_ext4_read_inode(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                       const char *path, struct bg_error *err);
int bg_ext4_write_inode(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                        const char *path, struct bg_error *err);

/* Paths (path.c). */
struct bg_ext4_where {
  ext2_ino_t parent;            /* the directory holding the last component */
  char last[EXT2_NAME_LEN + 1]; /* "" when the path names the root */
  ext2_ino_t ino;               /* 0 when the last component does not exist */
};
/* Resolves path inside the image. Symlinks on the way are followed (absolute targets restart at
 * the root, ".." stops there); the last component only with follow. A missing last component
 * is fine (ino 0) for callers that create. */
int bg_ext4_resolve(struct bg_ext4 *img, const char *path, int follow, struct bg_ext4_where *w,
                    struct bg_error *err);
/* Resolves an existing path and reads its inode. */
int bg_ext4_lookup(struct bg_ext4 *img, const char *path, int follow, ext2_ino_t *ino,
                   struct ext2_inode_large *in, struct bg_error *err);
/* A symlink's target: in i_block, inline data, or a data block. */
int bg_ext4_link_target(struct bg_ext4 *img, ext2_ino_t ino, struct ext2_inode_large *in,
                        char *buf, size_t size, const char *path, struct bg_error *err);

/* Names in directories (dir.c): hash-indexed directories are searched through their index, so
 * an edit costs a few blocks whatever the directory's size. */
/* 0 and *ino when dir holds name, 1 when it does not, -1 on error. */
int bg_ext4_dir_lookup(struct bg_ext4 *img, ext2_ino_t dir, const char *name, size_t len,
                       ext2_ino_t *ino, struct bg_error *err);
/* Adds name -> ino. A full linear directory becomes hash-indexed (as the kernel does) or grows
 * by a block. */
int bg_ext4_dir_link(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                     uint32_t mode, const char *path, struct bg_error *err);
/* Removes the entry name -> ino. */
int bg_ext4_dir_unlink(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                       const char *path, struct bg_error *err);
/* Points the existing entry name (-> old) at ino, in place: nothing to allocate, so it cannot run
 * out of space. */
int bg_ext4_dir_relink(struct bg_ext4 *img, ext2_ino_t dir, const char *name, ext2_ino_t old,
                       ext2_ino_t ino, uint32_t mode, const char *path, struct bg_error *err);
/* Forgets the directory blocks dir.c keeps: after anything that frees blocks or changes a
 * directory through libext2fs. */
void bg_ext4_dir_forget(struct bg_ext4 *img);
void bg_ext4_dir_cache_free(struct bg_ext4 *img);
/* Refuses directories whose names the editor cannot write the way the kernel reads them
 * (encrypted, case-folded). */
int bg_ext4_dir_writable(struct bg_ext4 *img, ext2_ino_t dir, const struct ext2_inode_large *din,
                         const char *path, struct bg_error *err);

#endif
