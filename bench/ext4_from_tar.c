/* Benchmark helper (not part of the build): reads a tar into a tree the simple way and writes
 * an ext4 image from it, printing the seconds each step took. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ext4/ext4.h"
#include "tree/tree.h"

static double now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  struct bg_error err;
  struct bg_tree *t;
  struct bg_ext4_opts o;
  static char buf[1 << 20];
  double t0, t1, t2;

  if (argc != 4) {
    fprintf(stderr, "usage: ext4_from_tar TAR IMAGE SIZE_MIB\n");
    return 2;
  }
  bg_error_clear(&err);
  t0 = now();
  t = bg_tree_new(NULL, &err);
  archive_read_support_format_tar(a);
  if (t == NULL || archive_read_open_filename(a, argv[1], 1 << 20) != ARCHIVE_OK)
    return fprintf(stderr, "cannot read %s\n", argv[1]), 1;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const char *path = archive_entry_pathname(e);
    struct bg_meta m;
    struct bg_content c;
    uint64_t off = 0, size = 0;
    la_ssize_t n;
    int rc = 0;

    memset(&m, 0, sizeof(m));
    memset(&c, 0, sizeof(c));
    m.mode = archive_entry_perm(e) & 07777;
    m.uid = (uint32_t)archive_entry_uid(e);
    m.gid = (uint32_t)archive_entry_gid(e);
    m.mtime.sec = archive_entry_mtime(e);
    m.atime = m.ctime = m.mtime;
    if (strcmp(path, "./") == 0 || strcmp(path, ".") == 0)
      continue;
    if (archive_entry_hardlink(e) != NULL) {
      rc = bg_tree_link(t, path, archive_entry_hardlink(e), BG_PARENTS, NULL, &err);
    } else if (archive_entry_filetype(e) == AE_IFDIR) {
      rc = bg_tree_mkdir(t, path, &m, BG_PARENTS, NULL, &err);
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      rc = bg_tree_symlink(t, path, archive_entry_symlink(e), &m, BG_PARENTS, NULL, &err);
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
        uint64_t at;

        if (bg_tree_spool_append(t, buf, (size_t)n, &at, &err) != 0)
          return fprintf(stderr, "%s\n", err.msg), 1;
        if (size == 0)
          off = at;
        size += (uint64_t)n;
      }
      if (size > 0) {
        c.kind = BG_CONTENT_SPOOL;
        c.offset = off;
      }
      rc = bg_tree_add_file(t, path, &m, &c, size, BG_PARENTS, NULL, &err);
    }
    if (rc != 0)
      return fprintf(stderr, "%s: %s\n", path, err.msg), 1;
  }
  archive_read_free(a);
  t1 = now();
  bg_ext4_opts_init(&o);
  o.size = (uint64_t)strtoull(argv[3], NULL, 10) << 20;
  o.seed = "bench";
  if (bg_ext4_create(argv[2], &o, t, &err) != 0)
    return fprintf(stderr, "%s\n", err.msg), 1;
  t2 = now();
  printf("tree %.3f ext4 %.3f\n", t1 - t0, t2 - t1);
  bg_tree_free(t);
  return 0;
}
