---@meta banger.tree
-- LuaCATS stubs for the C module banger.tree (core/lua/l_tree.c). Kept outside lua/stdlib/,
-- whose files are all compiled into the binary as modules. Point your editor's Lua language
-- server at docs/meta (workspace.library) to see the API.

---@class banger.tree
local tree = {}

---@class banger.tree.Layer
---@field path string the blob file
---@field media_type string an OCI or Docker layer media type (tar, tar+gzip, tar+zstd)
---@field diff_id? string "sha256:<hex>" of the uncompressed stream, checked when given
---@field digest? string the blob digest, named in error messages

---@class banger.tree.LayerOpts
---@field devices? "skip"|"keep" device nodes and fifos (default "skip")
---@field xattrs? "drop"|"keep" extended attributes (default "drop")
---@field image? string the image name used in error messages
---@field max_bytes? integer uncompressed bytes over all layers, and regular files' logical bytes
---(a sparse file at its full size) over all layers (default 64 GiB)
---@field max_entries? integer tar entries over all layers (default 8 million)
---@field progress? "bar"|"plain"|"none" blob bytes read and entries, on stderr (default --progress)

---@class banger.tree.Meta
---@field mode? integer|string permission bits, 0..07777, or octal digits: "0755"
---@field uid? integer
---@field gid? integer
---@field mtime? integer seconds since the epoch (may be negative)
---@field mtime_nsec? integer
---@field parents? boolean make missing directories 0755 0:0 (default true)

---@class banger.tree.Stat
---@field type "file"|"dir"|"symlink"|"chr"|"blk"|"fifo"|"sock"
---@field mode integer permission bits including setuid, setgid, sticky
---@field uid integer
---@field gid integer
---@field size integer content bytes (file) or target length (symlink)
---@field mtime integer
---@field mtime_nsec integer
---@field atime integer
---@field atime_nsec integer
---@field ctime integer
---@field ctime_nsec integer
---@field nlink integer names referring to this inode
---@field target? string symlink target
---@field major? integer devices
---@field minor? integer devices
---@field xattrs? table<string, string>

---@class banger.tree.Stats
---@field entries integer
---@field inodes integer
---@field files integer
---@field dirs integer
---@field symlinks integer
---@field specials integer
---@field bytes integer
---@field data_blocks integer

---@class banger.tree.Note  an entry of the loss report (banger.losses)
---@field kind string what happened: "device", "fifo", "socket", "overlay_whiteout", "xattr",
---"overlay_xattr", "capability_v2", "owner_remapped", "mountpoint_created", "replaced"
---@field path string the entry's path in the tree, "/usr/bin/ping"
---@field layer integer the layer it came from (1 for the base), 0 for a change made after
---@field detail string why, e.g. "xattr foo.bar: not in a namespace Linux shows (...)"

---@class banger.tree.Tree
--- Paths are inside the tree: "/a/b", "a/b" and "a//b/" are one path. A path with a "." or ".."
--- component, a NUL byte, a component over 255 bytes or more than 4095 bytes in all raises; so
--- does a symlink target over 4095 bytes, an xattr the kernel would not show or ext4 not hold,
--- and a device number Linux cannot encode (major over 4095, minor over 1048575).
local Tree = {}

--- An empty tree: just the root directory, 0755 0:0.
---@param limits? {max_entries?: integer, max_bytes?: integer}
---@return banger.tree.Tree
function tree.new(limits) end

--- Replays layers, base first, into a new tree with the OCI whiteout rules.
---@param layers banger.tree.Layer[]
---@param opts? banger.tree.LayerOpts
---@return banger.tree.Tree|nil tree
---@return string? message e.g. "layer 2 (sha256:...) of debian:bookworm: etc/../x: unsafe path"
---@return string? code "unsafe", "mismatch", "toobig", "invalid", "io", ...
function tree.from_layers(layers, opts) end

--- Replays one more layer on top of what the tree holds.
---@param layer banger.tree.Layer
---@param opts? banger.tree.LayerOpts
---@return boolean|nil ok
---@return string? message
---@return string? code
function Tree:apply_layer(layer, opts) end

---@param path string
---@param opts? {follow?: boolean}
---@return banger.tree.Stat|nil
---@return string? message
---@return string? code
function Tree:stat(path, opts) end

---@param path string
---@return boolean
function Tree:exists(path) end

--- The content of a small regular file; symlinks are followed inside the tree.
---@param path string
---@param max? integer bytes (default 1 MiB); a bigger file is an error
---@return string|nil bytes
---@return string? message
---@return string? code
function Tree:read(path, max) end

--- The first n bytes of a regular file (all of a shorter one), symlinks followed inside the
--- tree: for headers (ELF, "#!") of files of any size.
---@param path string
---@param n integer at most 1 MiB
---@return string|nil bytes
---@return string? message
---@return string? code
function Tree:head(path, n) end

--- Every name, bytewise sorted, a directory before its children, "/" first.
---@return fun(): string, banger.tree.Stat
function Tree:walk() end

--- Calls fn once per inode; fn returns new ids, or nothing to keep them.
---@param fn fun(uid: integer, gid: integer, path: string): integer?, integer?
function Tree:remap(fn) end

---@param path string
---@param opts? banger.tree.Meta
---@return boolean|nil ok
---@return string? message
---@return string? code
function Tree:mkdir(path, opts) end

--- A regular file from bytes, or (bytes nil) from the host file opts.from.
---@param path string
---@param bytes string|nil
---@param opts? banger.tree.Meta|{from?: string}
---@return boolean|nil ok
---@return string? message
---@return string? code
function Tree:write(path, bytes, opts) end

---@param path string
---@param target string
---@param opts? banger.tree.Meta
---@return boolean|nil ok
---@return string? message
---@return string? code
function Tree:symlink(path, target, opts) end

--- A new name for the inode at existing (a symlink itself is linked, not followed).
---@param path string
---@param existing string
---@return boolean|nil ok
---@return string? message
---@return string? code
function Tree:link(path, existing) end

---@param path string
---@param type "chr"|"blk"|"fifo"
---@param opts? banger.tree.Meta|{major?: integer, minor?: integer}
---@return boolean|nil ok
---@return string? message
---@return string? code
function Tree:mknod(path, type, opts) end

--- With two arguments returns the value (or nil); with a third sets it, nil removes it.
---@param path string
---@param name string "user.x", "security.capability", ...
---@param value? string|nil
---@return string|boolean|nil
---@return string? message
---@return string? code
function Tree:xattr(path, name, value) end

--- Removes a name, a whole subtree for a directory.
---@param path string
---@return boolean|nil ok
---@return string? message
---@return string? code
function Tree:remove(path) end

---@param block_size? 1024|2048|4096
---@return banger.tree.Stats
function Tree:stats(block_size) end

--- What the tree dropped or changed of what the layers say (flattening's policy, what Linux
--- cannot hold, remap's owner changes, notes made with `note`), in the order made. The list
--- holds the first 100,000 (and 16 MiB of text); total and counts (by kind) count every note.
---@return banger.tree.Note[] notes
---@return integer total
---@return table<string, integer> counts
function Tree:notes() end

--- Records a change the build made to the tree, for the loss report (layer 0); kind is one of
--- the report's kinds (banger.losses.KINDS). False when it repeats the note before it.
---@param kind string
---@param path string
---@param detail string
---@return boolean
function Tree:note(kind, path, detail) end

--- The spool's logical size and the bytes its file takes on disk (holes take none).
---@return integer|nil logical
---@return integer|string allocated or message
---@return string? code
function Tree:spool_usage() end

--- Frees the tree and its spool; idempotent, also run by <close> and the garbage collector.
function Tree:close() end

return tree
