/* banger.oci: image references, pulls into the verified OCI-layout cache, cache upkeep. */
#include <string.h>

#include "l_common.h"

#include "l_runtime.h"
#include "../oci/cache.h"
#include "../oci/index.h"
#include "../oci/manifest.h"
#include "../oci/oci.h"
#include "../oci/progress.h"
#include "../oci/ref.h"
#include "../oci/remote.h"
#include "../oci/rootfs.h"

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
  lua_pushinteger(L, (lua_Integer)img->manifest_size);
  lua_setfield(L, -2, "manifest_size");
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
    lua_pushboolean(L, l->verified);
    lua_setfield(L, -2, "verified");
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

#define MAX_MIRRORS 16

/* opts.mirrors: a list of "HOST[:PORT][/PREFIX]" or {location =, insecure =, resolve =}, in a
 * userdata left on the stack (scratch a raise cannot leak). */
static const struct bg_mirror *check_mirrors(lua_State *L, int idx, size_t *n)
{
  struct bg_mirror *m;
  const char *loc;
  size_t i, len;

  *n = 0;
  if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, "mirrors") == LUA_TNIL) {
    if (!lua_isnoneornil(L, idx))
      lua_pop(L, 1);
    return NULL;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "option 'mirrors' must be a list");
  len = lua_rawlen(L, -1);
  if (len > MAX_MIRRORS)
    luaL_error(L, "option 'mirrors': at most %d mirrors", MAX_MIRRORS);
  m = lua_newuserdatauv(L, sizeof(*m) * (len ? len : 1), 0);
  memset(m, 0, sizeof(*m) * (len ? len : 1));
  for (i = 0; i < len; i++) {
    lua_rawgeti(L, -2, (lua_Integer)i + 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t got;
      loc = lua_tolstring(L, -1, &got);
      if (strlen(loc) != got)
        luaL_error(L, "option 'mirrors': a NUL byte in mirror %d", (int)i + 1);
    } else if (lua_istable(L, -1)) {
      loc = bg_lua_optfield_str(L, -1, "location", NULL);
      m[i].insecure = bg_lua_optfield_bool(L, -1, "insecure", 0);
      m[i].resolve = bg_lua_optfield_bool(L, -1, "resolve", 0);
    } else {
      loc = NULL;
    }
    if (loc == NULL || loc[0] == '\0' || strlen(loc) >= sizeof(m[i].location))
      luaL_error(L, "option 'mirrors': entry %d must be \"HOST[:PORT][/PREFIX]\" or a table "
                 "with a location", (int)i + 1);
    memcpy(m[i].location, loc, strlen(loc) + 1);
    lua_pop(L, 1);
  }
  lua_remove(L, -2); /* the list; the userdata stays until the call returns */
  *n = len;
  return m;
}

static int oci_pull(lua_State *L)
{
  static const char *const policies[] = {"missing", "always", "never", NULL};
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
  /* "read": a cached layer's digest is checked by the flatten that reads it, not here */
  s = bg_lua_optfield_str(L, 2, "verify", "now");
  luaL_argcheck(L, strcmp(s, "now") == 0 || strcmp(s, "read") == 0, 2,
                "verify must be \"now\" or \"read\"");
  o.defer_layers = strcmp(s, "read") == 0;
  o.parallel = (int)bg_lua_optfield_int(L, 2, "parallel", 3);
  luaL_argcheck(L, o.parallel >= 1 && o.parallel <= 16, 2, "parallel must be 1..16");
  s = bg_lua_optfield_str(L, 2, "pull", "missing");
  for (i = 0; policies[i] != NULL && strcmp(policies[i], s) != 0; i++)
    ;
  if (policies[i] == NULL)
    return luaL_error(L, "option 'pull' must be \"missing\", \"always\" or \"never\", not '%s'",
                      s);
  o.policy = i;
  o.progress = bg_runtime_progress_opt(L, 2);
  o.manifest_only = !bg_lua_optfield_bool(L, 2, "layers", 1);
  o.pin = bg_lua_optfield_str(L, 2, "digest", NULL);
  o.mirrors = check_mirrors(L, 2, &o.nmirrors);

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

/* ---- rootfs artifacts ---- */

static void push_rootfs(lua_State *L, const struct bg_rootfs *a)
{
  char ds[BG_DIGEST_STRLEN], tag[BG_KEY_TAG_MAX];
  struct bg_error err;

  lua_createtable(L, 0, 10);
  set_str(L, "digest", a->digest);
  lua_pushinteger(L, (lua_Integer)a->size);
  lua_setfield(L, -2, "size");
  set_str(L, "key", a->key);
  bg_error_clear(&err);
  if (bg_rootfs_key_tag(a->key, tag, sizeof(tag), &err) == 0)
    set_str(L, "tag", tag);
  set_str(L, "recipe", a->recipe);
  set_str(L, "created", a->created);
  bg_digest_format(a->layer.digest.raw, ds);
  lua_createtable(L, 0, 2);
  set_str(L, "digest", ds);
  lua_pushinteger(L, (lua_Integer)a->layer.size);
  lua_setfield(L, -2, "size");
  lua_setfield(L, -2, "layer");
  bg_digest_format(a->image.raw, ds);
  set_str(L, "sha256", ds);
  lua_pushinteger(L, (lua_Integer)a->image_size);
  lua_setfield(L, -2, "image_size");
  if (a->subject.media_type[0] != '\0') {
    bg_digest_format(a->subject.digest.raw, ds);
    lua_createtable(L, 0, 3);
    set_str(L, "digest", ds);
    set_str(L, "media_type", a->subject.media_type);
    lua_pushinteger(L, (lua_Integer)a->subject.size);
    lua_setfield(L, -2, "size");
    lua_setfield(L, -2, "subject");
  }
}

/* The cache of an operation, in a userdata (opts at idx may name cache_dir): NULL after
 * pushing nil, message, code. */
static struct bg_cache *open_cache(lua_State *L, int idx, struct bg_error *err)
{
  struct bg_cache *c = lua_newuserdatauv(L, sizeof(*c), 0);

  if (bg_cache_open(cache_dir_opt(L, idx), c, err) != 0)
    return NULL;
  return c;
}

/* The artifact at idx: a key (found in the cache's index) or a table with a digest (a
 * manifest of the cache): 0, or a bg_rootfs_find/load code with err. */
static int rootfs_arg(lua_State *L, int idx, const struct bg_cache *c, struct bg_rootfs *a,
                      struct bg_error *err)
{
  const char *s;
  int rc;

  if (lua_type(L, idx) == LUA_TSTRING) {
    s = bg_lua_checkcstr(L, idx, "build key");
    rc = bg_rootfs_find(c, s, a, err);
    if (rc == 1)
      bg_error_set(err, BG_ENOTFOUND, "no artifact of key %s in the cache %s", s, c->dir);
    else if (rc == 2)
      bg_error_prefix(err, "the artifact of key %s in the cache %s", s, c->dir);
    return rc;
  }
  luaL_argexpected(L, lua_istable(L, idx), idx, "a build key or an artifact table");
  lua_getfield(L, idx, "digest");
  s = lua_tostring(L, -1);
  luaL_argcheck(L, s != NULL, idx, "the artifact table has no digest");
  rc = bg_rootfs_load(c, s, a, err);
  if (rc == 1)
    bg_error_set(err, BG_ENOTFOUND, "artifact manifest %s is not in the cache %s", s, c->dir);
  lua_pop(L, 1);
  return rc;
}

static const char *field_str(lua_State *L, int idx, const char *key)
{
  const char *s = bg_lua_optfield_str(L, idx, key, NULL);

  if (s == NULL)
    luaL_error(L, "missing field '%s'", key);
  return s;
}

/* oci.store_rootfs(path, {key=, recipe=, created=, subject={media_type=, digest=, size=},
 * platform=, sha256=}, [opts]): the artifact made from the image and recorded in the cache;
 * sha256, the image's when the caller has it (img:close{sha256 = true}), is taken as given. */
static int oci_store_rootfs(lua_State *L)
{
  const char *path = bg_lua_checkcstr(L, 1, "image path");
  struct bg_rootfs_meta m;
  struct bg_rootfs *a;
  struct bg_cache *c;
  struct bg_error err;

  lua_settop(L, 3); /* the options stay where they are, whatever is pushed */
  bg_runtime_guard(L, BG_ACT_WRITE, "oci.store_rootfs");

  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  memset(&m, 0, sizeof(m));
  m.key = field_str(L, 2, "key");
  m.recipe = field_str(L, 2, "recipe");
  m.created = field_str(L, 2, "created");
  m.platform = bg_lua_optfield_str(L, 2, "platform", NULL);
  m.image_sha256 = bg_lua_optfield_str(L, 2, "sha256", NULL);
  luaL_argcheck(L, lua_getfield(L, 2, "subject") == LUA_TTABLE, 2, "subject must be a table");
  m.subject_type = field_str(L, -1, "media_type");
  m.subject_digest = field_str(L, -1, "digest");
  m.subject_size = (uint64_t)bg_lua_optfield_int(L, -1, "size", 0);
  bg_error_clear(&err);
  a = lua_newuserdatauv(L, sizeof(*a), 0);
  c = open_cache(L, 3, &err);
  if (c == NULL || bg_rootfs_store(c, path, &m, a, &err) != 0)
    return bg_lua_fail(L, &err);
  push_rootfs(L, a);
  return 1;
}

/* oci.find_rootfs(key, [opts]): the artifact the cache holds for key, or nil, message, code
 * ("notfound" when there is none). */
static int oci_find_rootfs(lua_State *L)
{
  struct bg_rootfs *a;
  struct bg_cache *c;
  struct bg_error err;

  lua_settop(L, 2); /* the options stay where they are, whatever is pushed */

  bg_lua_checkcstr(L, 1, "build key");
  bg_error_clear(&err);
  a = lua_newuserdatauv(L, sizeof(*a), 0);
  c = open_cache(L, 2, &err);
  if (c == NULL || rootfs_arg(L, 1, c, a, &err) != 0)
    return bg_lua_fail(L, &err);
  push_rootfs(L, a);
  return 1;
}

/* oci.restore_rootfs(key | artifact, out, [opts]): writes the image, verified; returns the
 * artifact (now the most recently used in the index). */
static int oci_restore_rootfs(lua_State *L)
{
  const char *out = bg_lua_checkcstr(L, 2, "output path");
  struct bg_rootfs *a;
  struct bg_cache *c;
  struct bg_error err;

  lua_settop(L, 3); /* the options stay where they are, whatever is pushed */
  bg_runtime_guard(L, BG_ACT_WRITE, "oci.restore_rootfs");

  bg_error_clear(&err);
  a = lua_newuserdatauv(L, sizeof(*a), 0);
  c = open_cache(L, 3, &err);
  if (c == NULL || rootfs_arg(L, 1, c, a, &err) != 0 || bg_rootfs_restore(c, a, out, &err) != 0 ||
      bg_rootfs_record(c, a, bg_lua_optfield_str(L, 3, "platform", NULL), &err) != 0)
    return bg_lua_fail(L, &err);
  push_rootfs(L, a);
  return 1;
}

static void remote_opts(lua_State *L, int idx, struct bg_remote_opts *o)
{
  lua_Integer chunk;

  if (!lua_isnoneornil(L, idx))
    luaL_checktype(L, idx, LUA_TTABLE);
  memset(o, 0, sizeof(*o));
  o->backoff_scale = bg_oci_env_scale("BANGER_OCI_BACKOFF_SCALE");
  o->timeout_scale = bg_oci_env_scale("BANGER_OCI_TIMEOUT_SCALE");
  o->insecure = bg_lua_optfield_bool(L, idx, "insecure", 0);
  o->progress = bg_runtime_progress_opt(L, idx);
  o->mount_from = bg_lua_optfield_str(L, idx, "mount_from", NULL);
  chunk = bg_lua_optfield_int(L, idx, "chunk_size", 0);
  luaL_argcheck(L, chunk == 0 || (chunk >= 4096 && chunk <= (1LL << 30)), idx,
                "chunk_size must be 4096 bytes to 1 GiB");
  o->chunk = (uint64_t)chunk;
}

/* oci.fetch_rootfs(ref, [opts]): the rootfs artifact ref names, fetched into the cache and
 * checked (opts.key: the key it must carry); nil, message, "notfound" when ref names none. */
static int oci_fetch_rootfs(lua_State *L)
{
  const char *ref = bg_lua_checkcstr(L, 1, "artifact reference");
  struct bg_remote_opts o;
  struct bg_rootfs *a;
  struct bg_cache *c;
  struct bg_error err;
  int rc;

  lua_settop(L, 2); /* the options stay where they are, whatever is pushed */
  bg_runtime_guard(L, BG_ACT_FETCH | BG_ACT_WRITE, "oci.fetch_rootfs");

  remote_opts(L, 2, &o);
  bg_error_clear(&err);
  a = lua_newuserdatauv(L, sizeof(*a), 0);
  c = open_cache(L, 2, &err);
  if (c == NULL)
    return bg_lua_fail(L, &err);
  rc = bg_remote_fetch_rootfs(c, ref, bg_lua_optfield_str(L, 2, "key", NULL),
                              bg_lua_optfield_str(L, 2, "platform", NULL), &o, a, &err);
  if (rc == 1)
    bg_error_set(&err, BG_ENOTFOUND, "%s: no such manifest", ref);
  if (rc != 0)
    return bg_lua_fail(L, &err);
  push_rootfs(L, a);
  return 1;
}

/* oci.lookup(ref, [opts]): the digest of the manifest ref names (one HEAD), or nil, message,
 * "notfound". */
static int oci_lookup(lua_State *L)
{
  const char *ref = bg_lua_checkcstr(L, 1, "reference");
  char digest[BG_DIGEST_STRLEN];
  struct bg_remote_opts o;
  struct bg_error err;
  int rc;

  lua_settop(L, 2); /* the options stay where they are, whatever is pushed */
  bg_runtime_guard(L, BG_ACT_FETCH, "oci.lookup");

  remote_opts(L, 2, &o);
  bg_error_clear(&err);
  rc = bg_remote_lookup(ref, &o, digest, &err);
  if (rc == 1)
    bg_error_set(&err, BG_ENOTFOUND, "%s: no such manifest", ref);
  if (rc != 0)
    return bg_lua_fail(L, &err);
  lua_pushstring(L, digest);
  return 1;
}

/* oci.push(key | artifact | "sha256:..." manifest of the cache, "REGISTRY/REPO:TAG", [opts]):
 * "REGISTRY/REPO:TAG@sha256:..." and a table of what happened. */
static int oci_push(lua_State *L)
{
  const char *dest = bg_lua_checkcstr(L, 2, "push destination");
  struct bg_remote_push_result *res;
  struct bg_remote_opts o;
  struct bg_rootfs *a;
  struct bg_cache *c;
  struct bg_error err;
  const char *digest;
  struct bg_digest d;

  lua_settop(L, 3); /* the options stay where they are, whatever is pushed */
  bg_runtime_guard(L, BG_ACT_FETCH | BG_ACT_WRITE, "oci.push");

  remote_opts(L, 3, &o);
  bg_error_clear(&err);
  a = lua_newuserdatauv(L, sizeof(*a), 0);
  res = lua_newuserdatauv(L, sizeof(*res), 0);
  c = open_cache(L, 3, &err);
  if (c == NULL)
    return bg_lua_fail(L, &err);
  digest = lua_type(L, 1) == LUA_TSTRING ? bg_lua_checkcstr(L, 1, "build key or digest") : NULL;
  if (digest != NULL && bg_digest_parse(digest, &d, &err) == 0 &&
      bg_rootfs_find(c, digest, a, &err) != 0) {
    bg_error_clear(&err); /* a manifest digest, not a key */
  } else {
    bg_error_clear(&err);
    if (rootfs_arg(L, 1, c, a, &err) != 0)
      return bg_lua_fail(L, &err);
    digest = a->digest;
  }
  if (bg_remote_push(c, digest, dest, &o, res, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_pushstring(L, res->pushed);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, res->existed);
  lua_setfield(L, -2, "existed");
  lua_pushinteger(L, res->mounted);
  lua_setfield(L, -2, "mounted");
  lua_pushinteger(L, res->uploaded);
  lua_setfield(L, -2, "uploaded");
  set_str(L, "referrers", res->referrers);
  return 2;
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

/* gc: the removed digests and the artifact entries dropped (opts.keep_artifacts: how many of
 * the most recently used to keep, default all); verify: the removed digests and the index
 * entries repaired. */
static int cache_op(lua_State *L, int gc)
{
  const char *dir = lua_isnoneornil(L, 1) ? bg_runtime.cache_dir
                                          : bg_lua_checkcstr(L, 1, "cache directory");
  struct lists l = {L, 0, 0};
  struct bg_cache *c;
  struct bg_error err;
  lua_Integer keep;
  int rc = 0;

  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  keep = bg_lua_optfield_int(L, 2, "keep_artifacts", -1);
  luaL_argcheck(L, keep >= -1, 2, "keep_artifacts must be 0 or more");
  lua_settop(L, 2);
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
  if (gc && keep >= 0)
    rc = bg_cache_index_trim_artifacts(c, (size_t)keep, add_repaired, &l, &err);
  if (rc == 0 && gc)
    rc = bg_cache_gc(c, add_removed, &l, &err);
  else if (rc == 0)
    rc = bg_cache_verify(c, add_removed, add_repaired, &l, &err);
  if (rc != 0)
    return bg_lua_fail(L, &err);
  return 2;
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
  {"fetch_rootfs", oci_fetch_rootfs},
  {"find_rootfs", oci_find_rootfs},
  {"gc", oci_gc},
  {"lookup", oci_lookup},
  {"parse_platform", oci_parse_platform},
  {"parse_ref", oci_parse_ref},
  {"pull", oci_pull},
  {"push", oci_push},
  {"restore_rootfs", oci_restore_rootfs},
  {"store_rootfs", oci_store_rootfs},
  {"verify_cache", oci_verify_cache},
  {NULL, NULL},
};

int luaopen_banger_oci(lua_State *L)
{
  luaL_newlib(L, oci_funcs);
  return 1;
}
