#include <string.h>

#include "l_common.h"

int bg_lua_fail(lua_State *L, const struct bg_error *err)
{
  luaL_pushfail(L);
  lua_pushstring(L, err->msg);
  lua_pushstring(L, bg_errcode_name(err->code));
  return 3;
}

int bg_lua_raise(lua_State *L, const struct bg_error *err)
{
  return luaL_error(L, "%s", err->msg);
}

lua_Integer bg_lua_optfield_int(lua_State *L, int idx, const char *key, lua_Integer def)
{
  lua_Integer v = def;
  int isnum = 0;

  if (lua_isnoneornil(L, idx))
    return def;
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    v = lua_tointegerx(L, -1, &isnum);
    if (!isnum)
      luaL_error(L, "option '%s' must be an integer", key);
  }
  lua_pop(L, 1);
  return v;
}

lua_Integer bg_lua_optfield_mode(lua_State *L, int idx, const char *key, lua_Integer def)
{
  lua_Integer v = def;
  const char *s;
  size_t n, i;

  if (lua_isnoneornil(L, idx))
    return def;
  switch (lua_getfield(L, idx, key)) {
  case LUA_TNIL:
    break;
  case LUA_TSTRING:
    /* "0755", "644", "1777": octal digits, as chmod(1) reads them */
    s = lua_tolstring(L, -1, &n);
    if (n == 0 || n > 5)
      luaL_error(L, "option '%s' must be octal digits such as \"0755\", not \"%s\"", key, s);
    for (i = 0, v = 0; i < n; i++) {
      if (s[i] < '0' || s[i] > '7')
        luaL_error(L, "option '%s' must be octal digits such as \"0755\", not \"%s\"", key, s);
      v = v * 8 + (s[i] - '0');
    }
    break;
  case LUA_TNUMBER:
    if (!lua_isinteger(L, -1))
      luaL_error(L, "option '%s' must be an integer or a string of octal digits", key);
    v = lua_tointeger(L, -1);
    break;
  default:
    luaL_error(L, "option '%s' must be a string of octal digits such as \"0755\"", key);
  }
  lua_pop(L, 1);
  return v;
}

int bg_lua_optfield_bool(lua_State *L, int idx, const char *key, int def)
{
  int v = def;

  if (lua_isnoneornil(L, idx))
    return def;
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    if (!lua_isboolean(L, -1))
      luaL_error(L, "option '%s' must be a boolean", key);
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

const char *bg_lua_checkcstr(lua_State *L, int idx, const char *what)
{
  size_t len;
  const char *v = luaL_checklstring(L, idx, &len);

  if (strlen(v) != len)
    luaL_argerror(L, idx, lua_pushfstring(L, "a NUL byte in the %s", what));
  return v;
}

const char *bg_lua_optfield_str(lua_State *L, int idx, const char *key, const char *def)
{
  const char *v = def;
  size_t len;

  if (lua_isnoneornil(L, idx))
    return def;
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "option '%s' must be a string", key);
    v = lua_tolstring(L, -1, &len);
    /* a C string would end at the NUL: the option would quietly mean something shorter */
    if (strlen(v) != len)
      luaL_error(L, "option '%s' holds a NUL byte", key);
  }
  lua_pop(L, 1); /* the table still holds the string, so v stays valid */
  return v;
}

int bg_lua_push_notes(lua_State *L, const struct bg_notes *ns)
{
  size_t i;
  int k;

  lua_createtable(L, ns->n > INT32_MAX ? INT32_MAX : (int)ns->n, 0);
  for (i = 0; i < ns->n; i++) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, bg_note_kind_name(ns->v[i].kind));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, ns->v[i].path);
    lua_setfield(L, -2, "path");
    lua_pushinteger(L, (lua_Integer)ns->v[i].layer);
    lua_setfield(L, -2, "layer");
    lua_pushstring(L, ns->v[i].detail);
    lua_setfield(L, -2, "detail");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_pushinteger(L, (lua_Integer)ns->total);
  lua_createtable(L, 0, 4);
  for (k = 0; k < BG_NOTE_KINDS; k++) {
    if (ns->count[k] == 0)
      continue;
    lua_pushinteger(L, (lua_Integer)ns->count[k]);
    lua_setfield(L, -2, bg_note_kind_name(k));
  }
  return 3;
}
