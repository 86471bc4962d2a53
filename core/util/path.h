/* One path policy for every path that comes from outside: entry names and link targets in
 * layers, paths given to the tree and to the image editor, symlink targets a resolver follows,
 * host paths split for a temporary name. A path is read as components separated by "/"; empty
 * components ("a//b", a trailing "/") are dropped and the result is "a/b/c" ("" names the start,
 * the root). What happens to a leading "/", to "." and to ".." is the caller's policy, given as
 * flags in the spirit of libarchive's SECURE_NOABSOLUTEPATHS and SECURE_NODOTDOT. Every check
 * costs one pass over the input. */
#ifndef BG_PATH_H
#define BG_PATH_H

#include <stddef.h>

#include "error.h"

#define BG_PATH_MAX 4095     /* bytes in a path or a symlink target: Linux's PATH_MAX less its NUL */
#define BG_PATH_NAME_MAX 255 /* bytes in one component */

/* Flags. Without NODOTDOT or POPDOTDOT, ".." is kept as a component, for a resolver that follows
 * symlinks and must climb from wherever they led. A leading "/" is dropped unless NOABSOLUTE
 * refuses it: a caller that resolves decides where a path starts. */
#define BG_PATH_NOEMPTY 0x01    /* a path of no bytes at all is refused */
#define BG_PATH_NOABSOLUTE 0x02 /* a leading "/" is unsafe */
#define BG_PATH_NODOT 0x04      /* a "." component is refused (else dropped) */
#define BG_PATH_NODOTDOT 0x08   /* a ".." component is unsafe */
#define BG_PATH_POPDOTDOT 0x10  /* ".." removes the component before it; above the start: unsafe */
#define BG_PATH_LONGNAMES 0x20  /* components over BG_PATH_NAME_MAX are kept (symlink targets may
                                   hold them: Linux stores them and fails only on lookup) */

/* The policies the program uses. */
/* tar entry names: relative, never "..", "./a" and "a/" normalised */
#define BG_PATH_ENTRY (BG_PATH_NOEMPTY | BG_PATH_NOABSOLUTE | BG_PATH_NODOTDOT)
/* hardlink targets in a layer: inside the image root as a chroot would read them (absolute
 * ones too), ".." textual and never above the root */
#define BG_PATH_HARDLINK (BG_PATH_NOEMPTY | BG_PATH_POPDOTDOT)
/* paths given to the tree and the image editor by a recipe or a caller: "." and ".." are misuse */
#define BG_PATH_API (BG_PATH_NODOT | BG_PATH_NODOTDOT)

/* What is wrong with a path. */
enum bg_path_problem {
  BG_PATH_OK = 0,
  BG_PATH_EMPTY,     /* no bytes (BG_PATH_NOEMPTY) */
  BG_PATH_NUL,       /* a NUL byte inside the given length */
  BG_PATH_ABSOLUTE,  /* a leading "/" (BG_PATH_NOABSOLUTE) */
  BG_PATH_DOT,       /* a "." component (BG_PATH_NODOT) */
  BG_PATH_DOTDOT,    /* a ".." component (BG_PATH_NODOTDOT) */
  BG_PATH_CLIMB,     /* ".." above the start (BG_PATH_POPDOTDOT) */
  BG_PATH_NAME_LONG, /* a component over BG_PATH_NAME_MAX bytes */
  BG_PATH_LONG,      /* the result does not fit */
};

/* Appends the components of in (len bytes) to the clean path in out (*outlen bytes, "" for the
 * root, made by this function) under flags. cap is the size of out: the result and its NUL must
 * fit (a clean path in a cap of BG_PATH_MAX is one whose absolute form, "/" in front, Linux
 * takes). Returns BG_PATH_OK with out NUL-terminated and *outlen updated, or a problem, with out
 * and *outlen as they were. */
int bg_path_append(char *out, size_t cap, size_t *outlen, const char *in, size_t len,
                   unsigned flags);

/* bg_path_append to an empty path. */
int bg_path_clean(const char *in, size_t len, unsigned flags, char *out, size_t cap,
                  size_t *outlen);

/* Records problem (from checking in, len bytes) in err: BG_EUNSAFE for a path that would leave
 * its root, BG_ETOOBIG when too long, BG_EINVAL otherwise. The message is "what: problem", or
 * the problem alone when what is NULL. Returns -1. */
int bg_path_error(struct bg_error *err, int problem, const char *in, size_t len,
                  const char *what);
/* The problem in words: "unsafe path", "a \".\" component", "empty name", ... */
const char *bg_path_problem_str(int problem);

/* Splits a host path into the directory that holds it and its last name, for a file to be
 * created beside it: "x" gives "." and "x", "/x" gives "/" and "x", "a/b" gives "a" and "b".
 * A path ending in "/", ".", ".." or nothing is not a file name (BG_EINVAL). *base points into
 * path. */
int bg_path_split(const char *path, char *dir, size_t dsz, const char **base,
                  struct bg_error *err);

#endif
