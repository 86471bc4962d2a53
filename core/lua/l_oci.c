/* banger.oci: image references, pulls into the verified OCI-layout cache, cache upkeep. */
#include <string.h>

#include "l_common.h"

#include "l_runtime.h"
#include "../oci/cache.h"
#include "../oci/manifest.h"
#include "../oci/oci.h"
#include "../oci/progress.h"
#include "../oci/ref.h"

static void set_str(lua_State *L, const char *key, const char *v)
{
  if (v == NULL || v[0] == '\0')
    return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, key);
}

static int oci_parse_ref(lua_State *L)
{
  const char *s = bg_lua_checkcstr(L, 1, "image reference");
  struct bg_oci_ref *ref;
  struct bg_error err;

  ref = lua_newuserdatauv(L, sizeof(*ref), 0); /* scratch that a raise cannot leak */
  bg_error_clear(&err);
  if (bg_oci_ref_parse(s, ref, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_createtable(L, 0, 7);
  set_str(L, "transport", bg_oci_transport_name(ref->transport));
  set_str(L, "name", ref->name);
  set_str(L, "tag", ref->tag);
  set_str(L, "digest", ref->digest);
  if (ref->transport == BG_REF_DOCKER) {
    set_str(L, "registry", ref->registry);
    set_str(L, "repository", ref->repository);
  } else {
    set_str(L, "path", ref->path);
  }
  return 1;
}

/* oci.parse_platform("linux/arm64/v8") -> the normalised string, or nil, message, code */
static int oci_parse_platform(lua_State *L)
{
  const char *s = bg_lua_checkcstr(L, 1, "platform");
  struct bg_platform p;
  struct bg_error err;
  char out[128];

  bg_error_clear(&err);
  if (bg_platform_parse(s, &p, &err) != 0)
    return bg_lua_fail(L, &err);
  bg_platform_format(&p, out, sizeof(out));
  lua_pushstring(L, out);
  return 1;
}

/* A JSON value as Lua data, the way lua-cjson decodes it (null is cjson.null, the light
 * userdata NULL), straight from the document the core parsed: the config is parsed once. Depth
 * is bounded by the parser's cap. */
static void push_json(lua_State *L, const json_t *v)
{
  const char *key;
  json_t *item;
  size_t i;

  luaL_checkstack(L, 3, "JSON nested too deeply");
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    lua_createtable(L, 0, (int)json_object_size(v));
    json_object_foreach((json_t *)v, key, item) {
      push_json(L, item);
      lua_setfield(L, -2, key);
    }
    break;
  case JSON_ARRAY:
    lua_createtable(L, (int)json_array_size(v), 0);
    json_array_foreach(v, i, item) {
      push_json(L, item);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    break;
  case JSON_STRING:
    lua_pushlstring(L, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    lua_pushinteger(L, (lua_Integer)json_integer_value(v));
    break;
  case JSON_REAL:
    lua_pushnumber(L, (lua_Number)json_real_value(v));
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    lua_pushboolean(L, json_is_true(v));
    break;
  default:
    lua_pushlightuserdata(L, NULL);
    break;
  }
}

static void push_image(lua_State *L, const struct bg_oci_image *img)
{
  size_t i;

  lua_createtable(L, 0, 6);
  set_str(L, "ref", img->name);
  set_str(L, "digest", img->digest);
  set_str(L, "media_type", img->media_type);
  set_str(L, "platform", img->platform);
  push_json(L, img->config);
  lua_setfield(L, -2, "config");
  lua_createtable(L, (int)img->nlayers, 0);
  for (i = 0; i < img->nlayers; i++) {
    const struct bg_oci_layer *l = &img->layers[i];
    lua_createtable(L, 0, 5);
    set_str(L, "digest", l->digest);
    set_str(L, "media_type", l->media_type);
    lua_pushinteger(L, (lua_Integer)l->size);
    lua_setfield(L, -2, "size");
    set_str(L, "diff_id", l->diff_id);
    set_str(L, "path", l->path);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "layers");
}

typedef struct {
  struct bg_oci_image *img; /* freed by __gc if a raise happens while building the table */
} LImageBox;

static int box_gc(lua_State *L)
{
  LImageBox *b = lua_touserdata(L, 1);

  bg_oci_image_free(b->img);
  b->img = NULL;
  return 0;
}

static const char *cache_dir_opt(lua_State *L, int idx)
{
  const char *dir = bg_lua_optfield_str(L, idx, "cache_dir", bg_runtime.cache_dir);

  if (dir == NULL || dir[0] == '\0')
    luaL_error(L, "no cache directory: pass cache_dir");
  return dir;
}

static int oci_pull(lua_State *L)
{
  static const char *const policies[] = {"missing", "always", "never", NULL};
  static const char *const modes[] = {"none", "plain", "bar", NULL};
  const char *ref = bg_lua_checkcstr(L, 1, "image reference");
  struct bg_oci_pull_opts o;
  struct bg_error err;
  const char *s;
  LImageBox *box;
  int i;

  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  bg_runtime_guard(L, BG_ACT_FETCH, "oci.pull");
  memset(&o, 0, sizeof(o));
  o.backoff_scale = -1;
  o.cache_dir = cache_dir_opt(L, 2);
  o.platform = bg_lua_optfield_str(L, 2, "platform", "linux/amd64");
  o.insecure = bg_lua_optfield_bool(L, 2, "insecure", 0);
  o.parallel = (int)bg_lua_optfield_int(L, 2, "parallel", 3);
  luaL_argcheck(L, o.parallel >= 1 && o.parallel <= 16, 2, "parallel must be 1..16");
  s = bg_lua_optfield_str(L, 2, "pull", "missing");
  for (i = 0; policies[i] != NULL && strcmp(policies[i], s) != 0; i++)
    ;
  if (policies[i] == NULL)
    return luaL_error(L, "option 'pull' must be \"missing\", \"always\" or \"never\", not '%s'",
                      s);
  o.policy = i;
  s = bg_lua_optfield_str(L, 2, "progress", bg_runtime.progress ? bg_runtime.progress : "plain");
  for (i = 0; modes[i] != NULL && strcmp(modes[i], s) != 0; i++)
    ;
  if (modes[i] == NULL)
    return luaL_error(L, "option 'progress' must be \"bar\", \"plain\" or \"none\", not '%s'", s);
  o.progress = i;

  box = lua_newuserdatauv(L, sizeof(*box), 0);
  box->img = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  bg_error_clear(&err);
  if (bg_oci_pull(ref, &o, &box->img, &err) != 0)
    return bg_lua_fail(L, &err);
  push_image(L, box->img);
  bg_oci_image_free(box->img);
  box->img = NULL;
  return 1;
}

struct lists {
  lua_State *L;
  int removed, repaired; /* absolute stack indexes of the two result tables */
};

static int add_line(lua_State *L, int idx, const char *s)
{
  lua_pushstring(L, s);
  lua_rawseti(L, idx, (lua_Integer)lua_rawlen(L, idx) + 1);
  return 0;
}

static int add_removed(void *ctx, const char *digest)
{
  struct lists *l = ctx;

  return add_line(l->L, l->removed, digest);
}

static int add_repaired(void *ctx, const char *what)
{
  struct lists *l = ctx;

  return add_line(l->L, l->repaired, what);
}

/* gc: the removed digests; verify: those and the index entries repaired. */
static int cache_op(lua_State *L, int gc)
{
  const char *dir = luaL_optstring(L, 1, bg_runtime.cache_dir);
  struct lists l = {L, 0, 0};
  struct bg_cache *c;
  struct bg_error err;
  int rc;

  if (dir == NULL || dir[0] == '\0')
    return luaL_error(L, "no cache directory given");
  bg_runtime_guard(L, BG_ACT_WRITE, gc ? "oci.gc" : "oci.verify_cache");
  c = lua_newuserdatauv(L, sizeof(*c), 0);
  bg_error_clear(&err);
  if (bg_cache_open(dir, c, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_newtable(L);
  l.removed = lua_gettop(L);
  lua_newtable(L);
  l.repaired = lua_gettop(L);
  if (gc)
    rc = bg_cache_gc(c, add_removed, &l, &err);
  else
    rc = bg_cache_verify(c, add_removed, add_repaired, &l, &err);
  if (rc != 0)
    return bg_lua_fail(L, &err);
  if (gc)
    lua_pop(L, 1);
  return gc ? 1 : 2;
}

static int oci_verify_cache(lua_State *L)
{
  return cache_op(L, 0);
}

static int oci_gc(lua_State *L)
{
  return cache_op(L, 1);
}

static const luaL_Reg oci_funcs[] = {
  {"gc", oci_gc},
  {"parse_platform", oci_parse_platform},
  {"parse_ref", oci_parse_ref},
  {"pull", oci_pull},
  {"verify_cache", oci_verify_cache},
  {NULL, NULL},
};

int luaopen_banger_oci(lua_State *L)
{
  luaL_newlib(L, oci_funcs);
  return 1;
}
