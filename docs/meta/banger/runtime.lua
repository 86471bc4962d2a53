---@meta banger.runtime
-- LuaCATS stubs for the C module banger.runtime (core/lua/l_runtime.c).

---@class banger.runtime
---@field version string        banger-build's version
---@field recipe string         the recipe's path (a bare name looked up on the search path)
---@field recipe_name string    the recipe as the command line named it
---@field recipe_dirs string[]  the recipe search path, in order
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

--- What the binary brings to every build, for the build key: sha256 = of the Lua library (as
--- loaded: BANGER_LUA_PATH counts) and the compiled-in assets; ext2fs = libext2fs's version.
---@return {sha256: string, ext2fs: string}
function runtime.builtins() end

--- This run's mode: "build"; "plan" (--plan or plan=1: nothing is written, the primitives refuse
--- to write); "help" (RECIPE --help: nothing is fetched or written).
---@return "build"|"plan"|"help"
function runtime.mode() end

--- Enters plan mode for the rest of the run (what plan=1 does); it cannot be left.
function runtime.enter_plan() end

--- Ends the recipe with an exit status (0..125) and a message, closing every <close> variable on
--- the way: main prints the message (on stderr unless the status is 0).
---@param code integer
---@param msg? string
function runtime.exit(code, msg) end

--- The stack as text, as debug.traceback makes it (recipes have no debug library).
---@param msg? string
---@param level? integer
---@return string
function runtime.traceback(msg, level) end

--- The regular *.lua files in a directory, in no order, or nil and a message.
---@param dir string
---@return string[]|nil
---@return string? err
function runtime.recipes_in(dir) end

return runtime
