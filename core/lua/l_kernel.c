/* banger.kernel: kernel files for a VMM. probe says what one is; save writes bytes as a whole
 * file; unpack writes the uncompressed kernel (vmlinux ELF, arm64 Image) decompressed from it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "l_common.h"
#include "l_elf.h"
#include "../kernel/kernel.h"
#include "../util/outfile.h"

/* The largest uncompressed kernel unpack writes unless told otherwise. */
#define DEFAULT_MAX (512LL << 20)

static const char *format_name(int format)
{
  switch (format) {
  case BG_KERNEL_BZIMAGE: return "bzimage";
  case BG_KERNEL_ELF: return "elf";
  case BG_KERNEL_ARM64_IMAGE: return "arm64-image";
  default: return "compressed";
  }
}

/* kernel.probe(bytes): {format, compression, protocol, version, release, payload_offset,
 * payload_size}, or nil, message, code. */
static int kernel_probe(lua_State *L)
{
  size_t n, rl;
  const char *s = luaL_checklstring(L, 1, &n);
  struct bg_kernel_info info;
  struct bg_error err;
  char proto[16];

  bg_error_clear(&err);
  if (bg_kernel_probe(s, n, &info, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_createtable(L, 0, 7);
  lua_pushstring(L, format_name(info.format));
  lua_setfield(L, -2, "format");
  lua_pushstring(L, bg_kernel_comp_name(info.compression));
  lua_setfield(L, -2, "compression");
  if (info.format == BG_KERNEL_BZIMAGE) {
    snprintf(proto, sizeof(proto), "%u.%02u", info.protocol >> 8, info.protocol & 0xff);
    lua_pushstring(L, proto);
    lua_setfield(L, -2, "protocol");
    lua_pushinteger(L, (lua_Integer)info.payload_offset);
    lua_setfield(L, -2, "payload_offset");
    lua_pushinteger(L, (lua_Integer)info.payload_size);
    lua_setfield(L, -2, "payload_size");
  }
  if (info.version[0] != '\0') {
    lua_pushstring(L, info.version);
    lua_setfield(L, -2, "version");
    rl = strcspn(info.version, " ");
    lua_pushlstring(L, info.version, rl);
    lua_setfield(L, -2, "release");
  }
  return 1;
}

/* kernel.save(path, bytes): writes the file whole or not at all (missing directories are
 * made); returns its size, or nil, message, code. */
static int kernel_save(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  struct bg_outfile o;
  struct bg_error err;

  bg_error_clear(&err);
  if (bg_outfile_open(&o, path, 1, &err) != 0)
    return bg_lua_fail(L, &err);
  if (bg_outfile_write(&o, s, n, &err) != 0 || bg_outfile_commit(&o, &err) != 0) {
    bg_outfile_abort(&o);
    return bg_lua_fail(L, &err);
  }
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

static int to_outfile(void *ctx, const void *p, size_t n, struct bg_error *err)
{
  return bg_outfile_write(ctx, p, n, err);
}

/* The file the uncompressed kernel is written as, in its directory. */
static const char *unpacked_name(int format)
{
  return format == BG_KERNEL_ARM64_IMAGE ? "Image" : "vmlinux";
}

/* kernel.unpack(bytes, dir [, {max_bytes = n}]): writes the uncompressed kernel into dir (made
 * when missing) as vmlinux (an ELF) or Image (arm64), whole or not at all; returns {path,
 * format, compression, size, elf}, or nil, message, code. */
static int kernel_unpack(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *dir = luaL_checkstring(L, 2);
  lua_Integer max;
  struct bg_kernel_unpacked u;
  struct bg_outfile o;
  struct bg_error err;
  char path[PATH_MAX];
  int len;

  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  max = bg_lua_optfield_int(L, 3, "max_bytes", DEFAULT_MAX);
  luaL_argcheck(L, max > 0, 3, "max_bytes must be positive");
  bg_error_clear(&err);
  len = snprintf(path, sizeof(path), "%s/%s", dir, unpacked_name(BG_KERNEL_ELF));
  if (len < 0 || (size_t)len >= sizeof(path) - 8) {
    bg_error_set(&err, BG_ETOOBIG, "%s: path too long", dir);
    return bg_lua_fail(L, &err);
  }
  if (bg_outfile_open(&o, path, 1, &err) != 0)
    return bg_lua_fail(L, &err);
  if (bg_kernel_unpack(s, n, (uint64_t)max, to_outfile, &o, &u, &err) != 0) {
    bg_outfile_abort(&o);
    return bg_lua_fail(L, &err);
  }
  /* named by what came out; the temporary file is in the same directory either way */
  snprintf(o.path, sizeof(o.path), "%s/%s", dir, unpacked_name(u.format));
  if (bg_outfile_commit(&o, &err) != 0)
    return bg_lua_fail(L, &err);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, o.path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, format_name(u.format));
  lua_setfield(L, -2, "format");
  lua_pushstring(L, bg_kernel_comp_name(u.compression));
  lua_setfield(L, -2, "compression");
  lua_pushinteger(L, (lua_Integer)u.size);
  lua_setfield(L, -2, "size");
  if (u.format == BG_KERNEL_ELF) {
    bg_lua_push_elf(L, &u.elf);
    lua_setfield(L, -2, "elf");
  }
  return 1;
}

static const luaL_Reg kernel_funcs[] = {
  {"probe", kernel_probe},
  {"save", kernel_save},
  {"unpack", kernel_unpack},
  {NULL, NULL},
};

int luaopen_banger_kernel(lua_State *L)
{
  luaL_newlib(L, kernel_funcs);
  return 1;
}
