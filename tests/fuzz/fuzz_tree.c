/* Path resolution under hostile names: the input is a program of tree operations whose paths
 * and targets are fuzzed bytes (".." chains, symlink loops, links through symlinks, names over
 * 255 bytes). Records are separated by NUL; a record's first byte picks the operation and its
 * flags, the rest is the path; link and symlink operations take the next record as the target.
 * After the program the tree must still keep every invariant (tree_check.h). */
#include "fuzz.h"

#include "tree_check.h"

#define MAX_OPS 256

struct reader {
  const uint8_t *p, *end;
};

/* The next NUL-terminated record as a C string (the input is copied and terminated). */
static char *next_record(struct reader *r)
{
  const uint8_t *s = r->p, *z;

  if (r->p >= r->end)
    return NULL;
  z = memchr(s, '\0', (size_t)(r->end - s));
  r->p = z ? z + 1 : r->end;
  return (char *)s;
}

static void run(struct bg_tree *t, unsigned op, const char *path, struct reader *r)
{
  static const struct bg_meta m = {.mode = 0755, .mtime = {1700000000, 0}};
  int flags = ((op & 0x10) ? BG_PARENTS : 0) | ((op & 0x20) ? BG_KEEP : 0);
  struct bg_node *n = NULL, *dir = NULL;
  char last[BG_TREE_NAME_MAX + 1];
  struct bg_content c;
  struct bg_error err;
  const char *arg;
  int rc = 0;

  bg_error_clear(&err);
  switch (op % 10) {
  case 0:
    rc = bg_tree_mkdir(t, path, &m, flags, &n, &err);
    break;
  case 1:
    memset(&c, 0, sizeof(c));
    c.kind = BG_CONTENT_MEM;
    c.mem = (unsigned char *)strdup(path);
    if (c.mem == NULL)
      abort();
    rc = bg_tree_add_file(t, path, &m, &c, strlen(path), flags, &n, &err);
    bg_content_clear(&c);
    break;
  case 2:
    arg = next_record(r);
    rc = bg_tree_symlink(t, path, arg ? arg : "", &m, flags, &n, &err);
    break;
  case 3:
    rc = bg_tree_mknod(t, path, (op & 0x40) ? S_IFIFO : S_IFCHR, &m, 1, 3, flags, &n, &err);
    break;
  case 4:
    arg = next_record(r);
    rc = bg_tree_link(t, path, arg ? arg : "", flags, &n, &err);
    break;
  case 5:
    rc = bg_tree_remove(t, path, &err);
    break;
  case 6:
    rc = bg_tree_lookup(t, path, (op & 0x40) ? BG_FOLLOW : 0, &n, &err);
    break;
  case 7:
    rc = bg_tree_parent(t, path, flags & BG_PARENTS, &m.mtime, &dir, last, &err);
    if (rc == 0)
      FUZZ_ASSERT(dir != NULL && S_ISDIR(dir->inode->mode) && strlen(last) <= BG_TREE_NAME_MAX);
    break;
  case 8:
    bg_tree_begin_layer(t);
    break;
  default:
    rc = bg_tree_lookup(t, path, 0, &n, &err);
    if (rc == 0 && n != bg_tree_root(t))
      bg_tree_remove_node(t, n);
    n = NULL;
    break;
  }
  if (rc != 0) {
    FUZZ_ASSERT(err.code != 0 && err.msg[0] != '\0');
    return;
  }
  if (n != NULL) {
    FUZZ_ASSERT(n->inode != NULL);
    bg_tree_touch(t, n);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const struct bg_tree_limits limits = {.max_entries = 1000, .max_spool_bytes = 1 << 20};
  uint8_t *copy = malloc(size + 1);
  struct reader r;
  struct bg_error err;
  struct bg_tree *t;
  char *rec;
  int ops = 0;

  if (copy == NULL)
    abort();
  memcpy(copy, data, size);
  copy[size] = '\0';
  r.p = copy;
  r.end = copy + size;
  bg_error_clear(&err);
  t = bg_tree_new(&limits, &err);
  FUZZ_ASSERT(t != NULL);
  while (ops++ < MAX_OPS && (rec = next_record(&r)) != NULL) {
    if (rec[0] == '\0')
      continue;
    run(t, (unsigned char)rec[0], rec + 1, &r);
  }
  fuzz_tree_check(t);
  bg_tree_free(t);
  free(copy);
  return 0;
}
