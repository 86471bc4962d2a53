/* banger-build: runs a Lua recipe that turns a container image into an ext4 root filesystem. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
  "       banger-build RECIPE --help\n"
  "       banger-build --list-recipes\n"
  "\n"
  "Runs RECIPE (a Lua file, or the name of an installed recipe) to build an ext4 root\n"
  "filesystem from a container image. key=value pairs are the recipe's arguments;\n"
  "banger-build RECIPE --help lists them.\n"
  "\n"
  "options:\n"
  "  -h, --help             show this help (with RECIPE: the recipe's arguments) and exit\n"
  "  -V, --version          show the version and exit\n"
  "  -q, --quiet            print errors only\n"
  "  -v, --verbose          print more, and a traceback when the recipe fails\n"
  "      --json             print the result as one JSON object on stdout\n"
  "      --cache-dir DIR    OCI image cache (default $XDG_CACHE_HOME/banger/oci,\n"
  "                         else ~/.cache/banger/oci)\n"
  "      --progress MODE    auto, plain or none (default auto)\n"
  "      --plan             print what the build would inject, its size and the first-boot\n"
  "                         branch; write nothing (the same as plan=1)\n"
  "      --list-recipes     list the recipes found on the search path and exit\n"
  "  --                     end of options: every later word is RECIPE or key=value\n"
  "\n"
  "A RECIPE without a slash is looked up as NAME.lua in ./recipes,\n"
  "$XDG_CONFIG_HOME/banger/recipes (else ~/.config/banger/recipes), /etc/banger/recipes\n"
  "and the installed share/banger/recipes.\n"
  "\n"
  "exit status: 0 built, 1 the build failed, 2 usage error\n";

struct options {
  const char *recipe;
  int nargs;
  char **args; /* key=value words, pointing into argv */
  int verbosity;
  int json;
  int help;
  int plan;
  int list;
  const char *cache_dir;
  const char *progress;
};

static int usage_error(const char *fmt, const char *what)
{
  fputs("banger-build: ", stderr);
  fprintf(stderr, fmt, what);
  fputs("\n", stderr);
  /* the usage lines, not the whole help */
  fprintf(stderr, "%.*s", (int)(strstr(usage_text, "\n\n") - usage_text + 1), usage_text);
  fputs("banger-build --help says more.\n", stderr);
  return EXIT_USAGE;
}

enum { OPT_JSON = 256, OPT_CACHE_DIR, OPT_PROGRESS, OPT_PLAN, OPT_LIST };

static const struct option long_options[] = {
  {"help", no_argument, NULL, 'h'},
  {"version", no_argument, NULL, 'V'},
  {"quiet", no_argument, NULL, 'q'},
  {"verbose", no_argument, NULL, 'v'},
  {"json", no_argument, NULL, OPT_JSON},
  {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
  {"progress", required_argument, NULL, OPT_PROGRESS},
  {"plan", no_argument, NULL, OPT_PLAN},
  {"list-recipes", no_argument, NULL, OPT_LIST},
  {NULL, 0, NULL, 0},
};

/* Returns -1 to go on, or the exit status to end with. Options may come before or after the
 * operands (getopt_long permutes them); "--" ends them. */
static int parse_args(int argc, char **argv, struct options *o)
{
  char shortopt[3] = "-?";
  const char *a;
  int c, i;

  o->args = calloc((size_t)argc, sizeof(char *));
  if (o->args == NULL)
    return EXIT_FAILED;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":hVqv", long_options, NULL)) != -1) {
    switch (c) {
    case 'h':
      o->help = 1;
      break;
    case 'V':
      printf("banger-build %s (%s)\n", BANGER_VERSION, LUA_RELEASE);
      return EXIT_BUILT;
    case 'q':
      o->verbosity = 0;
      break;
    case 'v':
      o->verbosity = 2;
      break;
    case OPT_JSON:
      o->json = 1;
      break;
    case OPT_CACHE_DIR:
      o->cache_dir = optarg;
      break;
    case OPT_PROGRESS:
      o->progress = optarg;
      break;
    case OPT_PLAN:
      o->plan = 1;
      break;
    case OPT_LIST:
      o->list = 1;
      break;
    case ':':
      return usage_error("option %s needs a value", argv[optind - 1]);
    default:
      if (optopt != 0) {
        shortopt[1] = (char)optopt;
        return usage_error("unknown option %s", shortopt);
      }
      return usage_error("unknown option %s", argv[optind - 1]);
    }
  }
  for (i = optind; i < argc; i++) {
    a = argv[i];
    if (o->recipe == NULL)
      o->recipe = a;
    else if (strchr(a, '=') != NULL && a[0] != '=')
      o->args[o->nargs++] = argv[i];
    else
      return usage_error("expected key=value, got '%s'", a);
  }
  for (i = 0; i < o->nargs; i++) {
    size_t klen = (size_t)(strchr(o->args[i], '=') - o->args[i]);
    for (c = 0; c < i; c++)
      if (strncmp(o->args[c], o->args[i], klen + 1) == 0) {
        fprintf(stderr, "banger-build: argument '%.*s' given twice\n", (int)klen, o->args[i]);
        return EXIT_USAGE;
      }
  }
  if (o->recipe == NULL && o->help) {
    fputs(usage_text, stdout);
    return EXIT_BUILT;
  }
  if (o->recipe == NULL && !o->list)
    return usage_error("%s", "no recipe given");
  if (o->recipe != NULL && o->list)
    return usage_error("%s", "--list-recipes takes no recipe");
  if (o->recipe != NULL && o->recipe[0] == '\0')
    return usage_error("%s", "the recipe name is empty");
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

/* The directory holding this executable, where the installed recipes are found from. */
static char *exe_dir(void)
{
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  char *slash;

  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  slash = strrchr(buf, '/');
  if (slash == NULL)
    return NULL;
  *slash = '\0';
  return strdup(buf);
}

#define MAX_RECIPE_DIRS 6

/* The recipe search path: ./recipes, $XDG_CONFIG_HOME/banger/recipes (else
 * ~/.config/banger/recipes), /etc/banger/recipes, then the share/banger/recipes of the prefix
 * this binary is installed in, and the one it was configured for. */
static int recipe_dirs(char **dirs, const char *exe)
{
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");
  char buf[PATH_MAX];
  const char *slash;
  int n = 0, len, i;

  dirs[n++] = strdup("./recipes");
  len = -1;
  if (xdg != NULL && xdg[0] == '/')
    len = snprintf(buf, sizeof(buf), "%s/banger/recipes", xdg);
  else if (home != NULL && home[0] == '/')
    len = snprintf(buf, sizeof(buf), "%s/.config/banger/recipes", home);
  if (len > 0 && (size_t)len < sizeof(buf))
    dirs[n++] = strdup(buf);
  dirs[n++] = strdup("/etc/banger/recipes");
  slash = exe != NULL ? strrchr(exe, '/') : NULL;
  if (slash != NULL) {
    len = snprintf(buf, sizeof(buf), "%.*s/share/banger/recipes", (int)(slash - exe), exe);
    if (len > 0 && (size_t)len < sizeof(buf))
      dirs[n++] = strdup(buf);
  }
  for (i = 0; i < n && strcmp(dirs[i], BANGER_RECIPE_DIR) != 0; i++)
    ;
  if (i == n)
    dirs[n++] = strdup(BANGER_RECIPE_DIR);
  dirs[n] = NULL;
  for (i = 0; i < n; i++)
    if (dirs[i] == NULL)
      return -1;
  return 0;
}

/* A bare recipe name (no slash) is NAME.lua in the first directory of the search path that has
 * it; "x.lua" in the current directory is taken as it is. Returns a malloc'ed path or NULL. */
static char *find_recipe(const char *name, char *const *dirs)
{
  size_t len = strlen(name);
  int has_ext = len > 4 && strcmp(name + len - 4, ".lua") == 0;
  char buf[PATH_MAX];
  struct stat st;
  int i, n;

  if (strchr(name, '/') != NULL || (has_ext && stat(name, &st) == 0))
    return strdup(name);
  if (name[0] == '.')
    return NULL;
  for (i = 0; dirs[i] != NULL; i++) {
    n = snprintf(buf, sizeof(buf), "%s/%s%s", dirs[i], name, has_ext ? "" : ".lua");
    if (n > 0 && (size_t)n < sizeof(buf) && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
      return strdup(buf);
  }
  return NULL;
}

#define STDLIB_ENV_KEY "banger.stdlib.env"

/* The standard library runs with the globals plus the debug library, which recipes do not get
 * (banger.errors reads the stack to point errors at the recipe's line). */
static void set_stdlib_env(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, STDLIB_ENV_KEY);
  if (lua_setupvalue(L, -2, 1) == NULL)
    lua_pop(L, 1);
}

static void make_stdlib_env(lua_State *L)
{
  lua_newtable(L);
  lua_getglobal(L, "debug");
  lua_setfield(L, -2, "debug");
  lua_createtable(L, 0, 2);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, STDLIB_ENV_KEY);
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
      set_stdlib_env(L);
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
    set_stdlib_env(L);
    lua_pushfstring(L, "[stdlib]/%s.lua", name);
    return 2;
  }
  lua_pushfstring(L, "no module '%s' in the built-in library", name);
  return 1;
}

/* load, loadfile and dofile in text mode only: a recipe cannot hand the VM a binary chunk
 * (bytecode is not checked by Lua and can corrupt memory). Upvalues: the original function and
 * the position of its mode argument (3 for load, 2 for loadfile). */
static int sb_textmode(lua_State *L)
{
  int pos = (int)lua_tointeger(L, lua_upvalueindex(2));
  int n = lua_gettop(L);

  if (n < pos)
    lua_settop(L, n = pos);
  lua_pushliteral(L, "t");
  lua_replace(L, pos);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

static int sb_dofile(lua_State *L)
{
  const char *name = luaL_optstring(L, 1, NULL);

  lua_settop(L, 1);
  if (luaL_loadfilex(L, name, "t") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

/* The searcher for Lua files on package.path (beside the recipe), in text mode. */
static int sb_searcher(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
  const char *path;

  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  lua_pushstring(L, name);
  lua_getfield(L, -3, "path");
  lua_call(L, 2, 2);
  if (lua_isnil(L, -2))
    return 1; /* the list of files tried */
  lua_pop(L, 1);
  path = lua_tostring(L, -1);
  if (luaL_loadfilex(L, path, "t") != LUA_OK)
    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path,
                      lua_tostring(L, -1));
  lua_insert(L, -2);
  return 2;
}

/* A host-side effect a plan (or a recipe's --help) must not have: io.open for writing,
 * io.output to a file, os.remove, os.rename, os.tmpname. */
static int sb_guarded(lua_State *L)
{
  const char *what = lua_tostring(L, lua_upvalueindex(2));
  const char *mode;
  char buf[128];

  if (strcmp(what, "io.open") == 0) {
    mode = luaL_optstring(L, 2, "r");
    if (strpbrk(mode, "wa+") != NULL) {
      snprintf(buf, sizeof(buf), "io.open(\"%.60s\", \"%.8s\")", luaL_checkstring(L, 1), mode);
      bg_runtime_guard(L, BG_ACT_WRITE, buf);
    }
  } else if (strcmp(what, "io.output") != 0 || lua_type(L, 1) == LUA_TSTRING) {
    bg_runtime_guard(L, BG_ACT_WRITE, what);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static void wrap(lua_State *L, const char *lib, const char *name, lua_CFunction fn, int guard)
{
  lua_getglobal(L, lib);
  lua_getfield(L, -1, name);
  if (guard) {
    lua_pushfstring(L, "%s.%s", lib, name);
    lua_pushcclosure(L, fn, 2);
  } else {
    lua_pushcclosure(L, fn, 1);
  }
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/* Removes what lets a recipe run host commands, load native code or bytecode, or reach into
 * the VM (the debug library); loads stay text-only. */
static void sandbox(lua_State *L)
{
  static const char *const guarded[][2] = {
    {"io", "open"}, {"io", "output"}, {"os", "remove"}, {"os", "rename"}, {"os", "tmpname"},
  };
  size_t k;
  int i;

  make_stdlib_env(L);
  lua_pushnil(L);
  lua_setglobal(L, "debug");
  lua_getglobal(L, "os");
  lua_pushnil(L);
  lua_setfield(L, -2, "execute");
  lua_pop(L, 1);
  lua_getglobal(L, "io");
  lua_pushnil(L);
  lua_setfield(L, -2, "popen");
  lua_pop(L, 1);
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  for (k = 0; k < sizeof(guarded) / sizeof(guarded[0]); k++)
    wrap(L, guarded[k][0], guarded[k][1], sb_guarded, 1);
  lua_pushglobaltable(L);
  lua_getfield(L, -1, "load");
  lua_pushinteger(L, 3);
  lua_pushcclosure(L, sb_textmode, 2);
  lua_setfield(L, -2, "load");
  lua_getfield(L, -1, "loadfile");
  lua_pushinteger(L, 2);
  lua_pushcclosure(L, sb_textmode, 2);
  lua_setfield(L, -2, "loadfile");
  lua_pushcfunction(L, sb_dofile);
  lua_setfield(L, -2, "dofile");
  lua_pop(L, 1);

  lua_getglobal(L, "package");
  lua_pushnil(L);
  lua_setfield(L, -2, "loadlib");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_getfield(L, -1, "loaded");
  lua_pushnil(L);
  lua_setfield(L, -2, "debug");
  lua_pop(L, 1);
  /* searchers: preload, the standard library, then Lua files on package.path (text only) */
  lua_getfield(L, -1, "searchers");
  for (i = (int)lua_rawlen(L, -1); i >= 2; i--) {
    lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  lua_pushcfunction(L, stdlib_searcher);
  lua_rawseti(L, -2, 2);
  lua_pushcfunction(L, sb_searcher);
  lua_rawseti(L, -2, 3);
  lua_pop(L, 1);

  lua_getfield(L, -1, "preload");
  luaL_setfuncs(L, preloads, 0);
  lua_pop(L, 2);
}

/* A recipe may require Lua files that sit beside it. */
static void set_recipe_path(lua_State *L, const char *recipe)
{
  const char *slash = strrchr(recipe, '/');

  lua_getglobal(L, "package");
  if (slash != NULL) {
    lua_pushlstring(L, recipe, (size_t)(slash - recipe));
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_tostring(L, -1), lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
  } else {
    lua_pushliteral(L, "./?.lua;./?/init.lua");
    lua_setfield(L, -2, "path");
  }
  lua_pop(L, 1);
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
  if (bg_runtime_exit_code(L, 1, NULL) != -2)
    return 1; /* an exit object goes through as it is */
  if (lua_type(L, 1) != LUA_TSTRING) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  return 1;
}

static int msgh_traceback(lua_State *L)
{
  if (bg_runtime_exit_code(L, 1, NULL) != -2)
    return 1;
  msgh_plain(L);
  luaL_traceback(L, L, lua_tostring(L, -1), 1);
  return 1;
}

/* Calls require(module)[fn] with the nargs values on top of the stack as arguments. Leaves the
 * first result, or the error, in their place; returns the pcall status. */
static int call_stdlib(lua_State *L, const char *module, const char *fn, int nargs)
{
  int base = lua_gettop(L) - nargs;
  int status;

  lua_pushcfunction(L, msgh_plain);
  lua_insert(L, base + 1);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  status = lua_pcall(L, 1, 1, base + 1);
  if (status == LUA_OK) {
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_insert(L, base + 2);
    status = lua_pcall(L, nargs, 1, base + 1);
  }
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
  return status;
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

/* Runs the recipe; returns the exit status. */
static int run_recipe(lua_State *L, const struct options *o, const char **errmsg)
{
  const char *msg = NULL;
  int status, code = -2;

  lua_pushcfunction(L, o->verbosity >= 2 ? msgh_traceback : msgh_plain);
  status = luaL_loadfilex(L, bg_runtime.recipe, "t");
  if (status == LUA_OK)
    status = lua_pcall(L, 0, 1, -2);
  if (status == LUA_OK || (code = bg_runtime_exit_code(L, -1, &msg)) == BG_EXIT_STOPPED) {
    if (bg_runtime.mode == BG_RUN_HELP) {
      /* the recipe ran to its end, or to a step --help may not take, without describing itself */
      if (call_stdlib(L, "banger.args", "describe", 0) != LUA_OK) {
        *errmsg = lua_tostring(L, -1);
        bg_log(BG_LOG_ERROR, "%s", *errmsg ? *errmsg : "(no message)");
        return EXIT_FAILED;
      }
      return EXIT_BUILT;
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
    return EXIT_BUILT;
  }
  if (code >= 0) {
    /* runtime.exit: the recipe described itself (0) or refused its arguments (2) */
    if (msg != NULL && code == 0)
      printf("%s\n", msg);
    else if (msg != NULL)
      fprintf(stderr, "banger-build: %s\n", msg);
    *errmsg = code != 0 ? msg : NULL;
    return code;
  }
  *errmsg = lua_tostring(L, -1);
  bg_log(BG_LOG_ERROR, "%s", *errmsg ? *errmsg : "(no message)");
  return EXIT_FAILED;
}

static void free_dirs(char **dirs)
{
  int i;

  for (i = 0; dirs[i] != NULL; i++)
    free(dirs[i]);
}

int main(int argc, char **argv)
{
  struct options o;
  lua_State *L = NULL;
  char *dirs[MAX_RECIPE_DIRS + 1] = {NULL};
  char *cache_dir = NULL;
  char *dir = NULL;
  char *recipe = NULL;
  const char *errmsg = NULL;
  double t0 = now();
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
  dir = exe_dir();
  if (recipe_dirs(dirs, dir) != 0) {
    bg_log(BG_LOG_ERROR, "out of memory");
    goto out;
  }
  bg_runtime.recipe_dirs = (const char *const *)dirs;
  bg_runtime.cache_dir = o.cache_dir ? o.cache_dir : cache_dir;
  bg_runtime.verbosity = o.verbosity;
  bg_runtime.json = o.json;
  bg_runtime.mode = o.help ? BG_RUN_HELP : o.plan ? BG_RUN_PLAN : BG_RUN_BUILD;
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
  sandbox(L);
  if (o.list) {
    rc = call_stdlib(L, "banger.recipes", "print_list", 0) == LUA_OK ? EXIT_BUILT : EXIT_FAILED;
    if (rc != EXIT_BUILT)
      bg_log(BG_LOG_ERROR, "%s", lua_tostring(L, -1));
    goto out;
  }
  recipe = find_recipe(o.recipe, dirs);
  if (recipe == NULL) {
    lua_pushstring(L, o.recipe);
    if (call_stdlib(L, "banger.recipes", "not_found", 1) == LUA_OK)
      fprintf(stderr, "banger-build: %s\n", lua_tostring(L, -1));
    else
      bg_log(BG_LOG_ERROR, "%s", lua_tostring(L, -1));
    rc = EXIT_USAGE;
    goto out;
  }
  bg_runtime.recipe = recipe;
  bg_runtime.recipe_name = o.recipe;
  set_recipe_path(L, recipe);
  push_args(L, &o);
  rc = run_recipe(L, &o, &errmsg);
  if (o.json && bg_runtime.mode != BG_RUN_HELP &&
      print_json(L, rc == EXIT_BUILT, errmsg, now() - t0) != 0) {
    bg_log(BG_LOG_ERROR, "cannot encode the result as JSON: %s", lua_tostring(L, -1));
    rc = EXIT_FAILED;
  }
out:
  if (L != NULL)
    lua_close(L);
  free(o.args);
  free(cache_dir);
  free(dir);
  free(recipe);
  free_dirs(dirs);
  return rc;
}
