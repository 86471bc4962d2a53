/* libcurl, loaded when the first session starts instead of with the program: a build from the
 * cache, an edit, a --help never pay for it and the dozens of libraries it brings (most of
 * the program's start-up time). Included by session.h after <curl/curl.h>: the curl_* names
 * used in core/oci call through the table below. */
#ifndef BG_OCI_CURL_DL_H
#define BG_OCI_CURL_DL_H

#include "../util/error.h"

#define BG_CURL_FUNCTIONS(X)                                                                     \
  X(easy_cleanup) X(easy_getinfo) X(easy_header) X(easy_init) X(easy_reset) X(easy_setopt)      \
  X(easy_strerror) X(free) X(multi_add_handle) X(multi_cleanup) X(multi_info_read)             \
  X(multi_init) X(multi_perform) X(multi_poll) X(multi_remove_handle) X(multi_setopt)         \
  X(slist_append) X(slist_free_all) X(url) X(url_cleanup) X(url_get) X(url_set)

struct bg_curl {
#define BG_CURL_FIELD(name) __typeof__(curl_##name) *name;
  BG_CURL_FUNCTIONS(BG_CURL_FIELD)
#undef BG_CURL_FIELD
};

/* Loads libcurl once (thread-safe); 0, or -1 with err naming the library and why. */
int bg_curl_load(struct bg_error *err);
/* The table, loaded on first use; a library that cannot be loaded is reported by
 * bg_curl_load, which every session calls first. */
const struct bg_curl *bg_curl(void);

/* <curl/curl.h> defines these three as themselves, to count their arguments */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#undef curl_multi_setopt
#define curl_easy_cleanup (bg_curl()->easy_cleanup)
#define curl_easy_getinfo (bg_curl()->easy_getinfo)
#define curl_easy_header (bg_curl()->easy_header)
#define curl_easy_init (bg_curl()->easy_init)
#define curl_easy_reset (bg_curl()->easy_reset)
#define curl_easy_setopt (bg_curl()->easy_setopt)
#define curl_easy_strerror (bg_curl()->easy_strerror)
#define curl_free (bg_curl()->free)
#define curl_multi_add_handle (bg_curl()->multi_add_handle)
#define curl_multi_cleanup (bg_curl()->multi_cleanup)
#define curl_multi_info_read (bg_curl()->multi_info_read)
#define curl_multi_init (bg_curl()->multi_init)
#define curl_multi_perform (bg_curl()->multi_perform)
#define curl_multi_poll (bg_curl()->multi_poll)
#define curl_multi_remove_handle (bg_curl()->multi_remove_handle)
#define curl_multi_setopt (bg_curl()->multi_setopt)
#define curl_slist_append (bg_curl()->slist_append)
#define curl_slist_free_all (bg_curl()->slist_free_all)
#define curl_url (bg_curl()->url)
#define curl_url_cleanup (bg_curl()->url_cleanup)
#define curl_url_get (bg_curl()->url_get)
#define curl_url_set (bg_curl()->url_set)

#endif
