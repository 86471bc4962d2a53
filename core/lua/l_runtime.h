/* What main tells the Lua side about this run (options, paths), and what the recipe reports. */
#ifndef BG_L_RUNTIME_H
#define BG_L_RUNTIME_H

#include <lua.h>

/* What a run may do: build (everything), plan (look, never write an image or file), or describe
 * the recipe (RECIPE --help: nothing may be fetched or written). */
enum bg_run_mode { BG_RUN_BUILD = 0, BG_RUN_PLAN = 1, BG_RUN_HELP = 2 };

struct bg_runtime {
  const char *recipe;    /* the recipe's path (a bare name already looked up) */
  const char *recipe_name; /* the recipe as the command line gave it */
  const char *cache_dir; /* resolved OCI cache directory */
  const char *progress;  /* "bar", "plain" or "none" */
  const char *assets_dir; /* where assets/ lives, if known */
  const char *const *recipe_dirs; /* the recipe search path, NULL-terminated */
  int verbosity;         /* 0 quiet, 1 normal, 2 verbose */
  int json;              /* --json given */
  int mode;              /* enum bg_run_mode; plan mode can be entered later, never left */
};

/* main fills this in before the recipe runs. */
extern struct bg_runtime bg_runtime;

/* Registry key under which the recipe's result table is kept. */
#define BG_RESULT_KEY "banger.runtime.result"

/* What the guarded primitives are about to do. */
enum bg_run_action { BG_ACT_WRITE = 1, BG_ACT_FETCH = 2 };

/* Raises unless this run's mode allows the action: in plan mode an error naming what (writes
 * are refused), in help mode the "stopped" exit object (writes and fetches). */
void bg_runtime_guard(lua_State *L, int action, const char *what);

/* The option table's progress field ("bar", "plain" or "none"; default this run's --progress) as
 * an enum bg_meter_mode. */
int bg_runtime_progress_opt(lua_State *L, int idx);

/* Exit objects: runtime.exit(code, msg) raises one so a recipe ends with an exit status and a
 * message, through every <close> on the way. The code of a help-mode stop. */
#define BG_EXIT_STOPPED (-1)
/* If the value at idx is an exit object: its code (and *msg, or NULL); else -2. */
int bg_runtime_exit_code(lua_State *L, int idx, const char **msg);

#endif
