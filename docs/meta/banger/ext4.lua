---@meta banger.ext4
-- LuaCATS stubs for the C module banger.ext4 (core/lua/l_ext4.c).

---@class banger.ext4
local ext4 = {}

---@class banger.ext4.CreateOpts
---@field size integer          bytes, 64 MiB to 128 TiB
---@field tree banger.tree.Tree the content
---@field label? string
---@field seed? string          UUID and directory hash seed derive from it (reproducible images)
---@field uuid? string          an explicit UUID instead
---@field journal? boolean      (default true)
---@field inodes? integer       inode count (default: grows to fit the tree)
---@field inode_ratio? integer  bytes per inode instead
---@field reserved? number      percent of blocks reserved for root (default 5)
---@field time? integer         every filesystem timestamp (default SOURCE_DATE_EPOCH, else now)
---@field progress? "bar"|"plain"|"none"  inodes written, on stderr (default --progress)

--- Writes the tree as a new ext4 image under a temporary name and returns it open for editing;
--- close() puts it at path once written back and synced. nil, message, code on failure ("image
--- too small: needs at least N MiB" when the tree does not fit, before any file is created).
---@param path string
---@param opts banger.ext4.CreateOpts
---@return banger.ext4.Image|nil
---@return string? err
---@return string? code
function ext4.create(path, opts) end

--- The smallest size (whole MiB, at least 64) that holds the tree: create at that size builds,
--- one MiB less fails with "image too small".
---@param tree banger.tree.Tree
---@param opts? banger.ext4.CreateOpts  size is ignored
---@return integer|nil bytes
---@return string? err
function ext4.min_size(tree, opts) end

---@class banger.ext4.SizeOpts: banger.ext4.CreateOpts
---@field headroom? number         free space and inodes as a fraction of what the tree takes
---@field min_free? integer        at least this many free bytes (root's reserve not counted)
---@field min_free_inodes? integer at least this many free inodes

--- Content-aware sizing with the writer's own model: the smallest size that holds the tree and
--- leaves the free space asked, and the inode count to create it with.
---@param tree banger.tree.Tree
---@param opts? banger.ext4.SizeOpts  size and inodes are ignored
---@return integer|nil bytes
---@return integer|string inodes  or the message
function ext4.size_for(tree, opts) end

--- Opens an existing ext4 image (any, mkfs.ext4's included).
---@param path string
---@param opts? {write?: boolean}
---@return banger.ext4.Image|nil
---@return string? err
---@return string? code
function ext4.open(path, opts) end

---@class banger.ext4.Stat: banger.tree.Stat
---@field ino integer
---@field links integer
---@field atime integer
---@field ctime integer
---@field flags integer
---@field blocks integer

---@class banger.ext4.Image
local Image = {}

--- Makes a directory ({parents, mode, uid, gid, mtime}).
---@param path string
---@param opts? table
function Image:mkdir(path, opts) end

--- Writes a file from bytes, or from a host file with opts.from; replaces what is there (a
--- symlink too, without following it).
---@param path string
---@param bytes? string
---@param opts? {from?: string, mode?: integer|string, uid?: integer, gid?: integer, mtime?: integer, parents?: boolean}
function Image:write(path, bytes, opts) end

---@param path string
---@param target string
---@param opts? table
function Image:symlink(path, target, opts) end

--- debugfs's set_inode_field: uid gid mode (whole i_mode) mtime atime ctime crtime *_nsec
--- links_count flags generation size.
---@param path string
---@param field string
---@param value integer
function Image:set_inode_field(path, field, value) end

---@param path string
---@param opts? {follow?: boolean}
---@return banger.ext4.Stat|nil
function Image:stat(path, opts) end

--- A file's bytes (64 MiB at most unless max says otherwise).
---@param path string
---@param max? integer
---@return string|nil
function Image:read(path, max) end

--- A directory's entries sorted by name: { {name=, type=, ino=}, ... }.
---@param path string
---@return table[]|nil
function Image:list(path) end

---@param path string
---@return boolean
function Image:exists(path) end

--- Removes a name; {recursive = true} frees a whole directory tree.
---@param path string
---@param opts? {recursive?: boolean}
function Image:remove(path, opts) end

---@class banger.ext4.Warning
---@field kind "hardlinks_split"|"time_clamped"|"lost+found_replaced"
---@field path string
---@field layer integer 0: the writer's or the editor's change
---@field detail string

--- What was changed so that the image stays valid, in order (writer and editor): the loss
--- report's shape, as Tree:notes() (total and counts by kind include notes past the list's cap).
---@return banger.ext4.Warning[]
---@return integer total
---@return table<string, integer> counts
function Image:warnings() end

--- Writes everything back, syncs and (for a new image) renames it into place; idempotent. A
--- `<close>` scope closes and raises on failure, or drops the image when left by an error;
--- garbage collection drops it silently. With `{ sha256 = true }` it also returns the image's
--- "sha256:<hex>" and size as closed (a new image is hashed while it is synced, its holes not
--- read). `meanwhile`, a function, runs once the image is written back, during the sync and the
--- hash (not when the write-back failed); its error is raised once they are done.
---@param opts? { sha256?: boolean, meanwhile?: fun() }
---@return boolean|nil ok
---@return string? err_or_sha256
---@return string|integer|nil code_or_size
function Image:close(opts) end

return ext4
