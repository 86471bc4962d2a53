---@meta banger.kernel
-- LuaCATS stubs for the C module banger.kernel (core/lua/l_kernel.c).

---@class banger.kernel
local kernel = {}

---@class banger.kernel.Info
---@field format "bzimage"|"elf"|"arm64-image"|"compressed"
---@field compression "gzip"|"zstd"|"xz"|"lzma"|"lz4"|"bzip2"|"lzo"|"none"  of the bzImage payload, or of the whole file
---@field protocol? string       bzImage: the boot protocol version ("2.15")
---@field version? string        bzImage: its version string
---@field release? string        the version string's first word ("6.1.0-18-amd64")
---@field payload_offset? integer
---@field payload_size? integer

--- What a kernel file is; nil, message, code for anything else (a bzImage's header fields are
--- checked against the file before use).
---@param bytes string
---@return banger.kernel.Info|nil
---@return string? message
---@return string? code
function kernel.probe(bytes) end

---@class banger.kernel.Unpacked
---@field path string            dir/vmlinux (an ELF) or dir/Image (arm64)
---@field format "elf"|"arm64-image"
---@field compression string     what it was decompressed from ("none": it was not)
---@field size integer
---@field elf? banger.elf.Info

--- Writes the uncompressed kernel into dir (made when missing), whole or not at all: a
--- bzImage's payload, which must be an x86 ELF; a compressed file's content, which must be an
--- arm64 Image or an ELF. At most max_bytes (default 512 MiB).
---@param bytes string
---@param dir string
---@param opts? {max_bytes?: integer}
---@return banger.kernel.Unpacked|nil
---@return string? message
---@return string? code
function kernel.unpack(bytes, dir, opts) end

--- Writes bytes to path (missing directories made) under a temporary name, synced and renamed.
---@param path string
---@param bytes string
---@return integer|nil size
---@return string? message
---@return string? code
function kernel.save(path, bytes) end

return kernel
