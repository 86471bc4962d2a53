/* Inodes: what names point to, their extended attributes, and what ext4 and Linux can hold. */
#include <stdlib.h>
#include <string.h>

#include "tree_internal.h"

/* ext4 keeps an inode's xattrs beside it and in one block: this is what that block holds after
 * its header and end marker (a 4 KiB block, the writer's). */
#define XATTR_BLOCK_ROOM (4096 - 32 - 4)

struct bg_inode *bg_inode_new(uint32_t mode, const struct bg_meta *m)
{
  struct bg_inode *ino = calloc(1, sizeof(*ino));

  if (ino == NULL)
    return NULL;
  ino->mode = mode;
  bg_inode_set_attrs(ino, m);
  return ino;
}

void bg_inode_set_attrs(struct bg_inode *ino, const struct bg_meta *m)
{
  ino->mode = (ino->mode & S_IFMT) | (m->mode & 07777);
  ino->uid = m->uid;
  ino->gid = m->gid;
  ino->mtime = m->mtime;
  ino->atime = m->atime;
  ino->ctime = m->ctime;
}

void bg_content_clear(struct bg_content *c)
{
  free(c->mem);
  free(c->host_path);
  memset(c, 0, sizeof(*c));
}

void bg_inode_free(struct bg_inode *ino)
{
  uint32_t i;

  for (i = 0; i < ino->nxattrs; i++) {
    free(ino->xattrs[i].name);
    free(ino->xattrs[i].value);
  }
  free(ino->xattrs);
  free(ino->target);
  bg_content_clear(&ino->content);
  free(ino);
}

void bg_inode_unref(struct bg_inode *ino)
{
  if (--ino->nlink == 0)
    bg_inode_free(ino);
}

/* ---- xattrs ---- */

static const struct {
  const char *prefix;
  size_t len;
  int whole; /* the prefix is the whole name */
} namespaces[] = {
  {"user.", 5, 0},
  {"trusted.", 8, 0},
  {"security.", 9, 0},
  {"system.posix_acl_access", 23, 1},
  {"system.posix_acl_default", 24, 1},
};

static uint32_t le(const unsigned char *p, int bytes)
{
  uint32_t v = 0;

  while (bytes-- > 0)
    v = v << 8 | p[bytes];
  return v;
}

/* The kernel's posix_acl_valid on the xattr form: version 2, entries in tag order, each named
 * user or group with an id, a mask when there are any, permissions rwx only. */
static const char *acl_problem(const unsigned char *v, size_t len)
{
  enum { USER_OBJ = 1, USER = 2, GROUP_OBJ = 4, GROUP = 8, MASK = 0x10, OTHER = 0x20 };
  uint32_t state = USER_OBJ, tag, id;
  int needs_mask = 0;
  size_t i;

  if (len < 4 + 8 || (len - 4) % 8 != 0)
    return "malformed POSIX ACL (size)";
  if (le(v, 4) != 2)
    return "malformed POSIX ACL (version)";
  for (i = 4; i < len; i += 8) {
    tag = le(v + i, 2);
    id = le(v + i + 4, 4);
    if (le(v + i + 2, 2) & ~7u)
      return "malformed POSIX ACL (permissions)";
    if ((tag == USER || tag == GROUP) && id == 0xffffffffu)
      return "malformed POSIX ACL (id)";
    if (tag == USER_OBJ && state == USER_OBJ)
      state = USER;
    else if (tag == USER && state == USER)
      needs_mask = 1;
    else if (tag == GROUP_OBJ && state == USER)
      state = GROUP;
    else if (tag == GROUP && state == GROUP)
      needs_mask = 1;
    else if (tag == MASK && state == GROUP)
      state = OTHER;
    else if (tag == OTHER && (state == OTHER || (state == GROUP && !needs_mask)))
      state = 0;
    else
      return "malformed POSIX ACL (entries)";
  }
  return state == 0 ? NULL : "malformed POSIX ACL (entries)";
}

/* The form the kernel gives back: entries that name no one (the owner, the group, the mask,
 * others) carry the undefined id, which ext4 does not store. */
static void acl_canonical(unsigned char *v, size_t len)
{
  uint32_t tag;
  size_t i;

  for (i = 4; i + 8 <= len; i += 8) {
    tag = le(v + i, 2);
    if (tag != 2 && tag != 8)
      memset(v + i + 4, 0xff, 4);
  }
}

const char *bg_xattr_problem(const char *name, size_t namelen, const void *value, size_t len,
                             uint32_t mode)
{
  size_t i, n = sizeof(namespaces) / sizeof(namespaces[0]);

  if (namelen > 255)
    return "name over 255 bytes";
  if (memchr(name, '\0', namelen) != NULL)
    return "a NUL byte in the name";
  for (i = 0; i < n; i++) {
    if (namespaces[i].whole ? namelen == namespaces[i].len &&
                                  memcmp(name, namespaces[i].prefix, namelen) == 0
                            : namelen >= namespaces[i].len &&
                                  memcmp(name, namespaces[i].prefix, namespaces[i].len) == 0)
      break;
  }
  if (i == n)
    return "not in a namespace Linux shows (user., trusted., security., "
           "system.posix_acl_access, system.posix_acl_default)";
  if (!namespaces[i].whole && namelen == namespaces[i].len)
    return "nothing after the namespace";
  if (namelen >= 16 && memcmp(name, "trusted.overlay.", 16) == 0)
    return "overlayfs' private state, which never goes into an image";
  if (i == 0 && !S_ISREG(mode) && !S_ISDIR(mode))
    return "user. xattrs are shown on files and directories only";
  if (namespaces[i].whole) {
    if (S_ISLNK(mode))
      return "a POSIX ACL on a symlink";
    if (i == n - 1 && !S_ISDIR(mode))
      return "a default POSIX ACL on something not a directory";
    return acl_problem(value, len);
  }
  return NULL;
}

/* What one xattr takes in an xattr block: entry, name after its namespace, value. */
static size_t xattr_room(const char *name, size_t len)
{
  size_t i, n = strlen(name), skip = 0;

  for (i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++)
    if (strncmp(name, namespaces[i].prefix, namespaces[i].len) == 0)
      skip = namespaces[i].len;
  return 16 + ((n - skip + 3) & ~(size_t)3) + ((len + 3) & ~(size_t)3);
}

int bg_inode_set_xattr(struct bg_inode *ino, const char *name, const void *value, size_t len,
                       struct bg_error *err)
{
  unsigned char *copy;
  const char *why;
  struct bg_xattr *x;
  char *dup;
  uint32_t i, j;
  size_t room = 0;
  int c = 1;

  for (i = 0; i < ino->nxattrs; i++) {
    c = strcmp(ino->xattrs[i].name, name);
    if (c >= 0)
      break;
  }
  if (value == NULL) {
    if (i < ino->nxattrs && c == 0) {
      free(ino->xattrs[i].name);
      free(ino->xattrs[i].value);
      for (j = i + 1; j < ino->nxattrs; j++)
        ino->xattrs[j - 1] = ino->xattrs[j];
      ino->nxattrs--;
    }
    return 0;
  }
  why = bg_xattr_problem(name, strlen(name), value, len, ino->mode);
  if (why != NULL)
    return bg_error_set(err, BG_EINVAL, "xattr %s: %s", name, why);
  for (j = 0; j < ino->nxattrs; j++)
    if (j != i || c != 0)
      room += xattr_room(ino->xattrs[j].name, ino->xattrs[j].len);
  if (room + xattr_room(name, len) > XATTR_BLOCK_ROOM)
    return bg_error_set(err, BG_ETOOBIG,
                        "xattr %s: %zu bytes, more than the inode's xattrs can hold in ext4",
                        name, len);
  copy = malloc(len ? len : 1);
  if (copy == NULL)
    return bg_error_set(err, BG_ENOMEM, "out of memory setting xattr %s", name);
  memcpy(copy, value, len);
  if (strncmp(name, "system.posix_acl_", 17) == 0)
    acl_canonical(copy, len);
  if (i < ino->nxattrs && c == 0) {
    x = &ino->xattrs[i];
    free(x->value);
    x->value = copy;
    x->len = len;
    return 0;
  }
  x = realloc(ino->xattrs, (ino->nxattrs + 1) * sizeof(*x));
  if (x == NULL)
    goto nomem;
  ino->xattrs = x;
  dup = strdup(name);
  if (dup == NULL)
    goto nomem;
  for (j = ino->nxattrs; j > i; j--)
    ino->xattrs[j] = ino->xattrs[j - 1];
  ino->nxattrs++;
  ino->xattrs[i].name = dup;
  ino->xattrs[i].value = copy;
  ino->xattrs[i].len = len;
  return 0;
nomem:
  free(copy);
  return bg_error_set(err, BG_ENOMEM, "out of memory setting xattr %s", name);
}
