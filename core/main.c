/* banger-build: runs a Lua recipe that turns a container image into an ext4 root filesystem. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>

#include "embedded.h"
#include "lua/l_common.h"
#include "lua/l_runtime.h"
#include "util/cleanup.h"
#include "util/log.h"

#define EXIT_BUILT 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* C modules, registered in package.preload; nothing is put in the globals but `args`. */
static const luaL_Reg preloads[] = {
  {"banger.digest", luaopen_banger_digest},
  {"banger.elf", luaopen_banger_elf},
  {"banger.ext4", luaopen_banger_ext4},
  {"banger.kernel", luaopen_banger_kernel},
  {"banger.oci", luaopen_banger_oci},
  {"banger.runtime", luaopen_banger_runtime},
  {"banger.tree", luaopen_banger_tree},
  {"cjson", luaopen_cjson},
  {NULL, NULL},
};

static const char usage_text[] =
  "usage: banger-build RECIPE [key=value ...] [options]\n"
  "\n"
  "Runs RECIPE (a Lua file) to build an ext4 root filesystem from a container image.\n"
  "key=value pairs reach the recipe as the table `args`.\n"
  "\n"
  "options:\n"
  "  -h, --help             show this help and exit\n"
  "  -V, --version          show the version and exit\n"
  "  -q, --quiet            print errors only\n"
  "  -v, --verbose          print more, and a traceback when the recipe fails\n"
  "      --json             print the result as one JSON object on stdout\n"
  "      --cache-dir DIR    OCI image cache (default $XDG_CACHE_HOME/banger/oci,\n"
  "                         else ~/.cache/banger/oci)\n"
  "      --progress MODE    auto, plain or none (default auto)\n"
  "\n"
  "exit status: 0 built, 1 the build failed, 2 usage error\n";

struct options {
  const char *recipe;
  int nargs;
  char **args; /* key=value words, pointing into argv */
  int verbosity;
  int json;
  const char *cache_dir;
  const char *progress;
};

static int usage_error(const char *fmt, const char *what)
{
  fputs("banger-build: ", stderr);
  fprintf(stderr, fmt, what);
  fputs("\n\n", stderr);
  fputs(usage_text, stderr);
  return EXIT_USAGE;
}

/* Returns -1 to go on, or the exit status to end with. */
static int parse_args(int argc, char **argv, struct options *o)
{
  int i;
  const char *a;

  o->args = calloc((size_t)argc, sizeof(char *));
  if (o->args == NULL)
    return EXIT_FAILED;
  for (i = 1; i < argc; i++) {
    a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return EXIT_BUILT;
    } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
      printf("banger-build %s (%s)\n", BANGER_VERSION, LUA_RELEASE);
      return EXIT_BUILT;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      o->verbosity = 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      o->verbosity = 2;
    } else if (strcmp(a, "--json") == 0) {
      o->json = 1;
    } else if (strcmp(a, "--cache-dir") == 0 || strcmp(a, "--progress") == 0) {
      if (i + 1 >= argc)
        return usage_error("option %s needs a value", a);
      if (a[2] == 'c')
        o->cache_dir = argv[++i];
      else
        o->progress = argv[++i];
    } else if (strncmp(a, "--cache-dir=", 12) == 0) {
      o->cache_dir = a + 12;
    } else if (strncmp(a, "--progress=", 11) == 0) {
      o->progress = a + 11;
    } else if (strcmp(a, "--") == 0) {
      continue;
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option %s", a);
    } else if (o->recipe == NULL) {
      o->recipe = a;
    } else if (strchr(a, '=') != NULL && a[0] != '=') {
      o->args[o->nargs++] = argv[i];
    } else {
      return usage_error("expected key=value, got '%s'", a);
    }
  }
  if (o->recipe == NULL)
    return usage_error("%s", "no recipe given");
  if (o->progress != NULL && strcmp(o->progress, "auto") != 0 &&
      strcmp(o->progress, "plain") != 0 && strcmp(o->progress, "none") != 0)
    return usage_error("--progress takes auto, plain or none, not '%s'", o->progress);
  if (o->cache_dir != NULL && o->cache_dir[0] == '\0')
    return usage_error("%s", "--cache-dir needs a directory");
  return -1;
}

/* $XDG_CACHE_HOME/banger/oci, else ~/.cache/banger/oci; NULL if neither can be found. */
static char *default_cache_dir(void)
{
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  char buf[PATH_MAX];
  int n;

  if (xdg != NULL && xdg[0] == '/')
    n = snprintf(buf, sizeof(buf), "%s/banger/oci", xdg);
  else if (home != NULL && home[0] == '/')
    n = snprintf(buf, sizeof(buf), "%s/.cache/banger/oci", home);
  else
    return NULL;
  if (n < 0 || (size_t)n >= sizeof(buf))
    return NULL;
  return strdup(buf);
}

/* package.searchers entry for the standard library: BANGER_LUA_PATH if set, else the copy
 * compiled into the binary. Module "banger.x" is banger/x.lua (or banger/x/init.lua). */
static int stdlib_searcher(lua_State *L)
{
  static const char *const forms[] = {"%s/%s.lua", "%s/%s/init.lua"};
  const char *name = luaL_checkstring(L, 1);
  const char *dev = getenv("BANGER_LUA_PATH");
  const struct bg_embedded *e;
  char modpath[PATH_MAX];
  char path[PATH_MAX];
  size_t i;
  int n;

  if (dev != NULL && dev[0] != '\0') {
    if (strlen(name) >= sizeof(modpath))
      return 0;
    for (i = 0; name[i] != '\0'; i++)
      modpath[i] = name[i] == '.' ? '/' : name[i];
    modpath[i] = '\0';
    for (i = 0; i < 2; i++) {
      n = snprintf(path, sizeof(path), forms[i], dev, modpath);
      if (n < 0 || (size_t)n >= sizeof(path) || access(path, R_OK) != 0)
        continue;
      if (luaL_loadfilex(L, path, "t") != LUA_OK)
        return lua_error(L);
      lua_pushstring(L, path);
      return 2;
    }
    lua_pushfstring(L, "no file for '%s' under BANGER_LUA_PATH (%s)", name, dev);
    return 1;
  }
  for (e = bg_embedded_stdlib; e->name != NULL; e++) {
    if (strcmp(e->name, name) != 0)
      continue;
    lua_pushfstring(L, "@[stdlib]/%s.lua", name);
    if (luaL_loadbufferx(L, (const char *)e->data, e->len, lua_tostring(L, -1), "t") != LUA_OK)
      return lua_error(L);
    lua_pushfstring(L, "[stdlib]/%s.lua", name);
    return 2;
  }
  lua_pushfstring(L, "no module '%s' in the built-in library", name);
  return 1;
}

/* Removes what lets a recipe run host commands or load native code. */
static void sandbox(lua_State *L, const char *recipe)
{
  const char *slash = strrchr(recipe, '/');
  int i;

  lua_getglobal(L, "os");
  lua_pushnil(L);
  lua_setfield(L, -2, "execute");
  lua_pop(L, 1);
  lua_getglobal(L, "io");
  lua_pushnil(L);
  lua_setfield(L, -2, "popen");
  lua_pop(L, 1);

  lua_getglobal(L, "package");
  lua_pushnil(L);
  lua_setfield(L, -2, "loadlib");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  /* a recipe may require Lua files that sit beside it */
  if (slash != NULL) {
    lua_pushlstring(L, recipe, (size_t)(slash - recipe));
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_tostring(L, -1), lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
  } else {
    lua_pushliteral(L, "./?.lua;./?/init.lua");
    lua_setfield(L, -2, "path");
  }
  /* searchers: preload, the standard library, then Lua files on package.path */
  lua_getfield(L, -1, "searchers");
  lua_rawgeti(L, -1, 2); /* the Lua-file searcher */
  for (i = (int)lua_rawlen(L, -2); i >= 2; i--) {
    lua_pushnil(L);
    lua_rawseti(L, -3, i);
  }
  lua_pushcfunction(L, stdlib_searcher);
  lua_rawseti(L, -3, 2);
  lua_rawseti(L, -2, 3);
  lua_pop(L, 1);

  lua_getfield(L, -1, "preload");
  luaL_setfuncs(L, preloads, 0);
  lua_pop(L, 2);
}

static void push_args(lua_State *L, const struct options *o)
{
  int i;
  const char *eq;

  lua_createtable(L, 0, o->nargs);
  for (i = 0; i < o->nargs; i++) {
    eq = strchr(o->args[i], '=');
    lua_pushlstring(L, o->args[i], (size_t)(eq - o->args[i]));
    lua_pushstring(L, eq + 1);
    lua_settable(L, -3);
  }
  lua_setglobal(L, "args");
}

static int msgh_plain(lua_State *L)
{
  if (lua_type(L, 1) != LUA_TSTRING) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  return 1;
}

static int msgh_traceback(lua_State *L)
{
  msgh_plain(L);
  luaL_traceback(L, L, lua_tostring(L, -1), 1);
  return 1;
}

static double now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints the result table as JSON on stdout, with ok and the total time added. */
static int print_json(lua_State *L, int ok, const char *errmsg, double seconds)
{
  lua_getfield(L, LUA_REGISTRYINDEX, BG_RESULT_KEY);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  lua_pushboolean(L, ok);
  lua_setfield(L, -2, "ok");
  if (errmsg != NULL) {
    lua_pushstring(L, errmsg);
    lua_setfield(L, -2, "error");
  }
  if (lua_getfield(L, -1, "timings") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "timings");
  }
  lua_pushnumber(L, seconds);
  lua_setfield(L, -2, "total");
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK)
    return -1;
  lua_getfield(L, -1, "encode");
  lua_pushvalue(L, -3);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK)
    return -1;
  printf("%s\n", lua_tostring(L, -1));
  fflush(stdout);
  lua_pop(L, 3);
  return 0;
}

int main(int argc, char **argv)
{
  struct options o;
  lua_State *L = NULL;
  char *cache_dir = NULL;
  const char *errmsg = NULL;
  double t0 = now();
  int status;
  int rc;

  memset(&o, 0, sizeof(o));
  o.verbosity = 1;
  rc = parse_args(argc, argv, &o);
  if (rc >= 0)
    goto out;
  rc = EXIT_FAILED;
  bg_cleanup_install();

  bg_log_set_level(o.verbosity == 0 ? BG_LOG_ERROR : o.verbosity == 1 ? BG_LOG_INFO : BG_LOG_DEBUG);
  if (o.cache_dir == NULL) {
    cache_dir = default_cache_dir();
    if (cache_dir == NULL) {
      bg_log(BG_LOG_ERROR, "cannot find a cache directory: set XDG_CACHE_HOME or HOME, "
                           "or give --cache-dir");
      goto out;
    }
  }
  bg_runtime.recipe = o.recipe;
  bg_runtime.cache_dir = o.cache_dir ? o.cache_dir : cache_dir;
  bg_runtime.verbosity = o.verbosity;
  bg_runtime.json = o.json;
  if (o.verbosity == 0 || (o.progress != NULL && strcmp(o.progress, "none") == 0))
    bg_runtime.progress = "none";
  else if (o.progress != NULL && strcmp(o.progress, "plain") == 0)
    bg_runtime.progress = "plain";
  else
    bg_runtime.progress = isatty(STDERR_FILENO) ? "bar" : "plain";

  L = luaL_newstate();
  if (L == NULL) {
    bg_log(BG_LOG_ERROR, "cannot create a Lua state: out of memory");
    goto out;
  }
  luaL_openlibs(L);
  sandbox(L, o.recipe);
  push_args(L, &o);

  lua_pushcfunction(L, o.verbosity >= 2 ? msgh_traceback : msgh_plain);
  status = luaL_loadfilex(L, o.recipe, "t");
  if (status == LUA_ERRFILE) {
    bg_log(BG_LOG_ERROR, "%s", lua_tostring(L, -1));
    errmsg = lua_tostring(L, -1);
    goto report;
  }
  if (status == LUA_OK)
    status = lua_pcall(L, 0, 1, 1);
  if (status != LUA_OK) {
    errmsg = lua_tostring(L, -1);
    bg_log(BG_LOG_ERROR, "%s", errmsg ? errmsg : "(no message)");
    goto report;
  }
  /* a recipe that returns a table and set no result reports that table */
  if (lua_istable(L, -1)) {
    lua_getfield(L, LUA_REGISTRYINDEX, BG_RESULT_KEY);
    if (lua_isnil(L, -1)) {
      lua_pushvalue(L, -2);
      lua_setfield(L, LUA_REGISTRYINDEX, BG_RESULT_KEY);
    }
    lua_pop(L, 1);
  }
  rc = EXIT_BUILT;
report:
  if (o.json && print_json(L, rc == EXIT_BUILT, errmsg, now() - t0) != 0) {
    bg_log(BG_LOG_ERROR, "cannot encode the result as JSON: %s", lua_tostring(L, -1));
    rc = EXIT_FAILED;
  }
out:
  if (L != NULL)
    lua_close(L);
  free(o.args);
  free(cache_dir);
  return rc;
}
