/* The editor's handle: opening an image (ours or mkfs.ext4's), writing it back, putting a built
 * image in place only once it is complete, and the inode reads and writes every edit uses. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ext4_internal.h"
#include "../digest/digest.h"

static errcode_t on_write_error(io_channel channel, unsigned long block, int count,
                                const void *data, size_t size, int actual, errcode_t error)
{
  int en = errno; /* libext2fs passes 0 when its cache dropped the failure; errno still has it */
  ext2_filsys fs = channel->app_data;
  struct bg_ext4 *img = fs != NULL ? fs->priv_data : NULL;

  if (img != NULL && img->write_error == 0) {
    img->write_error = error ? error : (en ? en : EIO);
    img->write_block = block;
  }
  return error ? error : EIO;
}

void bg_ext4_watch_writes(struct bg_ext4 *img)
{
  img->fs->priv_data = img;
  img->fs->io->write_error = on_write_error;
}

/* ---- the guard of the copies still running (copier.c) ---- */

static struct struct_io_manager guarded;
static pthread_once_t guarded_once = PTHREAD_ONCE_INIT;

/* Waits for the copies into bytes start..start+len of the image the channel is on. A copy that
 * failed is left for the close to report (the callers here cannot). */
static void settle(io_channel channel, unsigned long long start, unsigned long long len)
{
  ext2_filsys fs = channel->app_data;
  struct bg_ext4 *img = fs != NULL ? fs->priv_data : NULL;
  struct bg_error e;

  if (img != NULL && img->copier != NULL)
    bg_ext4_copier_settle(img->copier, start, start + len, &e);
}

static unsigned long long span(io_channel channel, int count)
{
  /* a negative count is bytes (io_channel_read_blk's convention) */
  return count < 0 ? (unsigned long long)-(long long)count
                   : (unsigned long long)count * (unsigned)channel->block_size;
}

static errcode_t g_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
  settle(ch, (unsigned long long)block * (unsigned)ch->block_size, span(ch, count));
  return unix_io_manager->read_blk(ch, block, count, data);
}

static errcode_t g_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
  settle(ch, (unsigned long long)block * (unsigned)ch->block_size, span(ch, count));
  return unix_io_manager->write_blk(ch, block, count, data);
}

static errcode_t g_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
  settle(ch, block * (unsigned)ch->block_size, span(ch, count));
  return unix_io_manager->read_blk64(ch, block, count, data);
}

static errcode_t g_write_blk64(io_channel ch, unsigned long long block, int count,
                               const void *data)
{
  settle(ch, block * (unsigned)ch->block_size, span(ch, count));
  return unix_io_manager->write_blk64(ch, block, count, data);
}

static errcode_t g_write_byte(io_channel ch, unsigned long offset, int count, const void *data)
{
  settle(ch, offset, count < 0 ? 0 : (unsigned long long)count);
  return unix_io_manager->write_byte(ch, offset, count, data);
}

static errcode_t g_discard(io_channel ch, unsigned long long block, unsigned long long count)
{
  settle(ch, block * (unsigned)ch->block_size, count * (unsigned)ch->block_size);
  return unix_io_manager->discard(ch, block, count);
}

static errcode_t g_zeroout(io_channel ch, unsigned long long block, unsigned long long count)
{
  settle(ch, block * (unsigned)ch->block_size, count * (unsigned)ch->block_size);
  return unix_io_manager->zeroout(ch, block, count);
}

static void make_guarded(void)
{
  guarded = *unix_io_manager;
  guarded.name = "banger guarded unix I/O";
  guarded.read_blk = g_read_blk;
  guarded.write_blk = g_write_blk;
  guarded.read_blk64 = g_read_blk64;
  guarded.write_blk64 = g_write_blk64;
  guarded.write_byte = unix_io_manager->write_byte ? g_write_byte : NULL;
  guarded.discard = unix_io_manager->discard ? g_discard : NULL;
  guarded.zeroout = unix_io_manager->zeroout ? g_zeroout : NULL;
  guarded.cache_readahead = NULL; /* a hint; it would read blocks unguarded */
}

void bg_ext4_guard_copies(struct bg_ext4 *img)
{
  pthread_once(&guarded_once, make_guarded);
  img->fs->io->manager = &guarded;
}

int bg_ext4_writes_ok(struct bg_ext4 *img, const char *path, struct bg_error *err)
{
  if (img->write_error == 0)
    return 0;
  return bg_ext4_fail(err, img->write_error, "while writing block %llu of %s", img->write_block,
                      path);
}

struct bg_ext4 *bg_ext4_open(const char *path, int flags, struct bg_error *err)
{
  int f = EXT2_FLAG_64BITS | ((flags & BG_EXT4_WRITE) ? EXT2_FLAG_RW : 0);
  struct bg_ext4 *img;
  ext2_filsys fs = NULL;
  errcode_t rc;

  bg_ext4_init();
  rc = ext2fs_open2(path, NULL, f, 0, 0, unix_io_manager, &fs);
  if (rc != 0) {
    bg_ext4_fail(err, rc, "cannot open %s", path);
    return NULL;
  }
  if ((flags & BG_EXT4_WRITE) && ext2fs_has_feature_journal_needs_recovery(fs->super)) {
    ext2fs_close_free(&fs);
    bg_error_set(err, BG_EFS, "cannot open %s for writing: its journal needs recovery", path);
    return NULL;
  }
  /* blocks are allocated one at a time here; a cluster shared by two files would be corrupt */
  if ((flags & BG_EXT4_WRITE) && ext2fs_has_feature_bigalloc(fs->super)) {
    bg_error_set(err, BG_EINVAL, "cannot open %s for writing: it uses bigalloc (clusters of %u "
                 "blocks), which this editor does not write", path, EXT2FS_CLUSTER_RATIO(fs));
    ext2fs_close_free(&fs);
    return NULL;
  }
  rc = ext2fs_read_bitmaps(fs);
  if (rc != 0) {
    ext2fs_close_free(&fs);
    bg_ext4_fail(err, rc, "while reading the bitmaps of %s", path);
    return NULL;
  }
  img = calloc(1, sizeof(*img));
  if (img != NULL)
    img->path = strdup(path);
  if (img == NULL || img->path == NULL) {
    free(img);
    ext2fs_close_free(&fs);
    bg_error_set(err, BG_ENOMEM, "out of memory");
    return NULL;
  }
  img->fs = fs;
  img->writable = (flags & BG_EXT4_WRITE) != 0;
  img->tmp.fd = -1;
  img->tmp.slot = -1;
  bg_notes_init(&img->notes);
  bg_ext4_watch_writes(img);
  return img;
}

/* The directory part of path ("." for a bare name). */
static void dir_of(const char *path, char *dir, size_t size)
{
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 0 : (size_t)(slash - path);

  if (slash == NULL)
    snprintf(dir, size, ".");
  else
    snprintf(dir, size, "%.*s", (int)(n == 0 ? 1 : n), path);
}

static void release(struct bg_ext4 *img)
{
  bg_ext4_copier_free(img->copier); /* copies not done are dropped, before the file goes */
  bg_ext4_dir_cache_free(img);
  bg_tmpfile_discard(&img->tmp); /* a built image not put in place goes */
  bg_notes_free(&img->notes);
  free(img->path);
  free(img);
}

/* Writes a built image's metadata to its file without the sync libext2fs would do: the file is
 * then complete in the page cache, ready to be hashed while it is synced. */
static errcode_t write_back(struct bg_ext4 *img)
{
  errcode_t rc;

  /* the block cache written out now, its errors returned; the close's writes then go straight
   * to the file, so none is left for a close that cannot report it */
  rc = io_channel_set_options(img->fs->io, "cache=off");
  if (rc == 0)
    rc = ext2fs_close2(img->fs, EXT2_FLAG_FLUSH_NO_SYNC);
  if (rc != 0)
    ext2fs_free(img->fs);
  img->fs = NULL;
  return rc;
}

struct hashing {
  int fd;
  const char *name;
  const struct bg_sparse_gate *gate;
  unsigned char *sum;
  uint64_t size;
  int rc;
  struct bg_error err;
};

static void *hash_image(void *arg)
{
  struct hashing *h = arg;

  pthread_setname_np(pthread_self(), "bg-hash");
  bg_error_clear(&h->err);
  h->rc = bg_sha256_sparse(h->fd, h->name, h->gate, h->sum, &h->size, &h->err);
  return NULL;
}

/* The end of a built image's file once its metadata is written: the copies of file data still
 * running finish, with the file's sha256 (when sum is not NULL) taken on a thread of its own
 * right behind them, and meanwhile(arg) run here in the time; then the fsync, with the hash
 * still going on beside it. */
static int finish_built(struct bg_ext4 *img, unsigned char *sum, uint64_t *size,
                        void (*meanwhile)(void *), void *arg, struct bg_error *err)
{
  struct bg_sparse_gate gate = {bg_ext4_copier_ready, img->copier, 1};
  struct hashing h = {.fd = img->tmp.fd, .name = img->tmp.path, .rc = -1, .sum = sum};
  pthread_t th;
  int hashing = 0, rc;

  bg_ext4_copier_seal(img->copier);
  if (sum != NULL) {
    h.gate = img->copier != NULL ? &gate : NULL;
    hashing = pthread_create(&th, NULL, hash_image, &h) == 0;
  }
  if (meanwhile != NULL)
    meanwhile(arg);
  rc = bg_ext4_copier_finish(img->copier, err);
  if (rc == 0 && sum != NULL && !hashing) {
    h.gate = NULL;
    hash_image(&h);
  }
  if (rc == 0 && fsync(img->tmp.fd) != 0)
    rc = bg_error_errno(err, errno, "cannot sync %s", img->tmp.path);
  if (hashing)
    pthread_join(th, NULL);
  bg_ext4_copier_free(img->copier);
  img->copier = NULL;
  if (rc != 0)
    return -1;
  if (sum != NULL) {
    if (h.rc != 0) {
      *err = h.err;
      return -1;
    }
    if (size != NULL)
      *size = h.size;
  }
  return 0;
}

int bg_ext4_close_sum(struct bg_ext4 *img, unsigned char *sum, uint64_t *size,
                      void (*meanwhile)(void *), void *arg, struct bg_error *err)
{
  char dir[4096];
  errcode_t rc;
  int ret = -1;

  if (img == NULL)
    return 0;
  if (img->tmp.fd >= 0)
    rc = write_back(img);
  else
    rc = ext2fs_close_free(&img->fs);
  if (bg_ext4_writes_ok(img, img->path, err) != 0)
    goto out; /* an earlier write was lost: the image is not what the edits made */
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while writing %s back", img->path);
    goto out;
  }
  if (img->tmp.fd >= 0) { /* a built image: in place only once complete and on disk */
    if (finish_built(img, sum, size, meanwhile, arg, err) != 0)
      goto out;
    if (bg_tmpfile_commit(&img->tmp, img->path, err) != 0 ||
        bg_tmpfile_close(&img->tmp, err) != 0)
      goto out;
    dir_of(img->path, dir, sizeof(dir));
    if (bg_fsync_dir(dir, err) != 0)
      goto out;
  } else {
    if (meanwhile != NULL)
      meanwhile(arg);
    if (sum != NULL && bg_sha256_file(img->path, sum, size, err) != 0)
      goto out;
  }
  ret = 0;
out:
  release(img); /* a built image that did not reach its place is removed */
  return ret;
}

int bg_ext4_close(struct bg_ext4 *img, struct bg_error *err)
{
  return bg_ext4_close_sum(img, NULL, NULL, NULL, NULL, err);
}

void bg_ext4_discard(struct bg_ext4 *img)
{
  if (img == NULL)
    return;
  if (img->tmp.fd >= 0) {
    ext2fs_free(img->fs); /* nothing more reaches the file, which release removes */
  } else {
    ext2fs_close_free(&img->fs);
  }
  release(img);
}

const struct bg_notes *bg_ext4_notes(const struct bg_ext4 *img)
{
  return &img->notes;
}

void bg_ext4_set_time(struct bg_ext4 *img, int64_t now)
{
  img->fs->now = (time_t)now;
}

time_t bg_ext4_now(struct bg_ext4 *img)
{
  return img->fs->now ? img->fs->now : time(NULL);
}

int bg_ext4_need_write(struct bg_ext4 *img, const char *path, struct bg_error *err)
{
  if (!img->writable)
    return bg_error_set(err, BG_EINVAL, "%s: the image is open read-only", path);
  return bg_ext4_writes_ok(img, img->path, err); /* a lost write: no more edits */
}

int bg_ext4_large_inodes(const struct bg_ext4 *img)
{
  return EXT2_INODE_SIZE(img->fs->super) >= EXT2_GOOD_OLD_INODE_SIZE + BG_EXT4_EXTRA_ISIZE;
}
