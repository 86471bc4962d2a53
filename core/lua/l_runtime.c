/* banger.runtime: read-only facts about this run, and where a recipe leaves its result. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <ext2fs/ext2fs.h>

#include "embedded.h"
#include "l_common.h"
#include "l_runtime.h"
#include "../digest/digest.h"
#include "../util/buf.h"
#include "../util/log.h"

struct bg_runtime bg_runtime;

#define EXIT_MT "banger.runtime.Exit"

static const char *const mode_names[] = {"build", "plan", "help", NULL};

static int exit_tostring(lua_State *L)
{
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1))
    lua_pushliteral(L, "(exit)");
  return 1;
}

/* Raises an exit object {code =, message =}; never returns. */
static int raise_exit(lua_State *L, int code, const char *msg)
{
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  if (msg != NULL) {
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
  }
  if (luaL_newmetatable(L, EXIT_MT)) {
    lua_pushcfunction(L, exit_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
  return lua_error(L);
}

int bg_runtime_exit_code(lua_State *L, int idx, const char **msg)
{
  int code;

  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
    return -2;
  luaL_getmetatable(L, EXIT_MT);
  if (!lua_rawequal(L, -1, -2)) {
    lua_pop(L, 2);
    return -2;
  }
  lua_pop(L, 2);
  lua_getfield(L, idx, "code");
  code = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (msg != NULL) {
    lua_getfield(L, idx, "message");
    *msg = lua_tostring(L, -1); /* the string stays alive in the table */
    lua_pop(L, 1);
  }
  return code;
}

int bg_runtime_progress_opt(lua_State *L, int idx)
{
  static const char *const modes[] = {"none", "plain", "bar", NULL};
  const char *s = bg_lua_optfield_str(L, idx, "progress",
                                      bg_runtime.progress ? bg_runtime.progress : "plain");
  int i;

  for (i = 0; modes[i] != NULL && strcmp(modes[i], s) != 0; i++)
    ;
  if (modes[i] == NULL)
    luaL_error(L, "option 'progress' must be \"bar\", \"plain\" or \"none\", not '%s'", s);
  return i; /* the order of enum bg_meter_mode */
}

void bg_runtime_guard(lua_State *L, int action, const char *what)
{
  if (bg_runtime.mode == BG_RUN_HELP)
    raise_exit(L, BG_EXIT_STOPPED, what);
  if (bg_runtime.mode == BG_RUN_PLAN && (action & BG_ACT_WRITE))
    luaL_error(L, "%s: a plan writes nothing", what);
}

/* runtime.exit(code [, message]): ends the recipe with this exit status (0..125); main prints
 * the message, on stderr unless the code is 0. */
static int rt_exit(lua_State *L)
{
  lua_Integer code = luaL_checkinteger(L, 1);
  const char *msg = luaL_optstring(L, 2, NULL);

  luaL_argcheck(L, code >= 0 && code <= 125, 1, "exit status must be within 0..125");
  return raise_exit(L, (int)code, msg);
}

/* runtime.mode(): "build", "plan" or "help". */
static int rt_mode(lua_State *L)
{
  lua_pushstring(L, mode_names[bg_runtime.mode]);
  return 1;
}

/* runtime.enter_plan(): from now on nothing is written (plan=1 on the command line). */
static int rt_enter_plan(lua_State *L)
{
  if (bg_runtime.mode == BG_RUN_BUILD)
    bg_runtime.mode = BG_RUN_PLAN;
  return 0;
}

typedef struct {
  DIR *dh;
} LDirBox;

static int dirbox_gc(lua_State *L)
{
  LDirBox *box = lua_touserdata(L, 1);

  if (box->dh != NULL)
    closedir(box->dh);
  box->dh = NULL;
  return 0;
}

/* runtime.recipes_in(dir): the names of the regular *.lua files in dir (in no order), or nil
 * and a message when dir cannot be read. At most 4096 names. */
static int rt_recipes_in(lua_State *L)
{
  const char *dir = bg_lua_checkcstr(L, 1, "directory");
  char path[4096];
  struct dirent *d;
  struct stat st;
  lua_Integer n = 0;
  LDirBox *box;
  size_t len;

  box = lua_newuserdatauv(L, sizeof(*box), 0); /* closes the directory if a push raises */
  box->dh = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, dirbox_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  box->dh = opendir(dir);
  if (box->dh == NULL)
    return luaL_fileresult(L, 0, dir);
  lua_newtable(L);
  while (n < 4096 && (d = readdir(box->dh)) != NULL) {
    len = strlen(d->d_name);
    if (len <= 4 || d->d_name[0] == '.' || strcmp(d->d_name + len - 4, ".lua") != 0)
      continue;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, d->d_name) >= sizeof(path) ||
        stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    lua_pushstring(L, d->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(box->dh);
  box->dh = NULL;
  return 1;
}

/* runtime.traceback([msg [, level]]): the stack as text (what a test runner prints). */
static int rt_traceback(lua_State *L)
{
  const char *msg = luaL_optstring(L, 1, NULL);
  int level = (int)luaL_optinteger(L, 2, 1);

  luaL_traceback(L, L, msg, level);
  return 1;
}

/* Guest assets: the files of assets/, then the agent built for each architecture. */
static const struct bg_embedded *const asset_tables[] = {bg_embedded_assets, bg_embedded_agents};

#define NTABLES (sizeof(asset_tables) / sizeof(asset_tables[0]))

/* runtime.asset(name): the bytes of a guest asset compiled into the binary (assets/<name>, or
 * agents/banger-vsock-agent.<arch>). */
static int rt_asset(lua_State *L)
{
  const char *name = bg_lua_checkcstr(L, 1, "asset name");
  const struct bg_embedded *e;
  size_t t;

  for (t = 0; t < NTABLES; t++) {
    for (e = asset_tables[t]; e->name != NULL; e++) {
      if (strcmp(e->name, name) == 0) {
        lua_pushlstring(L, (const char *)e->data, e->len);
        return 1;
      }
    }
  }
  lua_pushnil(L);
  lua_pushfstring(L, "no asset named %s", name);
  return 2;
}

/* runtime.assets(): the names of the compiled-in assets, sorted within each kind. */
static int rt_assets(lua_State *L)
{
  const struct bg_embedded *e;
  lua_Integer i = 0;
  size_t t;

  lua_newtable(L);
  for (t = 0; t < NTABLES; t++) {
    for (e = asset_tables[t]; e->name != NULL; e++) {
      lua_pushstring(L, e->name);
      lua_rawseti(L, -2, ++i);
    }
  }
  return 1;
}

#define STDLIB_FILE_MAX (4 << 20)

static int hash_part(struct bg_sha256 *h, const char *name, const void *p, size_t n,
                     struct bg_error *err)
{
  char head[64];
  int k = snprintf(head, sizeof(head), "%zu:", n);

  if (bg_sha256_update(h, name, strlen(name) + 1, err) != 0 ||
      bg_sha256_update(h, head, (size_t)k, err) != 0)
    return -1;
  return bg_sha256_update(h, p, n, err);
}

/* A module of the library as this run loads it: from BANGER_LUA_PATH when set. */
static int hash_module(struct bg_sha256 *h, const struct bg_embedded *e, const char *dev,
                       struct bg_error *err)
{
  char path[4096], mod[512];
  struct bg_buf b;
  size_t i;
  int rc = 1, form;

  if (dev == NULL || dev[0] == '\0')
    return hash_part(h, e->name, e->data, e->len, err);
  for (i = 0; e->name[i] != '\0' && i + 1 < sizeof(mod); i++)
    mod[i] = e->name[i] == '.' ? '/' : e->name[i];
  mod[i] = '\0';
  bg_buf_init(&b, STDLIB_FILE_MAX);
  for (form = 0; form < 2 && rc == 1; form++) {
    snprintf(path, sizeof(path), form ? "%s/%s/init.lua" : "%s/%s.lua", dev, mod);
    rc = bg_buf_read_file(&b, path, err);
  }
  if (rc == 0)
    rc = hash_part(h, e->name, b.data ? b.data : "", b.len, err);
  else if (rc == 1)
    rc = hash_part(h, e->name, "", 0, err); /* the module is not there: that counts too */
  bg_buf_free(&b);
  return rc;
}

/* runtime.builtins(): what the binary brings to every build, for the build key: the sha256 of
 * the library (as loaded: BANGER_LUA_PATH counts) and the guest assets, and libext2fs's
 * version (it formats the images). */
static int rt_builtins(lua_State *L)
{
  const char *dev = getenv("BANGER_LUA_PATH"), *v = NULL;
  unsigned char raw[BG_SHA256_LEN];
  char ds[BG_DIGEST_STRLEN];
  const struct bg_embedded *e;
  struct bg_sha256 *h;
  struct bg_error err;
  int rc = 0;

  bg_error_clear(&err);
  h = bg_sha256_new(&err);
  if (h == NULL)
    return bg_lua_raise(L, &err);
  for (e = bg_embedded_stdlib; rc == 0 && e->name != NULL; e++)
    rc = hash_module(h, e, dev, &err);
  for (e = bg_embedded_assets; rc == 0 && e->name != NULL; e++)
    rc = hash_part(h, e->name, e->data, e->len, &err);
  if (rc == 0)
    rc = bg_sha256_final(h, raw, &err);
  bg_sha256_free(h);
  if (rc != 0)
    return bg_lua_raise(L, &err);
  bg_digest_format(raw, ds);
  ext2fs_get_library_version(&v, NULL);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, ds);
  lua_setfield(L, -2, "sha256");
  lua_pushstring(L, v ? v : "");
  lua_setfield(L, -2, "ext2fs");
  return 1;
}

static int rt_clock(lua_State *L)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

static int rt_log(lua_State *L)
{
  static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
  int level = luaL_checkoption(L, 1, NULL, levels);
  const char *msg = luaL_checkstring(L, 2);

  bg_log(level, "%s", msg);
  return 0;
}

static int rt_set_result(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, BG_RESULT_KEY);
  return 0;
}

static void set_str(lua_State *L, const char *key, const char *v)
{
  if (v == NULL)
    return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, key);
}

static const luaL_Reg runtime_funcs[] = {
  {"asset", rt_asset},
  {"assets", rt_assets},
  {"builtins", rt_builtins},
  {"clock", rt_clock},
  {"enter_plan", rt_enter_plan},
  {"exit", rt_exit},
  {"log", rt_log},
  {"mode", rt_mode},
  {"recipes_in", rt_recipes_in},
  {"set_result", rt_set_result},
  {"traceback", rt_traceback},
  {NULL, NULL},
};

int luaopen_banger_runtime(lua_State *L)
{
  int i;

  luaL_newlib(L, runtime_funcs);
  set_str(L, "version", BANGER_VERSION);
  set_str(L, "recipe", bg_runtime.recipe);
  set_str(L, "recipe_name", bg_runtime.recipe_name);
  set_str(L, "cache_dir", bg_runtime.cache_dir);
  set_str(L, "progress", bg_runtime.progress);
  set_str(L, "assets_dir", bg_runtime.assets_dir);
  lua_pushinteger(L, bg_runtime.verbosity);
  lua_setfield(L, -2, "verbosity");
  lua_pushboolean(L, bg_runtime.json);
  lua_setfield(L, -2, "json");
  lua_newtable(L);
  for (i = 0; bg_runtime.recipe_dirs != NULL && bg_runtime.recipe_dirs[i] != NULL; i++) {
    lua_pushstring(L, bg_runtime.recipe_dirs[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "recipe_dirs");
  return 1;
}
