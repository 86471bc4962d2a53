/* banger.tree: the merged filesystem tree an image is built from. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "l_common.h"
#include "l_tree.h"

static LTree *check_ltree(lua_State *L, int idx)
{
  LTree *lt = luaL_checkudata(L, idx, BG_TREE_MT);

  if (lt->t == NULL)
    luaL_error(L, "attempt to use a closed tree");
  return lt;
}

struct bg_tree *bg_lua_checktree(lua_State *L, int idx)
{
  return check_ltree(L, idx)->t;
}

static int tree_new(lua_State *L)
{
  struct bg_tree_limits lim;
  struct bg_error err;
  LTree *lt;

  lim.max_entries = (uint64_t)bg_lua_optfield_int(L, 1, "max_entries", 0);
  lim.max_spool_bytes = (uint64_t)bg_lua_optfield_int(L, 1, "max_bytes", 0);
  lt = lua_newuserdatauv(L, sizeof(LTree), 0);
  lt->t = NULL; /* closed until the tree exists */
  luaL_setmetatable(L, BG_TREE_MT);
  bg_error_clear(&err);
  lt->t = bg_tree_new(&lim, &err);
  if (lt->t == NULL)
    return bg_lua_raise(L, &err);
  return 1;
}

/* Reads mode/uid/gid/mtime from the option table at idx into m. */
void bg_lua_meta(lua_State *L, int idx, uint32_t defmode, struct bg_meta *m)
{
  lua_Integer mode = bg_lua_optfield_int(L, idx, "mode", defmode);
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
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = luaL_checkstring(L, 2);
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
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = luaL_checkstring(L, 2);
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
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = luaL_checkstring(L, 2);
  const char *target = luaL_checkstring(L, 3);
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
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = luaL_checkstring(L, 2);
  const char *existing = luaL_checkstring(L, 3);
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_link(t, path, existing, flags_of(L, 4), NULL, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int t_remove(lua_State *L)
{
  struct bg_tree *t = check_ltree(L, 1)->t;
  const char *path = luaL_checkstring(L, 2);
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_tree_remove(t, path, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static const char *type_name(uint32_t mode)
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

void bg_lua_push_inode(lua_State *L, const struct bg_inode *ino)
{
  uint32_t i;

  lua_createtable(L, 0, 12);
  lua_pushstring(L, type_name(ino->mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, ino->mode & 07777);
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, ino->uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, ino->gid);
  lua_setfield(L, -2, "gid");
  lua_pushinteger(L, (lua_Integer)ino->size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, ino->mtime.sec);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, ino->mtime.nsec);
  lua_setfield(L, -2, "mtime_nsec");
  lua_pushinteger(L, ino->nlink);
  lua_setfield(L, -2, "nlink");
  if (ino->target != NULL) {
    lua_pushstring(L, ino->target);
    lua_setfield(L, -2, "target");
  }
  if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) {
    lua_pushinteger(L, ino->rdev_major);
    lua_setfield(L, -2, "major");
    lua_pushinteger(L, ino->rdev_minor);
    lua_setfield(L, -2, "minor");
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
  const char *path = luaL_checkstring(L, 2);
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
  const char *path = luaL_checkstring(L, 2);
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

  luaL_argcheck(L, bs == 1024 || bs == 2048 || bs == 4096, 2, "block size must be 1024, 2048 or 4096");
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

static int t_close(lua_State *L)
{
  LTree *lt = luaL_checkudata(L, 1, BG_TREE_MT);

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
  {"close", t_close},
  {"exists", t_exists},
  {"link", t_link},
  {"mkdir", t_mkdir},
  {"remove", t_remove},
  {"stat", t_stat},
  {"stats", t_stats},
  {"symlink", t_symlink},
  {"write", t_write},
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
