/* banger.elf: what machine a binary is for, from its ELF header. */
#include "l_common.h"
#include "l_elf.h"
#include "../elf/elf.h"

static const char *type_name(unsigned type)
{
  switch (type) {
  case BG_ELF_REL: return "rel";
  case BG_ELF_EXEC: return "exec";
  case BG_ELF_DYN: return "dyn";
  case BG_ELF_CORE: return "core";
  default: return "other";
  }
}

void bg_lua_push_elf(lua_State *L, const struct bg_elf_info *e)
{
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, e->bits);
  lua_setfield(L, -2, "bits");
  lua_pushstring(L, e->big_endian ? "big" : "little");
  lua_setfield(L, -2, "endian");
  lua_pushstring(L, type_name(e->type));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)e->machine);
  lua_setfield(L, -2, "machine");
  lua_pushinteger(L, (lua_Integer)e->entry);
  lua_setfield(L, -2, "entry");
  if (e->machine_name != NULL) {
    lua_pushstring(L, e->machine_name);
    lua_setfield(L, -2, "machine_name");
  }
  if (e->arch != NULL) {
    lua_pushstring(L, e->arch);
    lua_setfield(L, -2, "arch");
  }
}

/* elf.identify(bytes): the header's facts, or nil, message, code for anything else. */
static int elf_identify(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  struct bg_elf_info e;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_elf_identify(s, n, &e, &err) != 0)
    return bg_lua_fail(L, &err);
  bg_lua_push_elf(L, &e);
  return 1;
}

/* elf.interp(bytes): the interpreter a dynamic ELF names (PT_INTERP), false for one that names
 * none, or nil, message, code for a bad header or one whose program headers lie past bytes. */
static int elf_interp(lua_State *L)
{
  size_t len, n;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *interp;
  struct bg_error err;
  int rc;

  bg_error_clear(&err);
  rc = bg_elf_interp(s, len, &interp, &n, &err);
  if (rc < 0)
    return bg_lua_fail(L, &err);
  if (rc == 1)
    lua_pushboolean(L, 0);
  else
    lua_pushlstring(L, interp, n);
  return 1;
}

static const luaL_Reg elf_funcs[] = {
  {"identify", elf_identify},
  {"interp", elf_interp},
  {NULL, NULL},
};

int luaopen_banger_elf(lua_State *L)
{
  luaL_newlib(L, elf_funcs);
  return 1;
}
