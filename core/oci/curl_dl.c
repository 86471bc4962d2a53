#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LIBCURL "libcurl.so.4" /* the soname, as the linker would have recorded it */

static struct bg_curl table;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512]; /* why the load failed, "" when it did not */

static void load(void)
{
  void *h = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
  const char *why;

  if (h == NULL) {
    why = dlerror();
    snprintf(failure, sizeof(failure), "cannot load %s: %s", LIBCURL, why ? why : "not found");
    return;
  }
#define BG_CURL_LOOKUP(name)                                                                     \
  if (failure[0] == '\0' && (*(void **)&table.name = dlsym(h, "curl_" #name)) == NULL)          \
    snprintf(failure, sizeof(failure), "%s has no curl_" #name, LIBCURL);
  BG_CURL_FUNCTIONS(BG_CURL_LOOKUP)
#undef BG_CURL_LOOKUP
  /* never unloaded: the table points into it for the rest of the run */
}

int bg_curl_load(struct bg_error *err)
{
  pthread_once(&once, load);
  if (failure[0] != '\0')
    return bg_error_set(err, BG_EIO, "%s", failure);
  return 0;
}

const struct bg_curl *bg_curl(void)
{
  pthread_once(&once, load);
  return &table;
}
