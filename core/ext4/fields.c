/* debugfs's set_inode_field as a table (the shape of debugfs's set_fields.c): each field says
 * where it lives in the inode and how a value is stored there. */
#include <stddef.h>
#include <string.h>

#include "ext4_internal.h"

enum kind {
  F_UINT, /* an unsigned integer of `size` bytes, with the high 16 bits at `hi` for ids */
  F_SIZE, /* i_size and i_size_high */
  F_TIME, /* seconds: at `lo`, epoch bits in the extra word at `hi` */
  F_NSEC, /* nanoseconds: in the extra word at `hi` of the time at `lo` */
};

struct field {
  const char *name;
  enum kind kind;
  size_t lo;    /* offset in struct ext2_inode_large */
  size_t hi;    /* offset of the high part or extra word; 0 for none */
  unsigned size; /* F_UINT: bytes at lo */
  int64_t max;
};

#define OFF(f) offsetof(struct ext2_inode_large, f)
#define TIME(name, f)                                                                              \
  {name, F_TIME, OFF(i_##f), OFF(i_##f##_extra), 4, 0},                                            \
  {name "_nsec", F_NSEC, OFF(i_##f), OFF(i_##f##_extra), 4, 999999999}

static const struct field fields[] = {
  {"uid", F_UINT, OFF(i_uid), OFF(osd2.linux2.l_i_uid_high), 2, UINT32_MAX},
  {"gid", F_UINT, OFF(i_gid), OFF(osd2.linux2.l_i_gid_high), 2, UINT32_MAX},
  {"mode", F_UINT, OFF(i_mode), 0, 2, 0xffff},
  {"links_count", F_UINT, OFF(i_links_count), 0, 2, 0xffff},
  {"flags", F_UINT, OFF(i_flags), 0, 4, UINT32_MAX},
  {"generation", F_UINT, OFF(i_generation), 0, 4, UINT32_MAX},
  {"size", F_SIZE, OFF(i_size), OFF(i_size_high), 4, INT64_MAX},
  TIME("mtime", mtime),
  TIME("atime", atime),
  TIME("ctime", ctime),
  TIME("crtime", crtime),
};

static const struct field *find_field(const char *name)
{
  size_t i;

  for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    if (strcmp(fields[i].name, name) == 0)
      return &fields[i];
  return NULL;
}

int bg_ext4_field_known(const char *name)
{
  return find_field(name) != NULL;
}

static void put_le(unsigned char *at, uint64_t v, unsigned size)
{
  unsigned i;

  for (i = 0; i < size; i++)
    at[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *at)
{
  uint32_t v;

  memcpy(&v, at, sizeof(v));
  return v;
}

static int set_time(struct bg_ext4 *img, const struct field *f, struct ext2_inode_large *in,
                    int64_t value, const char *path, struct bg_error *err)
{
  unsigned char *base = (unsigned char *)in;
  uint32_t lo = get_u32(base + f->lo), extra = get_u32(base + f->hi);
  int room = bg_ext4_has_extra(in, f->hi + 4);
  struct bg_time t;
  int clamped;

  if (!room && (f->kind == F_NSEC || !bg_ext4_has_extra(in, f->lo + 4)))
    return bg_error_set(err, BG_EINVAL, "%s: the inode has no room for %s", path, f->name);
  t = bg_ext4_time_get(lo, extra, room);
  if (f->kind == F_NSEC)
    t.nsec = (uint32_t)value;
  else
    t.sec = value;
  clamped = room ? bg_ext4_time_set(&lo, &extra, &t) : bg_ext4_time_set_small(&lo, &t);
  if (clamped)
    bg_ext4_note_time(&img->notes, path, f->name, &t, room);
  memcpy(base + f->lo, &lo, sizeof(lo));
  if (room)
    memcpy(base + f->hi, &extra, sizeof(extra));
  return 0;
}

int bg_ext4_set_field(struct bg_ext4 *img, const char *path, const char *name, int64_t value,
                      struct bg_error *err)
{
  const struct field *f = find_field(name);
  struct ext2_inode_large in;
  unsigned char *base = (unsigned char *)&in;
  ext2_ino_t ino;
  errcode_t rc;

  if (f == NULL)
    return bg_error_set(err, BG_EINVAL, "unknown inode field \"%s\"", name);
  if (bg_ext4_need_write(img, path, err) != 0 || bg_ext4_lookup(img, path, 0, &ino, &in, err) != 0)
    return -1;
  if (f->kind != F_TIME && (value < 0 || value > f->max))
    return bg_error_set(err, BG_EINVAL, "%s: %s %lld out of range", path, name,
                        (long long)value);
  switch (f->kind) {
  case F_UINT:
    put_le(base + f->lo, (uint64_t)value, f->size);
    if (f->hi)
      put_le(base + f->hi, (uint64_t)value >> 16, 2);
    break;
  case F_SIZE:
    rc = ext2fs_inode_size_set(img->fs, (struct ext2_inode *)&in, (uint64_t)value);
    if (rc != 0)
      return bg_ext4_fail(err, rc, "while setting the size of %s", path);
    break;
  case F_TIME:
  case F_NSEC:
    if (set_time(img, f, &in, value, path, err) != 0)
      return -1;
    break;
  }
  if (bg_ext4_write_inode(img, ino, &in, path, err) != 0)
    return -1;
  return bg_ext4_writes_ok(img, img->path, err);
}
