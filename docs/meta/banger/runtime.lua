---@meta banger.runtime
-- LuaCATS stubs for the C module banger.runtime (core/lua/l_runtime.c).

---@class banger.runtime
---@field version string        banger-build's version
---@field recipe string         the recipe path as given on the command line
---@field cache_dir string      the OCI cache (--cache-dir, $XDG_CACHE_HOME/banger/oci, ~/.cache/...)
---@field progress "bar"|"plain"|"none"
---@field verbosity integer     0 quiet, 1 normal, 2 verbose
---@field json boolean          --json was given
local runtime = {}

--- Seconds on a monotonic clock, for timings.
---@return number
function runtime.clock() end

--- Logs a line to stderr ("error", "warn", "info" or "debug"), subject to -q and -v.
---@param level "error"|"warn"|"info"|"debug"
---@param msg string
function runtime.log(level, msg) end

--- Sets the table --json prints.
---@param t table
function runtime.set_result(t) end

--- The bytes of a guest asset compiled into the binary (assets/NAME, or the guest agent built
--- for an architecture: agents/banger-vsock-agent.amd64, agents/banger-vsock-agent.arm64), or
--- nil and a message.
---@param name string
---@return string|nil
---@return string? err
function runtime.asset(name) end

--- The names of the compiled-in assets: assets/ sorted, then the agents sorted.
---@return string[]
function runtime.assets() end

return runtime
