/* A directory's children: an open-addressing hash table by name, and a sorted array built when
 * someone asks for the children in order and kept until the directory changes. */
#include <stdlib.h>
#include <string.h>

#include "tree_internal.h"

struct bg_dirindex {
  struct bg_node **slots; /* open addressing; NULL empty, TOMBSTONE removed */
  uint32_t cap;           /* a power of two, or 0 */
  uint32_t count;
  uint32_t used;          /* count + tombstones */
  struct bg_node **sorted;
  size_t nsorted;
  int sorted_valid;
};

static struct bg_node tombstone_node;
#define TOMBSTONE (&tombstone_node)

static uint32_t hash_name(const char *name, size_t len)
{
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= (unsigned char)name[i];
    h *= 16777619u;
  }
  return h;
}

struct bg_dirindex *bg_dirindex_new(void)
{
  return calloc(1, sizeof(struct bg_dirindex));
}

void bg_dirindex_free(struct bg_dirindex *d)
{
  if (d == NULL)
    return;
  free(d->slots);
  free(d->sorted);
  free(d);
}

static int index_resize(struct bg_dirindex *d, uint32_t cap)
{
  struct bg_node **old = d->slots;
  uint32_t oldcap = d->cap, i, j;
  struct bg_node *n;

  d->slots = calloc(cap, sizeof(*d->slots));
  if (d->slots == NULL) {
    d->slots = old;
    return -1;
  }
  d->cap = cap;
  d->used = d->count;
  for (i = 0; i < oldcap; i++) {
    n = old[i];
    if (n == NULL || n == TOMBSTONE)
      continue;
    j = hash_name(n->name, n->namelen) & (cap - 1);
    while (d->slots[j] != NULL)
      j = (j + 1) & (cap - 1);
    d->slots[j] = n;
  }
  free(old);
  return 0;
}

struct bg_node *bg_node_child(struct bg_node *dir, const char *name, size_t len)
{
  struct bg_dirindex *d = dir->children;
  struct bg_node *n;
  uint32_t j;

  if (d == NULL || d->cap == 0)
    return NULL;
  j = hash_name(name, len) & (d->cap - 1);
  while ((n = d->slots[j]) != NULL) {
    if (n != TOMBSTONE && n->namelen == len && memcmp(n->name, name, len) == 0)
      return n;
    j = (j + 1) & (d->cap - 1);
  }
  return NULL;
}

int bg_dirindex_insert(struct bg_dirindex *d, struct bg_node *node)
{
  uint32_t j;

  if ((uint64_t)(d->used + 1) * 4 > (uint64_t)d->cap * 3) {
    uint32_t cap = d->cap ? d->cap : 8;
    while ((uint64_t)(d->count + 1) * 2 > cap)
      cap *= 2;
    if (index_resize(d, cap) != 0)
      return -1;
  }
  j = hash_name(node->name, node->namelen) & (d->cap - 1);
  while (d->slots[j] != NULL && d->slots[j] != TOMBSTONE)
    j = (j + 1) & (d->cap - 1);
  if (d->slots[j] == NULL)
    d->used++;
  d->slots[j] = node;
  d->count++;
  d->sorted_valid = 0;
  return 0;
}

void bg_dirindex_delete(struct bg_dirindex *d, struct bg_node *node)
{
  uint32_t j;

  if (d->cap == 0)
    return;
  j = hash_name(node->name, node->namelen) & (d->cap - 1);
  while (d->slots[j] != NULL) {
    if (d->slots[j] == node) {
      d->slots[j] = TOMBSTONE;
      d->count--;
      d->sorted_valid = 0;
      return;
    }
    j = (j + 1) & (d->cap - 1);
  }
}

void bg_dirindex_each(struct bg_dirindex *d, void (*fn)(struct bg_node *child, void *ctx),
                      void *ctx)
{
  uint32_t i;

  for (i = 0; i < d->cap; i++)
    if (d->slots[i] != NULL && d->slots[i] != TOMBSTONE)
      fn(d->slots[i], ctx);
}

static int cmp_nodes(const void *a, const void *b)
{
  const struct bg_node *x = *(struct bg_node *const *)a;
  const struct bg_node *y = *(struct bg_node *const *)b;
  size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
  int c = memcmp(x->name, y->name, n);

  if (c != 0)
    return c;
  return x->namelen < y->namelen ? -1 : x->namelen > y->namelen;
}

struct bg_node *const *bg_node_children(struct bg_node *dir, size_t *n)
{
  struct bg_dirindex *d = dir->children;
  struct bg_node **p;
  uint32_t i;
  size_t k = 0;

  *n = 0;
  if (d == NULL || d->count == 0)
    return NULL;
  if (!d->sorted_valid) {
    p = realloc(d->sorted, d->count * sizeof(*p));
    if (p == NULL)
      return NULL;
    d->sorted = p;
    for (i = 0; i < d->cap; i++)
      if (d->slots[i] != NULL && d->slots[i] != TOMBSTONE)
        p[k++] = d->slots[i];
    qsort(p, k, sizeof(*p), cmp_nodes);
    d->nsorted = k;
    d->sorted_valid = 1;
  }
  *n = d->nsorted;
  return d->sorted;
}
