---@meta banger.elf
-- LuaCATS stubs for the C module banger.elf (core/lua/l_elf.c).

---@class banger.elf
local elf = {}

---@class banger.elf.Info
---@field bits 32|64
---@field endian "little"|"big"
---@field type "exec"|"dyn"|"rel"|"core"|"other"
---@field machine integer        e_machine (62 x86-64, 183 aarch64)
---@field machine_name? string   as file(1) names it: "x86-64", "aarch64", ...
---@field arch? string           the OCI architecture it runs: "amd64", "arm64", ...
---@field entry integer          e_entry

--- Reads the ELF header at the start of bytes; nil, message, code for anything else.
---@param bytes string
---@return banger.elf.Info|nil
---@return string? message
---@return string? code
function elf.identify(bytes) end

--- The interpreter a dynamic ELF names (its PT_INTERP, "/lib64/ld-linux-x86-64.so.2"), false
--- for one that names none (static); nil, message, code for a bad header, program headers past
--- the bytes given, or a name the kernel would refuse.
---@param bytes string  the file's first bytes (its program headers are in the first page or so)
---@return string|false|nil interp
---@return string? message
---@return string? code
function elf.interp(bytes) end

return elf
