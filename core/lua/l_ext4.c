/* banger.ext4: ext4 images written from a tree, and edited with debugfs-style primitives. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "l_common.h"
#include "l_runtime.h"
#include "../util/meter.h"
#include "l_tree.h"
#include "../digest/digest.h"
#include "../ext4/ext4.h"

#define IMAGE_MT "banger.ext4.Image"

typedef struct {
  struct bg_ext4 *img; /* NULL once closed */
} LImage;

/* SOURCE_DATE_EPOCH, when set, pins every timestamp the module writes on its own. */
static int source_date_epoch(lua_State *L, int64_t *t)
{
  const char *s = getenv("SOURCE_DATE_EPOCH");
  char *end = NULL;
  long long v;

  if (s == NULL || *s == '\0')
    return 0;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    luaL_error(L, "SOURCE_DATE_EPOCH is not a number: \"%s\"", s);
  *t = v;
  return 1;
}

static LImage *new_image(lua_State *L)
{
  LImage *li = lua_newuserdatauv(L, sizeof(LImage), 0);

  li->img = NULL; /* closed until the image is open */
  luaL_setmetatable(L, IMAGE_MT);
  return li;
}

static LImage *check_image(lua_State *L)
{
  LImage *li = luaL_checkudata(L, 1, IMAGE_MT);

  if (li->img == NULL)
    luaL_error(L, "attempt to use a closed image");
  return li;
}

/* Opens path into the userdata on top of the stack; returns 1 or pushes nil, msg, code (3). */
static int open_into(lua_State *L, LImage *li, const char *path, int flags)
{
  struct bg_error err;
  int64_t t;

  bg_error_clear(&err);
  li->img = bg_ext4_open(path, flags, &err);
  if (li->img == NULL)
    return bg_lua_fail(L, &err);
  if (source_date_epoch(L, &t))
    bg_ext4_set_time(li->img, t);
  return 1;
}

static void read_create_opts(lua_State *L, int idx, struct bg_ext4_opts *o)
{
  lua_Integer size, inodes, ratio;
  lua_Number reserved;
  const char *uuid;
  struct bg_error err;

  luaL_checktype(L, idx, LUA_TTABLE);
  bg_ext4_opts_init(o);
  lua_getfield(L, idx, "size");
  luaL_argcheck(L, lua_isinteger(L, -1), idx, "size (bytes) is required and must be an integer");
  size = lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_argcheck(L, size > 0, idx, "size must be positive");
  o->size = (uint64_t)size;
  o->label = bg_lua_optfield_str(L, idx, "label", NULL);
  o->seed = bg_lua_optfield_str(L, idx, "seed", NULL);
  uuid = bg_lua_optfield_str(L, idx, "uuid", NULL);
  if (uuid != NULL) {
    bg_error_clear(&err);
    if (bg_ext4_parse_uuid(uuid, o->uuid, &err) != 0)
      bg_lua_raise(L, &err);
    o->have_uuid = 1;
  }
  o->journal = bg_lua_optfield_bool(L, idx, "journal", 1);
  inodes = bg_lua_optfield_int(L, idx, "inodes", 0);
  ratio = bg_lua_optfield_int(L, idx, "inode_ratio", 0);
  luaL_argcheck(L, inodes >= 0 && inodes <= 0xffffffffLL, idx, "inodes out of range");
  luaL_argcheck(L, ratio == 0 || (ratio >= 1024 && ratio <= (1 << 26)), idx,
                "inode_ratio must be within 1024..67108864");
  o->inodes = (uint64_t)inodes;
  o->inode_ratio = (uint32_t)ratio;
  lua_getfield(L, idx, "reserved");
  if (!lua_isnil(L, -1)) {
    luaL_argcheck(L, lua_isnumber(L, -1), idx, "reserved must be a percentage");
    reserved = lua_tonumber(L, -1);
    luaL_argcheck(L, reserved >= 0 && reserved <= 50, idx, "reserved must be within 0..50");
    o->reserved_permille = (uint32_t)(reserved * 10 + 0.5);
  }
  lua_pop(L, 1);
  lua_getfield(L, idx, "time");
  if (!lua_isnil(L, -1)) {
    luaL_argcheck(L, lua_isinteger(L, -1), idx, "time must be an integer");
    o->have_time = 1;
    o->time = lua_tointeger(L, -1);
  } else {
    o->have_time = source_date_epoch(L, &o->time);
  }
  lua_pop(L, 1);
}

static void build_progress(void *ctx, uint64_t done, uint64_t total)
{
  struct bg_meter *m = ctx;
  char text[96];

  if (done < total && !bg_meter_due(m))
    return;
  snprintf(text, sizeof(text), "%llu of %llu inodes written", (unsigned long long)done,
           (unsigned long long)total);
  if (done < total)
    bg_meter_show(m, total ? (double)done / (double)total : -1, text);
  else if (m->mode == BG_METER_PLAIN)
    bg_meter_line(m, text);
}

/* ext4.create(path, {size = n, tree = t, label=, seed=, uuid=, journal=, inodes=, inode_ratio=,
 * reserved=, time=, progress=}) -> image open for writing under a temporary name (put at path by
 * close), or nil, message, code */
static int ext4_create(lua_State *L)
{
  const char *path = bg_lua_checkcstr(L, 1, "image path");
  struct bg_ext4_opts o;
  struct bg_tree *tree;
  struct bg_error err;
  struct bg_meter meter;
  LImage *li;
  int64_t t;

  bg_runtime_guard(L, BG_ACT_WRITE, "ext4.create");
  read_create_opts(L, 2, &o);
  lua_pushfstring(L, "writing %s", path);
  bg_meter_init(&meter, bg_runtime_progress_opt(L, 2), lua_tostring(L, -1));
  lua_pop(L, 1);
  if (meter.mode != BG_METER_NONE) {
    o.progress = build_progress;
    o.progress_ctx = &meter;
  }
  lua_getfield(L, 2, "tree");
  luaL_argcheck(L, !lua_isnil(L, -1), 2, "tree is required");
  tree = bg_lua_checktree(L, lua_gettop(L));
  lua_pop(L, 1);
  li = new_image(L);
  bg_error_clear(&err);
  li->img = bg_ext4_build(path, &o, tree, &err);
  bg_meter_done(&meter);
  if (li->img == NULL)
    return bg_lua_fail(L, &err);
  if (source_date_epoch(L, &t))
    bg_ext4_set_time(li->img, t);
  return 1;
}

/* Sizing options: the layout's (create's) and, with policy, the free space to leave. */
static void read_sizing(lua_State *L, int policy, struct bg_ext4_opts *o, struct bg_ext4_policy *p)
{
  lua_Integer n;

  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_pushinteger(L, (lua_Integer)BG_EXT4_MIN_SIZE);
  lua_setfield(L, 2, "size");
  read_create_opts(L, 2, o);
  memset(p, 0, sizeof(*p));
  if (!policy)
    return;
  lua_getfield(L, 2, "headroom");
  p->headroom = luaL_optnumber(L, -1, 0);
  lua_pop(L, 1);
  luaL_argcheck(L, p->headroom >= 0 && p->headroom <= 1000, 2,
                "headroom must be a fraction within 0..1000");
  n = bg_lua_optfield_int(L, 2, "min_free", 0);
  luaL_argcheck(L, n >= 0, 2, "min_free must not be negative");
  p->min_free = (uint64_t)n;
  n = bg_lua_optfield_int(L, 2, "min_free_inodes", 0);
  luaL_argcheck(L, n >= 0 && n <= 0xffffffffLL, 2, "min_free_inodes out of range");
  p->min_free_inodes = (uint64_t)n;
}

/* ext4.size_for(tree, {headroom=, min_free=, min_free_inodes=, journal=, reserved=, ...})
 * -> bytes, inodes */
static int ext4_size_for(lua_State *L)
{
  struct bg_tree *tree = bg_lua_checktree(L, 1);
  struct bg_ext4_policy p;
  struct bg_ext4_opts o;
  struct bg_error err;
  uint64_t bytes = 0, inodes = 0;

  read_sizing(L, 1, &o, &p);
  bg_error_clear(&err);
  if (bg_ext4_size_for(&o, tree, &p, &bytes, &inodes, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushinteger(L, (lua_Integer)bytes);
  lua_pushinteger(L, (lua_Integer)inodes);
  return 2;
}

/* ext4.min_size(tree, {inodes=, inode_ratio=, journal=}) -> bytes */
static int ext4_min_size(lua_State *L)
{
  struct bg_tree *tree = bg_lua_checktree(L, 1);
  struct bg_ext4_policy p;
  struct bg_ext4_opts o;
  struct bg_error err;
  uint64_t bytes = 0;

  read_sizing(L, 0, &o, &p);
  bg_error_clear(&err);
  if (bg_ext4_min_size(&o, tree, &bytes, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushinteger(L, (lua_Integer)bytes);
  return 1;
}

/* ext4.open(path [, {write = true}]) */
static int ext4_open(lua_State *L)
{
  const char *path = bg_lua_checkcstr(L, 1, "image path");
  int write = bg_lua_optfield_bool(L, 2, "write", 0);
  LImage *li;

  if (write)
    bg_runtime_guard(L, BG_ACT_WRITE, "ext4.open for writing");
  li = new_image(L);

  return open_into(L, li, path, write ? BG_EXT4_WRITE : 0);
}

struct meanwhile {
  lua_State *L;
  int fn;     /* stack index of the function */
  int failed; /* its error is then on the stack */
};

/* Runs the caller's function in protected mode: it runs while other threads sync and hash, and
 * must not jump out past them. */
static void run_meanwhile(void *arg)
{
  struct meanwhile *m = arg;

  lua_pushvalue(m->L, m->fn);
  m->failed = lua_pcall(m->L, 0, 0, 0) != LUA_OK;
}

/* img:close([{sha256 = true, meanwhile = fn}]) -> true (with sha256: and "sha256:<hex>", size of
 * the image as closed, a built one hashed while it is synced), or nil, message, code when
 * writing it back failed (a built image is then removed). fn runs once the image is written
 * back, during the sync and the hash; an error of fn is raised once they are done. Idempotent:
 * closing a closed image gives true. */
static int i_close(lua_State *L)
{
  LImage *li = luaL_checkudata(L, 1, IMAGE_MT);
  struct bg_error err;
  struct bg_ext4 *img = li->img;
  struct meanwhile m = {.L = L, .fn = 0, .failed = 0};
  unsigned char sum[BG_SHA256_LEN];
  char hex[BG_DIGEST_STRLEN];
  uint64_t size = 0;
  int want = 0, rc;

  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "sha256");
    want = lua_toboolean(L, -1) && img != NULL;
    lua_pop(L, 1);
    lua_getfield(L, 2, "meanwhile");
    if (!lua_isnil(L, -1)) {
      luaL_argexpected(L, lua_isfunction(L, -1), 2, "meanwhile as a function");
      m.fn = lua_gettop(L);
    } else {
      lua_pop(L, 1);
    }
  }
  li->img = NULL;
  bg_error_clear(&err);
  rc = bg_ext4_close_sum(img, want ? sum : NULL, &size, m.fn && img ? run_meanwhile : NULL, &m,
                         &err);
  if (m.failed)
    return lua_error(L);
  if (rc != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  if (!want)
    return 1;
  bg_digest_format(sum, hex);
  lua_pushstring(L, hex);
  lua_pushinteger(L, (lua_Integer)size);
  return 3;
}

/* <close>: a scope left normally closes and raises if that fails; a scope left by an error
 * abandons the image (a built one is removed) and lets that first error go on. */
static int i_closing(lua_State *L)
{
  LImage *li = luaL_checkudata(L, 1, IMAGE_MT);
  struct bg_ext4 *img = li->img;
  struct bg_error err;

  li->img = NULL;
  if (!lua_isnoneornil(L, 2)) {
    bg_ext4_discard(img);
    return 0;
  }
  bg_error_clear(&err);
  if (bg_ext4_close(img, &err) != 0)
    return bg_lua_raise(L, &err);
  return 0;
}

static int i_gc(lua_State *L)
{
  LImage *li = luaL_checkudata(L, 1, IMAGE_MT);

  bg_ext4_discard(li->img); /* nobody is left to hear about a failure here */
  li->img = NULL;
  return 0;
}

/* img:warnings() -> { {kind=, path=, layer=, detail=}, ... }, total, { kind = count }: what was
 * changed to make the image valid, in the loss report's shape (layer is 0). */
static int i_warnings(lua_State *L)
{
  return bg_lua_push_notes(L, bg_ext4_notes(check_image(L)->img));
}

static int ok_or_fail(lua_State *L, int rc, const struct bg_error *err)
{
  if (rc != 0)
    return bg_lua_fail(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* Meta from an option table; times from the image's clock unless mtime is given. */
static int read_meta(lua_State *L, int idx, uint32_t defmode, struct bg_meta *m)
{
  int flags = 0;

  if (!lua_isnoneornil(L, idx))
    luaL_checktype(L, idx, LUA_TTABLE);
  bg_lua_meta(L, idx, defmode, m);
  if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, "mtime") == LUA_TNIL)
    flags |= BG_EXT4_NOW;
  if (!lua_isnoneornil(L, idx))
    lua_pop(L, 1);
  return flags;
}

/* img:mkdir(path [, {parents=, mode=, uid=, gid=, mtime=}]) */
static int i_mkdir(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  struct bg_meta m;
  struct bg_error err;
  int flags = read_meta(L, 3, 0755, &m);

  if (bg_lua_optfield_bool(L, 3, "parents", 0))
    flags |= BG_PARENTS;
  bg_error_clear(&err);
  return ok_or_fail(L, bg_ext4_mkdir(li->img, path, &m, flags, &err), &err);
}

/* img:write(path, bytes [, opts]) or img:write(path, nil, {from = "/host/file", ...}) */
static int i_write(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  const char *from = bg_lua_optfield_str(L, 4, "from", NULL);
  struct bg_ext4_source src;
  struct bg_meta m;
  struct bg_error err;
  int flags = read_meta(L, 4, 0644, &m);
  size_t n = 0;

  if (bg_lua_optfield_bool(L, 4, "parents", 0))
    flags |= BG_PARENTS;
  memset(&src, 0, sizeof(src));
  if (from != NULL) {
    luaL_argcheck(L, lua_isnoneornil(L, 3), 3, "give bytes or opts.from, not both");
    src.host_path = from;
  } else {
    src.mem = luaL_checklstring(L, 3, &n);
    src.len = n;
  }
  bg_error_clear(&err);
  return ok_or_fail(L, bg_ext4_write(li->img, path, &src, &m, flags, &err), &err);
}

static int i_symlink(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  const char *target = bg_lua_checkcstr(L, 3, "symlink target");
  struct bg_meta m;
  struct bg_error err;
  int flags = read_meta(L, 4, 0777, &m);

  if (bg_lua_optfield_bool(L, 4, "parents", 0))
    flags |= BG_PARENTS;
  bg_error_clear(&err);
  return ok_or_fail(L, bg_ext4_symlink(li->img, path, target, &m, flags, &err), &err);
}

/* img:set_inode_field(path, field, value) */
static int i_set_inode_field(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  const char *field = bg_lua_checkcstr(L, 3, "field name");
  lua_Integer v = luaL_checkinteger(L, 4);
  struct bg_error err;

  if (!bg_ext4_field_known(field))
    return luaL_argerror(L, 3, lua_pushfstring(L, "invalid option '%s'", field));
  bg_error_clear(&err);
  return ok_or_fail(L, bg_ext4_set_field(li->img, path, field, v, &err), &err);
}

static int push_xattr(const char *name, const void *value, size_t len, void *ctx)
{
  lua_State *L = ctx;

  lua_pushlstring(L, value, len);
  lua_setfield(L, -2, name);
  return 0;
}

#define SETINT(name, v)                                                                            \
  do {                                                                                             \
    lua_pushinteger(L, (lua_Integer)(v));                                                          \
    lua_setfield(L, -2, name);                                                                     \
  } while (0)

/* img:stat(path [, {follow = true}]): banger.tree's stat table plus ino, links, atime, ctime */
static int i_stat(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  int follow = bg_lua_optfield_bool(L, 3, "follow", 0);
  char target[BG_TREE_PATH_MAX + 1];
  struct bg_ext4_stat st;
  struct bg_inode ino;
  struct bg_error err;
  size_t nx;

  bg_error_clear(&err);
  if (bg_ext4_stat(li->img, path, follow ? BG_FOLLOW : 0, &st, &err) != 0)
    return bg_lua_fail(L, &err);
  memset(&ino, 0, sizeof(ino));
  ino.mode = st.mode;
  ino.uid = st.uid;
  ino.gid = st.gid;
  ino.mtime = st.mtime;
  ino.size = st.size;
  ino.nlink = st.links;
  ino.rdev_major = st.rdev_major;
  ino.rdev_minor = st.rdev_minor;
  if (S_ISLNK(st.mode)) { /* only when not followed */
    if (bg_ext4_readlink(li->img, path, target, sizeof(target), &err) != 0)
      return bg_lua_fail(L, &err);
    ino.target = target;
  }
  bg_lua_push_inode(L, &ino);
  SETINT("ino", st.ino);
  SETINT("links", st.links);
  SETINT("atime", st.atime.sec);
  SETINT("atime_nsec", st.atime.nsec);
  SETINT("ctime", st.ctime.sec);
  SETINT("ctime_nsec", st.ctime.nsec);
  SETINT("flags", st.flags);
  SETINT("blocks", st.blocks);
  lua_newtable(L);
  if (bg_ext4_xattrs(li->img, path, follow ? BG_FOLLOW : 0, push_xattr, L, &err) != 0)
    return bg_lua_fail(L, &err);
  nx = 0;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    nx++;
  }
  if (nx > 0)
    lua_setfield(L, -2, "xattrs");
  else
    lua_pop(L, 1);
  return 1;
}

/* img:read(path [, max]) -> bytes */
static int i_read(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  lua_Integer max = luaL_optinteger(L, 3, 0);
  struct bg_error err;
  unsigned char *buf = NULL;
  size_t n = 0;

  luaL_argcheck(L, max >= 0, 3, "max must not be negative");
  bg_error_clear(&err);
  if (bg_ext4_read(li->img, path, (uint64_t)max, &buf, &n, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushlstring(L, (const char *)buf, n);
  free(buf);
  return 1;
}

/* img:list(dir) -> { {name=, type=, ino=}, ... } sorted by name */
static int i_list(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  struct bg_ext4_dirent *d = NULL;
  struct bg_error err;
  size_t n = 0, i;

  bg_error_clear(&err);
  if (bg_ext4_list(li->img, path, &d, &n, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, d[i].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, bg_lua_type_name(d[i].mode));
    lua_setfield(L, -2, "type");
    SETINT("ino", d[i].ino);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  bg_ext4_dirents_free(d, n);
  return 1;
}

static int i_exists(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  struct bg_ext4_stat st;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_ext4_stat(li->img, path, 0, &st, &err) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (err.code != BG_ENOTFOUND)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 0);
  return 1;
}

/* img:remove(path [, {recursive = true}]) */
static int i_remove(lua_State *L)
{
  LImage *li = check_image(L);
  const char *path = bg_lua_checkcstr(L, 2, "path");
  int flags = bg_lua_optfield_bool(L, 3, "recursive", 0) ? BG_EXT4_RECURSIVE : 0;
  struct bg_error err;

  bg_error_clear(&err);
  return ok_or_fail(L, bg_ext4_remove(li->img, path, flags, &err), &err);
}

static int i_tostring(lua_State *L)
{
  LImage *li = luaL_checkudata(L, 1, IMAGE_MT);

  lua_pushstring(L, li->img ? "banger.ext4.Image" : "banger.ext4.Image (closed)");
  return 1;
}

static const luaL_Reg image_methods[] = {
  {"close", i_close},
  {"exists", i_exists},
  {"list", i_list},
  {"mkdir", i_mkdir},
  {"read", i_read},
  {"remove", i_remove},
  {"set_inode_field", i_set_inode_field},
  {"stat", i_stat},
  {"symlink", i_symlink},
  {"warnings", i_warnings},
  {"write", i_write},
  {NULL, NULL},
};

static const luaL_Reg image_meta[] = {
  {"__close", i_closing},
  {"__gc", i_gc},
  {"__index", NULL},
  {"__tostring", i_tostring},
  {NULL, NULL},
};

static const luaL_Reg ext4_funcs[] = {
  {"create", ext4_create},
  {"min_size", ext4_min_size},
  {"open", ext4_open},
  {"size_for", ext4_size_for},
  {NULL, NULL},
};

int luaopen_banger_ext4(lua_State *L)
{
  luaL_newmetatable(L, IMAGE_MT);
  luaL_setfuncs(L, image_meta, 0);
  luaL_newlibtable(L, image_methods);
  luaL_setfuncs(L, image_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, ext4_funcs);
  return 1;
}
