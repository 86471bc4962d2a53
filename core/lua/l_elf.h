/* The Lua table banger.elf gives for an ELF header, shared with banger.kernel. */
#ifndef BG_L_ELF_H
#define BG_L_ELF_H

#include <lua.h>

#include "../elf/elf.h"

/* Pushes {bits, endian, type, machine, entry, machine_name, arch}. */
void bg_lua_push_elf(lua_State *L, const struct bg_elf_info *e);

#endif
