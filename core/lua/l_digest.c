/* banger.digest: sha256 of strings and files, incremental hashers, digest strings. */
#include <string.h>

#include "l_common.h"
#include "../digest/digest.h"

#define HASHER_MT "banger.digest.Hasher"

typedef struct {
  struct bg_sha256 *h; /* NULL once closed */
} LHasher;

static void push_digest(lua_State *L, const unsigned char raw[BG_SHA256_LEN])
{
  char s[BG_DIGEST_STRLEN];

  bg_digest_format(raw, s);
  lua_pushstring(L, s);
}

static int digest_sha256(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char raw[BG_SHA256_LEN];
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_sha256_buf(s, n, raw, &err) != 0)
    return bg_lua_raise(L, &err);
  push_digest(L, raw);
  return 1;
}

static int digest_file(lua_State *L)
{
  const char *path = bg_lua_checkcstr(L, 1, "path");
  unsigned char raw[BG_SHA256_LEN];
  uint64_t size = 0;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_sha256_file(path, raw, &size, &err) != 0)
    return bg_lua_fail(L, &err);
  push_digest(L, raw);
  lua_pushinteger(L, (lua_Integer)size);
  return 2;
}

static int digest_parse(lua_State *L)
{
  const char *s = bg_lua_checkcstr(L, 1, "digest");
  struct bg_digest d;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_digest_parse(s, &d, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushliteral(L, "sha256");
  lua_pushstring(L, d.hex);
  return 2;
}

static int digest_new(lua_State *L)
{
  struct bg_error err;
  LHasher *lh = lua_newuserdatauv(L, sizeof(LHasher), 0);

  lh->h = NULL; /* closed until the resource exists */
  luaL_setmetatable(L, HASHER_MT);
  bg_error_clear(&err);
  lh->h = bg_sha256_new(&err);
  if (lh->h == NULL)
    return bg_lua_raise(L, &err);
  return 1;
}

static LHasher *check_hasher(lua_State *L)
{
  LHasher *lh = luaL_checkudata(L, 1, HASHER_MT);

  if (lh->h == NULL)
    luaL_error(L, "attempt to use a closed hasher");
  return lh;
}

static int h_update(lua_State *L)
{
  LHasher *lh = check_hasher(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_sha256_update(lh->h, s, n, &err) != 0)
    return bg_lua_raise(L, &err);
  lua_settop(L, 1);
  return 1;
}

static int h_digest(lua_State *L)
{
  LHasher *lh = check_hasher(L);
  unsigned char raw[BG_SHA256_LEN];
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_sha256_final(lh->h, raw, &err) != 0)
    return bg_lua_raise(L, &err);
  push_digest(L, raw);
  return 1;
}

static int h_close(lua_State *L)
{
  LHasher *lh = luaL_checkudata(L, 1, HASHER_MT);

  bg_sha256_free(lh->h);
  lh->h = NULL;
  return 0;
}

static int h_tostring(lua_State *L)
{
  LHasher *lh = luaL_checkudata(L, 1, HASHER_MT);

  lua_pushstring(L, lh->h ? "banger.digest.Hasher" : "banger.digest.Hasher (closed)");
  return 1;
}

static const luaL_Reg hasher_methods[] = {
  {"close", h_close},
  {"digest", h_digest},
  {"update", h_update},
  {NULL, NULL},
};

static const luaL_Reg hasher_meta[] = {
  {"__close", h_close},
  {"__gc", h_close},
  {"__index", NULL},
  {"__tostring", h_tostring},
  {NULL, NULL},
};

static const luaL_Reg digest_funcs[] = {
  {"file", digest_file},
  {"new", digest_new},
  {"parse", digest_parse},
  {"sha256", digest_sha256},
  {NULL, NULL},
};

int luaopen_banger_digest(lua_State *L)
{
  luaL_newmetatable(L, HASHER_MT);
  luaL_setfuncs(L, hasher_meta, 0);
  luaL_newlibtable(L, hasher_methods);
  luaL_setfuncs(L, hasher_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, digest_funcs);
  return 1;
}
