/* banger.runtime: read-only facts about this run, and where a recipe leaves its result. */
#include <string.h>
#include <time.h>

#include "embedded.h"
#include "l_common.h"
#include "l_runtime.h"
#include "../util/log.h"

struct bg_runtime bg_runtime;

/* Guest assets: the files of assets/, then the agent built for each architecture. */
static const struct bg_embedded *const asset_tables[] = {bg_embedded_assets, bg_embedded_agents};

#define NTABLES (sizeof(asset_tables) / sizeof(asset_tables[0]))

/* runtime.asset(name): the bytes of a guest asset compiled into the binary (assets/<name>, or
 * agents/banger-vsock-agent.<arch>). */
static int rt_asset(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
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
  {"clock", rt_clock},
  {"log", rt_log},
  {"set_result", rt_set_result},
  {NULL, NULL},
};

int luaopen_banger_runtime(lua_State *L)
{
  luaL_newlib(L, runtime_funcs);
  set_str(L, "version", BANGER_VERSION);
  set_str(L, "recipe", bg_runtime.recipe);
  set_str(L, "cache_dir", bg_runtime.cache_dir);
  set_str(L, "progress", bg_runtime.progress);
  set_str(L, "assets_dir", bg_runtime.assets_dir);
  lua_pushinteger(L, bg_runtime.verbosity);
  lua_setfield(L, -2, "verbosity");
  lua_pushboolean(L, bg_runtime.json);
  lua_setfield(L, -2, "json");
  return 1;
}
