/* Files compiled into the binary: the Lua standard library, the guest assets and the guest
 * agent built for each architecture ("agents/banger-vsock-agent.arm64"). */
#ifndef BG_EMBEDDED_H
#define BG_EMBEDDED_H

#include <stddef.h>

struct bg_embedded {
  const char *name; /* "banger.pipeline" for lua/stdlib/banger/pipeline.lua; "first-boot.sh.in" */
  const unsigned char *data;
  size_t len;
};

/* Each table ends with a { NULL, NULL, 0 } entry. */
extern const struct bg_embedded bg_embedded_stdlib[];
extern const struct bg_embedded bg_embedded_assets[];
extern const struct bg_embedded bg_embedded_agents[];

#endif
