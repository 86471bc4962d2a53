/* Files compiled into the binary: the Lua standard library and the guest assets. */
#ifndef BG_EMBEDDED_H
#define BG_EMBEDDED_H

#include <stddef.h>

struct bg_embedded {
  const char *name; /* "banger.pipeline" for lua/stdlib/banger/pipeline.lua; "first-boot.sh.in" */
  const unsigned char *data;
  size_t len;
};

/* Both tables end with a { NULL, NULL, 0 } entry. */
extern const struct bg_embedded bg_embedded_stdlib[];
extern const struct bg_embedded bg_embedded_assets[];

#endif
