---@meta banger.digest
-- LuaCATS stubs for the C module banger.digest (core/lua/l_digest.c).

---@class banger.digest
local digest = {}

--- sha256 of a string, as "sha256:<64 hex digits>".
---@param s string
---@return string
function digest.sha256(s) end

--- sha256 and size of a file; nil, message, code when it cannot be read.
---@param path string
---@return string|nil digest
---@return integer|string size_or_message
---@return string? code
function digest.file(path) end

--- An incremental hasher.
---@return banger.digest.Hasher
function digest.new() end

--- Validates a digest string; returns "sha256" and the hex, or nil and a message.
---@param s string
---@return string|nil algorithm
---@return string hex_or_message
function digest.parse(s) end

---@class banger.digest.Hasher
local Hasher = {}

--- Adds bytes; returns the hasher so calls chain.
---@param s string
---@return banger.digest.Hasher
function Hasher:update(s) end

--- The digest so far ("sha256:<hex>"); the hasher starts again from nothing.
---@return string
function Hasher:digest() end

--- Frees the hasher (also on garbage collection and `<close>`); idempotent.
function Hasher:close() end

return digest
