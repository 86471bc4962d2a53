/* Replaying a layer's records into the tree, in order: OCI whiteouts, entries made through the
 * tree's resolver, xattrs and notes, and the caps that span layers, counted exactly. */
#include "apply.h"

#include <stdio.h>
#include <string.h>

#include "../util/log.h"

/* Records what the policy, or what Linux cannot hold, changed of an entry, for the build's loss
 * report; what Linux could not hold (BG_REC_WARN) is a warning on the log too. */
static void note(struct bg_apply *ap, const struct bg_rec *r)
{
  char path[BG_TREE_PATH_MAX + 2], shown[BG_LAYER_SHOW_MAX + 16];

  snprintf(path, sizeof(path), "/%s", bg_rec_path(r));
  if (bg_tree_note(ap->t, bg_tree_layer_gen(ap->t), r->code, path, "%s", bg_rec_str(r)) == 0 ||
      !(r->flags & BG_REC_WARN))
    return; /* said already, or the policy's choice */
  bg_layer_show(bg_rec_path(r), shown, sizeof(shown));
  bg_log(BG_LOG_WARN, "%s: %s: dropped %s", ap->label, shown, bg_rec_str(r));
}

static int whiteout(struct bg_apply *ap, const struct bg_rec *r, struct bg_error *err)
{
  const char *path = bg_rec_path(r), *base = strrchr(path, '/');
  struct bg_node *dir, *victim;
  char last[BG_TREE_NAME_MAX + 1];
  const char *name;

  base = base != NULL ? base + 1 : path;
  name = base + 4; /* after ".wh." */
  /* the whiteout's directory exists in this layer, like any entry's parent */
  if (bg_tree_parent(ap->t, path, BG_PARENTS, &r->m.mtime, &dir, last, err) != 0)
    return -1;
  if (!S_ISDIR(dir->inode->mode))
    return bg_error_set(err, BG_EINVAL, "not a directory");
  bg_tree_touch(ap->t, dir);
  if (r->flags & BG_REC_OPAQUE)
    return bg_tree_make_opaque(ap->t, dir, err);
  victim = bg_node_child(dir, name, strlen(name));
  if (victim == NULL)
    return 0;
  if (victim->gen != bg_tree_layer_gen(ap->t)) {
    bg_tree_remove_node(ap->t, victim);
    return 0;
  }
  /* this layer wrote that name itself: only what lower layers left below it goes */
  if (S_ISDIR(victim->inode->mode))
    return bg_tree_make_opaque(ap->t, victim, err);
  return 0;
}

/* The entry's xattrs, checked when it was read, replace what a lower layer's directory had. */
static int set_xattrs(struct bg_inode *ino, const struct bg_rec *r, struct bg_error *err)
{
  const unsigned char *p = bg_rec_xattrs(r);
  const char *name;
  uint32_t i, len;

  while (ino->nxattrs > 0)
    if (bg_inode_set_xattr(ino, ino->xattrs[0].name, NULL, 0, err) != 0)
      return -1;
  for (i = 0; i < r->nxattrs; i++) {
    memcpy(&len, p, 4);
    name = (const char *)p + 4;
    p += 4 + strlen(name) + 1;
    if (bg_inode_set_xattr(ino, name, p, len, err) != 0)
      return -1;
    p += len;
  }
  return 0;
}

static int entry(struct bg_apply *ap, struct bg_rec *r, struct bg_error *err)
{
  const struct bg_tree_layer_totals *tot = ap->totals;
  const char *path = bg_rec_path(r);
  struct bg_node *node = NULL;

  switch (r->kind) {
  case BG_REC_SKIP:
    return 0;
  case BG_REC_WHITEOUT:
    return whiteout(ap, r, err);
  case BG_REC_LINK:
    /* the inode keeps its own mode and owner: the entry's fields are ignored */
    if (bg_tree_link(ap->t, path, bg_rec_str(r), BG_PARENTS, &node, err) != 0)
      return -1;
    bg_tree_touch(ap->t, node);
    return 0;
  case BG_REC_DIR:
    if (bg_tree_mkdir(ap->t, path, &r->m, BG_PARENTS, &node, err) != 0)
      return -1;
    break;
  case BG_REC_FILE:
    /* the same check as the reader's, now that the layers below are all counted */
    if (tot->content > ap->max_bytes || r->size > ap->max_bytes - tot->content)
      return bg_error_set(err, BG_ETOOBIG,
                          "file contents exceed the limit of %llu bytes (this file: %llu bytes)",
                          (unsigned long long)ap->max_bytes, (unsigned long long)r->size);
    ap->totals->content += r->size;
    if (bg_tree_add_file(ap->t, path, &r->m, &r->c, r->size, BG_PARENTS, &node, err) != 0)
      return -1;
    node->inode->zero_blocks = r->zero_blocks;
    break;
  case BG_REC_SYMLINK:
    if (bg_tree_symlink(ap->t, path, bg_rec_str(r), &r->m, BG_PARENTS, &node, err) != 0)
      return -1;
    break;
  case BG_REC_NODE:
    if (bg_tree_mknod(ap->t, path, r->ifmt, &r->m, r->major, r->minor, BG_PARENTS, &node,
                      err) != 0)
      return -1;
    break;
  default:
    return bg_error_set(err, BG_EINVAL, "unknown record %d", r->kind);
  }
  bg_tree_touch(ap->t, node);
  if (ap->policy->xattrs == BG_LAYER_XATTRS_KEEP && set_xattrs(node->inode, r, err) != 0)
    return -1;
  return 0;
}

static int too_many_bytes(struct bg_apply *ap, uint64_t stream_total, struct bg_error *err)
{
  if (ap->bytes_below > ap->max_bytes || stream_total > ap->max_bytes - ap->bytes_below)
    return bg_error_set(err, BG_ETOOBIG, "the uncompressed layers exceed the limit of %llu bytes",
                        (unsigned long long)ap->max_bytes);
  return 0;
}

int bg_apply_batch(struct bg_apply *ap, struct bg_batch *b, struct bg_error *err)
{
  struct bg_rec *r;
  size_t at;

  for (at = 0; at < b->used; at += r->len) {
    r = (struct bg_rec *)(b->data + at);
    /* a layer read ahead of its turn met the cap only now that the layers below are counted */
    if (too_many_bytes(ap, r->stream_total, err) != 0)
      return -1;
    switch (r->kind) {
    case BG_REC_LOG:
      if (r->flags & BG_REC_LABELLED)
        bg_log(r->code, "%s: %s", ap->label, bg_rec_str(r));
      else
        bg_log(r->code, "%s", bg_rec_str(r));
      continue;
    case BG_REC_NOTE:
      note(ap, r);
      continue;
    case BG_REC_END:
      ap->totals->bytes += r->stream_total;
      ap->ended = 1;
      if (ap->diff_id != NULL && strcmp(bg_rec_str(r), ap->diff_id) != 0)
        return bg_error_set(err, BG_EMISMATCH, "DiffID mismatch: expected %s, got %s",
                            ap->diff_id, bg_rec_str(r));
      continue;
    case BG_REC_ERROR:
      if ((r->flags & BG_REC_ENTRY) && ++ap->totals->entries > ap->max_entries)
        break;
      return bg_error_set(err, r->code, "%s", bg_rec_str(r));
    default:
      if (++ap->totals->entries > ap->max_entries)
        break;
      if (entry(ap, r, err) != 0)
        return bg_error_prefix(err, "%s", bg_rec_shown(r));
      if (ap->policy->progress != NULL)
        ap->policy->progress(ap->policy->progress_ctx, ap->layer, r->blob_bytes,
                             ap->totals->entries);
      continue;
    }
    return bg_error_set(err, BG_ETOOBIG, "more than %llu entries in the layers",
                        (unsigned long long)ap->max_entries);
  }
  return 0;
}
