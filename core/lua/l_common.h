/* Helpers shared by the Lua bindings. */
#ifndef BG_L_COMMON_H
#define BG_L_COMMON_H

#include <lua.h>
#include <lauxlib.h>

#include "../util/error.h"
#include "../util/notes.h"

/* The world failed: pushes nil, message, code name (luaL_fileresult's shape). Returns 3. */
int bg_lua_fail(lua_State *L, const struct bg_error *err);

/* Misuse or a failure the caller cannot handle: raises the message. */
int bg_lua_raise(lua_State *L, const struct bg_error *err);

/* A string argument that a C string can carry whole: raises when it holds a NUL byte (the
 * argument would quietly mean something shorter); what names it in the message. */
const char *bg_lua_checkcstr(lua_State *L, int idx, const char *what);

/* Reads an optional integer field of the option table at idx (def when absent). */
lua_Integer bg_lua_optfield_int(lua_State *L, int idx, const char *key, lua_Integer def);
/* Reads an optional mode field: a string of octal digits ("0755") or an integer (493). */
lua_Integer bg_lua_optfield_mode(lua_State *L, int idx, const char *key, lua_Integer def);
/* Reads an optional boolean field (def when absent). */
int bg_lua_optfield_bool(lua_State *L, int idx, const char *key, int def);
/* Reads an optional string field (def when absent); the string stays on the table. */
const char *bg_lua_optfield_str(lua_State *L, int idx, const char *key, const char *def);

/* Pushes a list of notes as the loss report reads them: the list ({kind, path, layer, detail}
 * each, in order), the total (listed or not) and the counts by kind name. Returns 3. */
int bg_lua_push_notes(lua_State *L, const struct bg_notes *ns);

/* Signatures of the C modules, registered in package.preload by main. */
int luaopen_banger_digest(lua_State *L);
int luaopen_banger_elf(lua_State *L);
int luaopen_banger_ext4(lua_State *L);
int luaopen_banger_kernel(lua_State *L);
int luaopen_banger_oci(lua_State *L);
int luaopen_banger_runtime(lua_State *L);
int luaopen_banger_tree(lua_State *L);

#endif
