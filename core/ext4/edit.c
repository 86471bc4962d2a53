/* The editor's handle: opening an image (ours or mkfs.ext4's), writing it back, putting a built
 * image in place only once it is complete, and the inode reads and writes every edit uses. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ext4_internal.h"

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
  bg_ext4_dir_cache_free(img);
  bg_tmpfile_discard(&img->tmp); /* a built image not put in place goes */
  bg_notes_free(&img->notes);
  free(img->path);
  free(img);
}

int bg_ext4_close(struct bg_ext4 *img, struct bg_error *err)
{
  char dir[4096];
  errcode_t rc;
  int ret = -1;

  if (img == NULL)
    return 0;
  rc = ext2fs_close_free(&img->fs);
  if (bg_ext4_writes_ok(img, img->path, err) != 0)
    goto out; /* an earlier write was lost: the image is not what the edits made */
  if (rc != 0) {
    bg_ext4_fail(err, rc, "while writing %s back", img->path);
    goto out;
  }
  if (img->tmp.fd >= 0) { /* a built image: in place only once complete and on disk */
    if (fsync(img->tmp.fd) != 0) {
      bg_error_errno(err, errno, "cannot sync %s", img->tmp.path);
      goto out;
    }
    if (bg_tmpfile_commit(&img->tmp, img->path, err) != 0 ||
        bg_tmpfile_close(&img->tmp, err) != 0)
      goto out;
    dir_of(img->path, dir, sizeof(dir));
    if (bg_sync_dir(dir, err) != 0)
      goto out;
  }
  ret = 0;
out:
  release(img); /* a built image that did not reach its place is removed */
  return ret;
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
