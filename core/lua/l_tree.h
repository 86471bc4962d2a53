/* The banger.tree userdata, for bindings that take a tree (banger.ext4). */
#ifndef BG_L_TREE_H
#define BG_L_TREE_H

#include <lua.h>

#include "../tree/tree.h"

#define BG_TREE_MT "banger.tree.Tree"

typedef struct {
  struct bg_tree *t; /* NULL once closed */
  int layers;        /* layers applied so far: the next one is number layers + 1 */
  int busy;          /* inside t:remap(): changes to the tree raise */
} LTree;

/* The tree at idx; raises if it is not a tree or is closed. */
struct bg_tree *bg_lua_checktree(lua_State *L, int idx);
/* Reads mode (default defmode), uid, gid, mtime, mtime_nsec from the option table at idx. */
void bg_lua_meta(lua_State *L, int idx, uint32_t defmode, struct bg_meta *m);
/* "file", "dir", "symlink", "chr", "blk", "fifo" or "sock" for an st_mode. */
const char *bg_lua_type_name(uint32_t mode);
/* Pushes a stat table: type, mode, uid, gid, size, mtime, mtime_nsec, atime, atime_nsec, ctime,
 * ctime_nsec, nlink, target, major, minor, xattrs. */
void bg_lua_push_inode(lua_State *L, const struct bg_inode *ino);

#endif
