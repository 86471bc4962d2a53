/* What main tells the Lua side about this run (options, paths), and what the recipe reports. */
#ifndef BG_L_RUNTIME_H
#define BG_L_RUNTIME_H

#include <lua.h>

struct bg_runtime {
  const char *recipe;    /* path as given on the command line */
  const char *cache_dir; /* resolved OCI cache directory */
  const char *progress;  /* "bar", "plain" or "none" */
  const char *assets_dir; /* where assets/ lives, if known */
  int verbosity;         /* 0 quiet, 1 normal, 2 verbose */
  int json;              /* --json given */
};

/* main fills this in before the recipe runs. */
extern struct bg_runtime bg_runtime;

/* Registry key under which the recipe's result table is kept. */
#define BG_RESULT_KEY "banger.runtime.result"

#endif
