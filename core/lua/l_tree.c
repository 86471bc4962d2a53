/* banger.tree: the merged filesystem tree an image is built from. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../layer/layer.h"
#include "l_common.h"
#include "l_tree.h"
#include "l_runtime.h"
#include "../util/meter.h"

#define READ_MAX_DEFAULT (1 << 20)

static LTree *check_ltree(lua_State *L, int idx)
{
  LTree *lt = luaL_checkudata(L, idx, BG_TREE_MT);

  if (lt->t == NULL)
    luaL_error(L, "attempt to use a closed tree");
  return lt;
}

/* A tree that is about to change: not while t:remap() walks it. */
static LTree *check_mutable(lua_State *L, int idx)
{
  LTree *lt = check_ltree(L, idx);

  if (lt->busy)
    luaL_error(L, "attempt to change a tree while remapping it");
  return lt;
}

/* A closed userdata first, so an error half-way leaves a consistent object. */
static LTree *push_ltree(lua_State *L)
{
  LTree *lt = lua_newuserdatauv(L, sizeof(LTree), 0);

  lt->t = NULL;
  lt->layers = 0;
  lt->busy = 0;
  luaL_setmetatable(L, BG_TREE_MT);
  return lt;
}

struct bg_tree *bg_lua_checktree(lua_State *L, int idx)
{
  return check_ltree(L, idx)->t;
}

/* A path in the tree: "." and ".." components, a NUL byte, a component over 255 bytes or a
 * path over 4095 are misuse, so they raise instead of quietly meaning something else. */
static const char *check_path(lua_State *L, int idx)
{
  char buf[BG_PATH_MAX];
  size_t len, n;
  const char *p = luaL_checklstring(L, idx, &len);
  int problem = bg_path_clean(p, len, BG_PATH_API, buf, sizeof(buf), &n);

  if (problem != BG_PATH_OK)
    luaL_argerror(L, idx, lua_pushfstring(L, "%s in path %s", bg_path_problem_str(problem), p));
  return p;
}

/* A symlink target: bytes without a NUL, at most what ext4 and Linux hold. */
static const char *check_target(lua_State *L, int idx)
{
  const char *p = bg_lua_checkcstr(L, idx, "symlink target");
  size_t len = strlen(p);

  luaL_argcheck(L, len > 0, idx, "empty symlink target");
  if (len > BG_TREE_SYMLINK_MAX)
    luaL_argerror(L, idx, lua_pushfstring(L, "symlink target too long (%d bytes, at most %d)",
                                          (int)len, BG_TREE_SYMLINK_MAX));
  return p;
}

static int tree_new(lua_State *L)
{
  struct bg_tree_limits lim;
  struct bg_error err;
  LTree *lt;

  lim.max_entries = (uint64_t)bg_lua_optfield_int(L, 1, "max_entries", 0);
  lim.max_spool_bytes = (uint64_t)bg_lua_optfield_int(L, 1, "max_bytes", 0);
  lt = push_ltree(L);
  bg_error_clear(&err);
  lt->t = bg_tree_new(&lim, &err);
  if (lt->t == NULL)
    return bg_lua_raise(L, &err);
  return 1;
}

/* Reads mode/uid/gid/mtime from the option table at idx into m. */
void bg_lua_meta(lua_State *L, int idx, uint32_t defmode, struct bg_meta *m)
{
  lua_Integer mode = bg_lua_optfield_mode(L, idx, "mode", defmode);
  lua_Integer uid = bg_lua_optfield_int(L, idx, "uid", 0);
  lua_Integer gid = bg_lua_optfield_int(L, idx, "gid", 0);

  luaL_argcheck(L, mode >= 0 && mode <= 07777, idx, "mode must be within 0..07777");
  luaL_argcheck(L, uid >= 0 && uid <= 0xffffffffLL, idx, "uid must be within 0..4294967295");
  luaL_argcheck(L, gid >= 0 && gid <= 0xffffffffLL, idx, "gid must be within 0..4294967295");
  memset(m, 0, sizeof(*m));
  m->mode = (uint32_t)mode;
  m->uid = (uint32_t)uid;
  m->gid = (uint32_t)gid;
  m->mtime.sec = bg_lua_optfield_int(L, idx, "mtime", 0);
  m->mtime.nsec = (uint32_t)bg_lua_optfield_int(L, idx, "mtime_nsec", 0);
  luaL_argcheck(L, m->mtime.nsec < 1000000000u, idx, "mtime_nsec must be below 1e9");
  m->atime = m->mtime;
  m->ctime = m->mtime;
}

static int flags_of(lua_State *L, int idx)
{
  return bg_lua_optfield_bool(L, idx, "parents", 1) ? BG_PARENTS : 0;
}

static int t_mkdir(lua_State *L)
{
  struct bg_tree *t = check_mutable(L, 1)->t;
  const char *path = check_path(L, 2);
  struct bg_meta m;
  struct bg_error err;

  bg_lua_meta(L, 3, 0755, &m);
  bg_error_clear(&err);
  if (bg_tree_mkdir(t, path, &m, flags_of(L, 3), NULL, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* t:write(path, bytes, opts) or t:write(path, nil, {from = "/host/file", ...}) */
static int t_write(lua_State *L)
{
  struct bg_tree *t = check_mutable(L, 1)->t;
  const char *path = check_path(L, 2);
  const char *from = bg_lua_optfield_str(L, 4, "from", NULL);
  struct bg_content c;
  struct bg_meta m;
  struct bg_error err;
  struct stat st;
  const char *s;
  size_t n = 0;

  bg_lua_meta(L, 4, 0644, &m);
  memset(&c, 0, sizeof(c));
  bg_error_clear(&err);
  if (from != NULL) {
    luaL_argcheck(L, lua_isnoneornil(L, 3), 3, "give bytes or opts.from, not both");
    if (stat(from, &st) != 0) {
      bg_error_errno(&err, errno, "cannot use %s", from);
      return bg_lua_fail(L, &err);
    }
    if (!S_ISREG(st.st_mode)) {
      bg_error_set(&err, BG_EINVAL, "cannot use %s: not a regular file", from);
      return bg_lua_fail(L, &err);
    }
    c.kind = BG_CONTENT_HOST;
    c.host_path = strdup(from);
    n = (size_t)st.st_size;
  } else {
    s = luaL_checklstring(L, 3, &n);
    if (n > 0) {
      c.kind = BG_CONTENT_MEM;
      c.mem = malloc(n);
      if (c.mem != NULL)
        memcpy(c.mem, s, n);
    }
  }
  if ((c.kind == BG_CONTENT_MEM && c.mem == NULL) ||
      (c.kind == BG_CONTENT_HOST && c.host_path == NULL)) {
    bg_content_clear(&c);
    return luaL_error(L, "out of memory");
  }
  if (bg_tree_add_file(t, path, &m, &c, n, flags_of(L, 4), NULL, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int t_symlink(lua_State *L)
{
  struct bg_tree *t = check_mutable(L, 1)->t;
  const char *path = check_path(L, 2);
  const char *target = check_target(L, 3);
  struct bg_meta m;
  struct bg_error err;

  bg_lua_meta(L, 4, 0777, &m);
  bg_error_clear(&err);
  if (bg_tree_symlink(t, path, target, &m, flags_of(L, 4), NULL, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int t_link(lua_State *L)
{
  struct bg_tree *t = check_mutable(L, 1)->t;
  const char *path = check_path(L, 2);
  const char *existing = check_path(L, 3);
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_link(t, path, existing, flags_of(L, 4), NULL, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int t_remove(lua_State *L)
{
  struct bg_tree *t = check_mutable(L, 1)->t;
  const char *path = check_path(L, 2);
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_remove(t, path, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

const char *bg_lua_type_name(uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG: return "file";
  case S_IFDIR: return "dir";
  case S_IFLNK: return "symlink";
  case S_IFCHR: return "chr";
  case S_IFBLK: return "blk";
  case S_IFIFO: return "fifo";
  case S_IFSOCK: return "sock";
  }
  return "unknown";
}

static void set_int(lua_State *L, const char *key, lua_Integer v)
{
  lua_pushinteger(L, v);
  lua_setfield(L, -2, key);
}

void bg_lua_push_inode(lua_State *L, const struct bg_inode *ino)
{
  uint32_t i;

  lua_createtable(L, 0, 16);
  lua_pushstring(L, bg_lua_type_name(ino->mode));
  lua_setfield(L, -2, "type");
  set_int(L, "mode", ino->mode & 07777);
  set_int(L, "uid", ino->uid);
  set_int(L, "gid", ino->gid);
  set_int(L, "size", (lua_Integer)ino->size);
  set_int(L, "mtime", ino->mtime.sec);
  set_int(L, "mtime_nsec", ino->mtime.nsec);
  set_int(L, "atime", ino->atime.sec);
  set_int(L, "atime_nsec", ino->atime.nsec);
  set_int(L, "ctime", ino->ctime.sec);
  set_int(L, "ctime_nsec", ino->ctime.nsec);
  set_int(L, "nlink", ino->nlink);
  if (ino->target != NULL) {
    lua_pushstring(L, ino->target);
    lua_setfield(L, -2, "target");
  }
  if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) {
    set_int(L, "major", ino->rdev_major);
    set_int(L, "minor", ino->rdev_minor);
  }
  if (ino->nxattrs > 0) {
    lua_createtable(L, 0, (int)ino->nxattrs);
    for (i = 0; i < ino->nxattrs; i++) {
      lua_pushlstring(L, (const char *)ino->xattrs[i].value, ino->xattrs[i].len);
      lua_setfield(L, -2, ino->xattrs[i].name);
    }
    lua_setfield(L, -2, "xattrs");
  }
}

/* t:stat(path [, {follow = true}]) */
static int t_stat(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = check_path(L, 2);
  int follow = bg_lua_optfield_bool(L, 3, "follow", 0);
  struct bg_node *n;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_lookup(t, path, follow ? BG_FOLLOW : 0, &n, &err) != 0)
    return bg_lua_fail(L, &err);
  bg_lua_push_inode(L, n->inode);
  return 1;
}

static int t_exists(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = check_path(L, 2);
  struct bg_node *n;
  struct bg_error err;

  bg_error_clear(&err);
  lua_pushboolean(L, bg_tree_lookup(t, path, 0, &n, &err) == 0);
  return 1;
}

/* t:stats([block_size]) -> { entries, inodes, files, dirs, symlinks, specials, bytes,
 * data_blocks } */
static int t_stats(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  lua_Integer bs = luaL_optinteger(L, 2, 4096);
  struct bg_tree_stats s;

  luaL_argcheck(L, bs == 1024 || bs == 2048 || bs == 4096, 2,
                "block size must be 1024, 2048 or 4096");
  bg_tree_stats(t, (uint32_t)bs, &s);
  lua_createtable(L, 0, 8);
#define FIELD(name)                                                                                \
  lua_pushinteger(L, (lua_Integer)s.name);                                                         \
  lua_setfield(L, -2, #name)
  FIELD(entries);
  FIELD(inodes);
  FIELD(files);
  FIELD(dirs);
  FIELD(symlinks);
  FIELD(specials);
  FIELD(bytes);
  FIELD(data_blocks);
#undef FIELD
  return 1;
}

/* ---- layers ---- */

struct layer_opts {
  struct bg_layer_policy policy;
  const char *image; /* for messages; NULL when not given */
  int progress;      /* enum bg_meter_mode */
};

/* Flattening progress: blob bytes read over all layers, entries, the layer being read. */
struct flatten_meter {
  struct bg_meter m;
  uint64_t total, done_before; /* blob bytes of all layers, of the layers already read */
  uint64_t entries;            /* tar entries read so far */
  uint64_t *sizes;             /* of each layer's blob */
  lua_Integer layer, layers;
};

static void flatten_text(struct flatten_meter *fm, uint64_t read, uint64_t entries, char *out,
                         size_t cap)
{
  char have[32], total[32];

  bg_human_bytes((double)(fm->done_before + read), have, sizeof(have));
  bg_human_bytes((double)fm->total, total, sizeof(total));
  snprintf(out, cap, "layer %lld of %lld, %s of %s read, %llu entries", (long long)fm->layer,
           (long long)fm->layers, have, total, (unsigned long long)entries);
}

static void flatten_progress(void *ctx, size_t layer, uint64_t read, uint64_t entries)
{
  struct flatten_meter *fm = ctx;
  char text[160];

  fm->layer = (lua_Integer)layer + 1;
  fm->entries = entries;
  if (!bg_meter_due(&fm->m))
    return;
  flatten_text(fm, read, entries, text, sizeof(text));
  bg_meter_show(&fm->m, fm->total ? (double)(fm->done_before + read) / (double)fm->total : -1,
                text);
}

static void flatten_layer_done(void *ctx, size_t layer)
{
  struct flatten_meter *fm = ctx;
  char text[160];

  fm->layer = (lua_Integer)layer + 1;
  fm->done_before += fm->sizes[layer];
  if (fm->m.mode == BG_METER_PLAIN) {
    flatten_text(fm, 0, fm->entries, text, sizeof(text));
    bg_meter_line(&fm->m, text);
  }
}

static void read_layer_opts(lua_State *L, int idx, struct layer_opts *o)
{
  static const char *const devices[] = {"skip", "keep", NULL};
  static const char *const xattrs[] = {"drop", "keep", NULL};
  const char *s;
  lua_Integer n;
  int i;

  memset(o, 0, sizeof(*o));
  if (!lua_isnoneornil(L, idx))
    luaL_checktype(L, idx, LUA_TTABLE);
  s = bg_lua_optfield_str(L, idx, "devices", "skip");
  for (i = 0; devices[i] != NULL && strcmp(devices[i], s) != 0; i++)
    ;
  if (devices[i] == NULL)
    luaL_error(L, "option 'devices' must be \"skip\" or \"keep\", not \"%s\"", s);
  o->policy.devices = i == 1 ? BG_LAYER_DEVICES_KEEP : BG_LAYER_DEVICES_SKIP;
  s = bg_lua_optfield_str(L, idx, "xattrs", "drop");
  for (i = 0; xattrs[i] != NULL && strcmp(xattrs[i], s) != 0; i++)
    ;
  if (xattrs[i] == NULL)
    luaL_error(L, "option 'xattrs' must be \"drop\" or \"keep\", not \"%s\"", s);
  o->policy.xattrs = i == 1 ? BG_LAYER_XATTRS_KEEP : BG_LAYER_XATTRS_DROP;
  n = bg_lua_optfield_int(L, idx, "max_bytes", 0);
  luaL_argcheck(L, n >= 0, idx, "max_bytes must not be negative");
  o->policy.max_bytes = (uint64_t)n;
  n = bg_lua_optfield_int(L, idx, "max_entries", 0);
  luaL_argcheck(L, n >= 0, idx, "max_entries must not be negative");
  o->policy.max_entries = (uint64_t)n;
  o->image = bg_lua_optfield_str(L, idx, "image", NULL);
  o->progress = bg_runtime_progress_opt(L, idx);
}

/* Reads the layer table at idx ({path, media_type, diff_id, digest, verify}) as layer number n
 * into src, its label pushed on the stack (the strings stay referenced by the table and there). */
static void layer_src(lua_State *L, int idx, int n, const struct layer_opts *o,
                      struct bg_layer_src *src)
{
  luaL_checktype(L, idx, LUA_TTABLE);
  memset(src, 0, sizeof(*src));
  src->path = bg_lua_optfield_str(L, idx, "path", NULL);
  src->media_type = bg_lua_optfield_str(L, idx, "media_type", NULL);
  src->diff_id = bg_lua_optfield_str(L, idx, "diff_id", NULL);
  /* a blob the pull did not rehash is checked as it is read */
  if (lua_getfield(L, idx, "verified") == LUA_TBOOLEAN && !lua_toboolean(L, -1))
    src->blob_digest = bg_lua_optfield_str(L, idx, "digest", NULL);
  lua_pop(L, 1);
  if (src->path == NULL)
    luaL_error(L, "layer %d has no path", n);
  if (src->media_type == NULL)
    luaL_error(L, "layer %d has no media_type", n);
  if (bg_lua_optfield_str(L, idx, "digest", NULL) != NULL)
    lua_pushfstring(L, "layer %d (%s)", n, bg_lua_optfield_str(L, idx, "digest", NULL));
  else
    lua_pushfstring(L, "layer %d", n);
  if (o->image != NULL) {
    lua_pushfstring(L, " of %s", o->image);
    lua_concat(L, 2);
  }
  src->label = lua_tostring(L, -1);
}

/* Applies the layer table at idx as layer number lt->layers + 1. Returns 0, or pushes nil,
 * message, code and returns 3. */
static int apply_one(lua_State *L, LTree *lt, int idx, const struct layer_opts *o)
{
  struct bg_layer_src src;
  struct bg_error err;
  int top = lua_gettop(L), n = lt->layers + 1;

  layer_src(L, idx, n, o, &src);
  bg_error_clear(&err);
  if (bg_layer_apply_all(lt->t, &src, 1, &o->policy, &err) != 0) {
    lua_settop(L, top);
    return bg_lua_fail(L, &err);
  }
  lt->layers = n;
  lua_settop(L, top);
  return 0;
}

/* The size of the blob of layers[i] (the table at idx), 0 when it cannot be told. */
static uint64_t blob_size(lua_State *L, int idx, lua_Integer i)
{
  struct stat st;
  uint64_t size = 0;
  int top = lua_gettop(L);

  if (lua_geti(L, idx, i) == LUA_TTABLE && lua_getfield(L, -1, "path") == LUA_TSTRING &&
      stat(lua_tostring(L, -1), &st) == 0)
    size = (uint64_t)st.st_size;
  lua_settop(L, top);
  return size;
}

/* tree.from_layers(layers, opts) -> tree | nil, message, code */
static int tree_from_layers(lua_State *L)
{
  struct bg_tree_limits lim;
  struct flatten_meter fm;
  struct bg_layer_src *srcs;
  struct layer_opts o;
  struct bg_error err;
  lua_Integer i, n;
  LTree *lt;
  int rc;

  luaL_checktype(L, 1, LUA_TTABLE);
  read_layer_opts(L, 2, &o);
  n = (lua_Integer)luaL_len(L, 1);
  luaL_argcheck(L, n <= 100000, 1, "too many layers");
  memset(&fm, 0, sizeof(fm));
  /* scratch that survives an error: the layer descriptions and the blob sizes */
  srcs = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * (sizeof(*srcs) + sizeof(uint64_t)), 0);
  fm.sizes = (uint64_t *)(srcs + (n > 0 ? n : 1));
  luaL_checkstack(L, (int)n + 8, "too many layers");
  for (i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    layer_src(L, lua_gettop(L), (int)i, &o, &srcs[i - 1]);
    lua_remove(L, -2); /* the label stays on the stack, the table in layers */
    fm.sizes[i - 1] = o.progress != BG_METER_NONE ? blob_size(L, 1, i) : 0;
    fm.total += fm.sizes[i - 1];
  }
  lua_pushfstring(L, "flattening %s", o.image ? o.image : "layers");
  bg_meter_init(&fm.m, o.progress, lua_tostring(L, -1));
  lua_pop(L, 1);
  fm.layers = n;
  if (o.progress != BG_METER_NONE) {
    o.policy.progress = flatten_progress;
    o.policy.layer_done = flatten_layer_done;
    o.policy.progress_ctx = &fm;
  }
  lim.max_entries = o.policy.max_entries;
  lim.max_spool_bytes = o.policy.max_bytes;
  lt = push_ltree(L);
  bg_error_clear(&err);
  lt->t = bg_tree_new(&lim, &err);
  if (lt->t == NULL)
    return bg_lua_raise(L, &err);
  rc = bg_layer_apply_all(lt->t, srcs, (size_t)n, &o.policy, &err);
  bg_meter_done(&fm.m);
  if (rc != 0) {
    /* a half-applied tree is of no use to anyone */
    bg_tree_free(lt->t);
    lt->t = NULL;
    return bg_lua_fail(L, &err);
  }
  lt->layers = (int)n;
  return 1;
}

/* t:apply_layer(layer, opts) -> true | nil, message, code */
static int t_apply_layer(lua_State *L)
{
  LTree *lt = check_mutable(L, 1);
  struct layer_opts o;

  read_layer_opts(L, 3, &o);
  if (apply_one(L, lt, 2, &o) != 0)
    return 3;
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- reading ---- */

/* Pushes the first bytes of the regular file at path (symlinks followed inside the tree): all
 * of it when it is at most max bytes, else (whole) an error or (!whole) its first max bytes. */
static int push_content(lua_State *L, struct bg_tree *t, const char *path, uint64_t max,
                        int whole)
{
  struct bg_node *n;
  struct bg_error err;
  luaL_Buffer b;
  uint64_t pos = 0, len;
  size_t got;
  char *p;

  bg_error_clear(&err);
  if (bg_tree_lookup(t, path, BG_FOLLOW, &n, &err) != 0)
    return bg_lua_fail(L, &err);
  if (!S_ISREG(n->inode->mode)) {
    bg_error_set(&err, BG_EINVAL, "%s: not a regular file", path);
    return bg_lua_fail(L, &err);
  }
  if (whole && n->inode->size > max) {
    bg_error_set(&err, BG_ETOOBIG, "%s: %llu bytes, more than the limit of %llu", path,
                 (unsigned long long)n->inode->size, (unsigned long long)max);
    return bg_lua_fail(L, &err);
  }
  len = n->inode->size < max ? n->inode->size : max;
  p = luaL_buffinitsize(L, &b, (size_t)len);
  while (pos < len) {
    if (bg_tree_read(t, n->inode, pos, p + pos, (size_t)(len - pos), &got, &err) != 0)
      return bg_lua_fail(L, &err);
    if (got == 0)
      break;
    pos += got;
  }
  luaL_pushresultsize(&b, (size_t)pos);
  return 1;
}

/* t:read(path [, max]) -> bytes | nil, message, code. Symlinks are followed inside the tree. */
static int t_read(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = check_path(L, 2);
  lua_Integer max = luaL_optinteger(L, 3, READ_MAX_DEFAULT);

  luaL_argcheck(L, max >= 0, 3, "max must not be negative");
  return push_content(L, t, path, (uint64_t)max, 1);
}

/* t:head(path, n) -> the first n bytes of a file (all of a shorter one; n at most 1 MiB) |
 * nil, message, code. Symlinks are followed inside the tree. For headers: ELF, "#!". */
static int t_head(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = check_path(L, 2);
  lua_Integer want = luaL_checkinteger(L, 3);

  luaL_argcheck(L, want >= 0 && want <= READ_MAX_DEFAULT, 3, "n must be within 0..1048576");
  return push_content(L, t, path, (uint64_t)want, 0);
}

/* The walk iterator: upvalue 1 the tree, 2 a stack of paths still to visit. */
static int walk_next(lua_State *L)
{
  LTree *lt = luaL_checkudata(L, lua_upvalueindex(1), BG_TREE_MT);
  struct bg_node *const *kids;
  struct bg_node *n;
  struct bg_error err;
  lua_Integer top;
  const char *path;
  size_t k, i, plen;

  if (lt->t == NULL)
    return luaL_error(L, "attempt to use a closed tree");
  for (;;) {
    top = (lua_Integer)luaL_len(L, lua_upvalueindex(2));
    if (top == 0)
      return 0;
    lua_geti(L, lua_upvalueindex(2), top);
    lua_pushnil(L);
    lua_seti(L, lua_upvalueindex(2), top--);
    path = lua_tolstring(L, -1, &plen);
    bg_error_clear(&err);
    /* looked up afresh, following no symlink: a name the loop body removed or replaced on the
     * way is simply not visited (every name's path fits a lookup: the tree makes none deeper) */
    if (bg_tree_lookup(lt->t, path, BG_EXACT, &n, &err) == 0)
      break;
    lua_pop(L, 1);
  }
  if (n->children != NULL) {
    kids = bg_node_children(n, &k);
    if (k > 0 && kids == NULL)
      return luaL_error(L, "out of memory");
    /* pushed in reverse so the smallest name comes off first */
    for (i = k; i > 0; i--) {
      if (plen == 1)
        lua_pushliteral(L, "");
      else
        lua_pushvalue(L, -1);
      lua_pushliteral(L, "/");
      lua_pushlstring(L, kids[i - 1]->name, kids[i - 1]->namelen);
      lua_concat(L, 3);
      lua_seti(L, lua_upvalueindex(2), ++top);
    }
  }
  bg_lua_push_inode(L, n->inode);
  return 2;
}

/* for path, st in t:walk() do ... end: every name, sorted, a directory before its children. */
static int t_walk(lua_State *L)
{
  check_ltree(L, 1);
  lua_settop(L, 1);
  lua_createtable(L, 16, 0);
  lua_pushliteral(L, "/");
  lua_seti(L, -2, 1);
  lua_pushcclosure(L, walk_next, 2);
  return 1;
}

/* ---- ownership ---- */

struct remap_ctx {
  lua_State *L;
  struct bg_tree *t;
  int failed;
};

/* Runs protected: (fn, seen, node, tree) -> calls fn(uid, gid, path) and stores what it returns;
 * a change is a note for the loss report. */
static int remap_one(lua_State *L)
{
  struct bg_node *node = lua_touserdata(L, 3);
  struct bg_tree *t = lua_touserdata(L, 4);
  struct bg_inode *ino = node->inode;
  char path[2 * BG_TREE_PATH_MAX];
  struct bg_error err;
  lua_Integer uid, gid;

  if (ino->nlink > 1) {
    if (lua_rawgetp(L, 2, ino) != LUA_TNIL)
      return 0; /* another name of this inode came first */
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, 2, ino);
  }
  bg_error_clear(&err);
  if (bg_node_path(node, path, sizeof(path), &err) != 0)
    return bg_lua_raise(L, &err);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, ino->uid);
  lua_pushinteger(L, ino->gid);
  lua_pushstring(L, path);
  lua_call(L, 3, 2);
  if (lua_isnil(L, -2) && lua_isnil(L, -1))
    return 0;
  if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1))
    return luaL_error(L, "remap function must return two integers (uid, gid) or nothing, for %s",
                      path);
  uid = lua_tointeger(L, -2);
  gid = lua_tointeger(L, -1);
  if (uid < 0 || uid > 0xffffffffLL || gid < 0 || gid > 0xffffffffLL)
    return luaL_error(L, "remap function returned ids out of range for %s", path);
  if ((uint32_t)uid != ino->uid || (uint32_t)gid != ino->gid)
    bg_tree_note(t, 0, BG_NOTE_OWNER_REMAPPED, path, "%lu:%lu -> %lu:%lu (remap)",
                 (unsigned long)ino->uid, (unsigned long)ino->gid, (unsigned long)uid,
                 (unsigned long)gid);
  ino->uid = (uint32_t)uid;
  ino->gid = (uint32_t)gid;
  return 0;
}

static int remap_visit(struct bg_node *node, void *vctx)
{
  struct remap_ctx *c = vctx;
  lua_State *L = c->L;

  /* nothing here may raise: bg_tree_walk holds memory a longjmp would leak */
  if (!lua_checkstack(L, 5)) {
    c->failed = 1;
    lua_pushliteral(L, "out of Lua stack");
    return 1;
  }
  lua_pushcfunction(L, remap_one);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushlightuserdata(L, node);
  lua_pushlightuserdata(L, c->t);
  if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
    c->failed = 1;
    return 1;
  }
  return 0;
}

/* t:remap(fn): fn(uid, gid, path) -> new uid, gid (or nothing), once for every inode. */
static int t_remap(lua_State *L)
{
  LTree *lt = check_mutable(L, 1);
  struct remap_ctx c;
  int rc;

  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  lua_newtable(L); /* 3: inodes already seen, for hardlinks */
  c.L = L;
  c.t = lt->t;
  c.failed = 0;
  lt->busy = 1;
  rc = bg_tree_walk(lt->t, remap_visit, &c);
  lt->busy = 0;
  if (c.failed)
    return lua_error(L);
  if (rc != 0)
    return luaL_error(L, "out of memory walking the tree");
  return 0;
}

/* ---- devices and xattrs ---- */

/* t:mknod(path, "chr"|"blk"|"fifo", {major, minor, mode, uid, gid, parents}) */
static int t_mknod(lua_State *L)
{
  static const char *const types[] = {"chr", "blk", "fifo", NULL};
  static const uint32_t ifmt[] = {S_IFCHR, S_IFBLK, S_IFIFO};
  struct bg_tree *t = check_mutable(L, 1)->t;
  const char *path = check_path(L, 2);
  int type = luaL_checkoption(L, 3, NULL, types);
  lua_Integer major = bg_lua_optfield_int(L, 4, "major", 0);
  lua_Integer minor = bg_lua_optfield_int(L, 4, "minor", 0);
  struct bg_meta m;
  struct bg_error err;

  /* what Linux can encode: 12 bits of major, 20 of minor */
  luaL_argcheck(L, major >= 0 && major <= BG_DEV_MAJOR_MAX, 4, "major must be within 0..4095");
  luaL_argcheck(L, minor >= 0 && minor <= BG_DEV_MINOR_MAX, 4,
                "minor must be within 0..1048575");
  bg_lua_meta(L, 4, 0644, &m);
  bg_error_clear(&err);
  if (bg_tree_mknod(t, path, ifmt[type], &m, (uint32_t)major, (uint32_t)minor, flags_of(L, 4),
                    NULL, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* t:xattr(path, name) -> value | nil; t:xattr(path, name, value) sets; value nil removes.
 * Setting what the kernel could not show or ext4 could not hold raises. */
static int t_xattr(lua_State *L)
{
  int set = lua_gettop(L) >= 4;
  LTree *lt = set ? check_mutable(L, 1) : check_ltree(L, 1);
  const char *path = check_path(L, 2);
  const char *value = NULL, *why;
  struct bg_node *n;
  struct bg_error err;
  size_t len = 0;
  const char *name = bg_lua_checkcstr(L, 3, "xattr name");
  uint32_t i;

  if (set && !lua_isnil(L, 4))
    value = luaL_checklstring(L, 4, &len);
  luaL_argcheck(L, strchr(name, '.') != NULL, 3, "xattr names have a namespace (user.x)");
  bg_error_clear(&err);
  if (bg_tree_lookup(lt->t, path, 0, &n, &err) != 0)
    return bg_lua_fail(L, &err);
  if (!set) {
    for (i = 0; i < n->inode->nxattrs; i++) {
      if (strcmp(n->inode->xattrs[i].name, name) == 0) {
        lua_pushlstring(L, (const char *)n->inode->xattrs[i].value, n->inode->xattrs[i].len);
        return 1;
      }
    }
    lua_pushnil(L);
    return 1;
  }
  if (value != NULL) {
    why = bg_xattr_problem(name, strlen(name), value, len, n->inode->mode);
    if (why != NULL)
      return luaL_argerror(L, 3, lua_pushfstring(L, "xattr %s on %s: %s", name, path, why));
  }
  if (bg_inode_set_xattr(n->inode, name, value, len, &err) != 0)
    return bg_lua_raise(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* t:notes() -> { {kind=, path=, layer=, detail=}, ... }, total, { kind = count }: what the tree
 * dropped or changed of what the layers say, for the build's loss report; total and the counts
 * include the notes past the list's cap. */
static int t_notes(lua_State *L)
{
  return bg_lua_push_notes(L, bg_tree_notes(check_ltree(L, 1)->t));
}

/* t:note(kind, path, detail): records a change the build made to the tree (layer 0), such as a
 * mount point created; kind is one of the report's kinds. Returns true, or false when it repeats
 * the note before it. */
static int t_note(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *kind = luaL_checkstring(L, 2);
  const char *path = luaL_checkstring(L, 3);
  const char *detail = luaL_checkstring(L, 4);
  int k = bg_note_kind_of(kind);

  if (k == 0)
    return luaL_argerror(L, 2, lua_pushfstring(L, "unknown kind '%s'", kind));
  lua_pushboolean(L, bg_tree_note(t, 0, k, path, "%s", detail));
  return 1;
}

/* t:spool_usage() -> logical bytes, bytes on disk | nil, message, code */
static int t_spool_usage(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  uint64_t logical, allocated;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_spool_usage(t, &logical, &allocated, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushinteger(L, (lua_Integer)logical);
  lua_pushinteger(L, (lua_Integer)allocated);
  return 2;
}

static int t_close(lua_State *L)
{
  LTree *lt = luaL_checkudata(L, 1, BG_TREE_MT);

  if (lt->busy)
    return luaL_error(L, "attempt to close a tree while remapping it");
  bg_tree_free(lt->t);
  lt->t = NULL;
  return 0;
}

static int t_tostring(lua_State *L)
{
  LTree *lt = luaL_checkudata(L, 1, BG_TREE_MT);

  if (lt->t == NULL)
    lua_pushliteral(L, "banger.tree.Tree (closed)");
  else
    lua_pushfstring(L, "banger.tree.Tree (%I entries)", (lua_Integer)bg_tree_entries(lt->t));
  return 1;
}

static const luaL_Reg tree_methods[] = {
  {"apply_layer", t_apply_layer},
  {"close", t_close},
  {"exists", t_exists},
  {"head", t_head},
  {"link", t_link},
  {"mkdir", t_mkdir},
  {"mknod", t_mknod},
  {"note", t_note},
  {"notes", t_notes},
  {"read", t_read},
  {"remap", t_remap},
  {"remove", t_remove},
  {"spool_usage", t_spool_usage},
  {"stat", t_stat},
  {"stats", t_stats},
  {"symlink", t_symlink},
  {"walk", t_walk},
  {"write", t_write},
  {"xattr", t_xattr},
  {NULL, NULL},
};

static const luaL_Reg tree_meta[] = {
  {"__close", t_close},
  {"__gc", t_close},
  {"__index", NULL},
  {"__tostring", t_tostring},
  {NULL, NULL},
};

static const luaL_Reg tree_funcs[] = {
  {"from_layers", tree_from_layers},
  {"new", tree_new},
  {NULL, NULL},
};

int luaopen_banger_tree(lua_State *L)
{
  luaL_newmetatable(L, BG_TREE_MT);
  luaL_setfuncs(L, tree_meta, 0);
  luaL_newlibtable(L, tree_methods);
  luaL_setfuncs(L, tree_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, tree_funcs);
  return 1;
}
