local spec = require "spec"
local banger = require "banger"
local bargs = require "banger.args"
local it, eq = spec.it, spec.eq

-- The command line as banger-build would hand it over.
local function with_args(t, fn)
  local saved = rawget(_G, "args")
  _G.args = t
  local ok, err = pcall(fn)
  _G.args = saved
  if not ok then error(err, 0) end
end

local function parse(t, ...)
  local decls = table.pack(...)
  local v
  with_args(t, function() v = banger.arguments(table.unpack(decls, 1, decls.n)) end)
  return v
end

local function usage_error(t, ...)
  local decls = table.pack(...)
  local ok, err = pcall(parse, t, table.unpack(decls, 1, decls.n))
  eq(ok, false, "expected a usage error")
  eq(type(err), "table", "an exit object")
  eq(err.code, 2, "exit status")
  -- the recipe is named as the command line named it: this spec
  local me = require("banger.runtime").recipe_name
  return (err.message:gsub(me:gsub("%p", "%%%0"), "RECIPE"))
end

it("parses the build arguments, typed, with their defaults", function()
  local v = parse({ image = "debian:bookworm", size = "2G", insecure = "yes", pull = "never",
    platform = "linux/aarch64", headroom = "0.5" }, banger.BUILD_ARGS)
  eq(v.image, "debian:bookworm")
  eq(v.size, 2 * 1024 * 1024 * 1024)
  eq(v.insecure, true)
  eq(v.pull, "never")
  eq(v.platform, "linux/arm64", "normalised by the registry client's parser")
  eq(v.headroom, 0.5)
  eq(v.plan, false)
  eq(v.out, nil)
  local d = parse({ image = "x" }, banger.BUILD_ARGS)
  eq(d.platform, "linux/amd64")
  eq(d.pull, "missing")
  eq(d.insecure, false)
end)

it("names an unknown key, the closest known one and all of them", function()
  eq(usage_error({ image = "x", sise = "2G" }, banger.BUILD_ARGS),
    "unknown argument 'sise'; did you mean 'size'? RECIPE takes image, out, size, headroom, " ..
    "label, inline_data, devices, xattrs, platform, pull, insecure, plan, cache, push, mirrors, " ..
    "kernel, init, strict, check, distroless, provenance, report (banger-build RECIPE --help)")
  eq(usage_error({ image = "x", zzzz = "1" }, banger.BUILD_ARGS):match("^[^?]*RECIPE takes"),
    "unknown argument 'zzzz'; RECIPE takes")
  eq(usage_error({ image = "x", platfrom = "linux/arm64" }, banger.BUILD_ARGS):match("^.-%?"),
    "unknown argument 'platfrom'; did you mean 'platform'?")
  eq(usage_error({ image = "x", insec = "1" }, banger.BUILD_ARGS):match("^.-%?"),
    "unknown argument 'insec'; did you mean 'insecure'?")
end)

it("checks each value by its type", function()
  eq(usage_error({ image = "x", size = "2X" }, banger.BUILD_ARGS),
    'argument size=2X: invalid size "2X": expected bytes or a number with K, M, G or T')
  eq(usage_error({ image = "x", size = "1M" }, banger.BUILD_ARGS),
    "argument size=1M: 1 MiB is under the 64 MiB floor")
  eq(usage_error({ image = "x", pull = "sometimes" }, banger.BUILD_ARGS),
    "argument pull=sometimes: expected missing, always or never")
  eq(usage_error({ image = "x", insecure = "maybe" }, banger.BUILD_ARGS),
    "argument insecure=maybe: expected true or false (also 1/0, yes/no, on/off)")
  eq(usage_error({ image = "x", platform = "linux//v8" }, banger.BUILD_ARGS),
    "argument platform=linux//v8: invalid platform 'linux//v8': expected os/arch[/variant]")
  eq(usage_error({ image = "Bad Name" }, banger.BUILD_ARGS):match("^argument image=Bad Name: invalid reference"),
    "argument image=Bad Name: invalid reference")
  eq(usage_error({ image = "x", headroom = "-1" }, banger.BUILD_ARGS),
    "argument headroom=-1: expected a number of 0 or more, such as 0.25")
  eq(usage_error({ image = "x", out = "" }, banger.BUILD_ARGS), "argument out=: expected a path")
  eq(usage_error({}, banger.BUILD_ARGS):match("^[^:]*"), "argument image= is required")
  eq(parse({ n = "-3" }, { { "n", "integer", nil, "a number" } }).n, -3)
  eq(usage_error({ n = "3.5" }, { { "n", "integer", nil, "a number" } }),
    "argument n=3.5: expected a whole number")
end)

it("a recipe adds its own rows and changes defaults", function()
  local v = parse({ image = "x", endpoint = "https://m" }, banger.BUILD_ARGS, {
    headroom = 0.5, size = "256M",
    { "endpoint", "string", nil, "where metrics go" },
  })
  eq(v.endpoint, "https://m")
  eq(v.headroom, 0.5)
  eq(v.size, 256 * 1048576)
  spec.raises(function() parse({}, banger.BUILD_ARGS, { sise = "1G" }) end,
    "arguments: a default for sise, which is not declared")
  spec.raises(function() parse({}, banger.BUILD_ARGS, { { "size", "size", nil, "again" } }) end,
    "arguments: size is declared twice")
  spec.raises(function() parse({}, { { "x", "colour", nil, "?" } }) end, "unknown type colour")
  spec.raises(function() parse({}, { { "X", "string", nil, "?" } }) end, "the name must be a word")
  spec.raises(function() parse({}, { { "x", "string", nil } }) end, "one line of help")
  spec.raises(function() parse({}, { { "x", "boolean", 3, "?" } }) end,
    "argument x: default 3 does not fit type boolean")
  -- the declarations themselves are not changed
  eq(banger.BUILD_ARGS[3][3], nil)
end)

it("adding an argument is one row of data", function()
  local rows = {}
  for i, row in ipairs(banger.BUILD_ARGS) do rows[i] = row end
  rows[#rows + 1] = { "spool", "path", nil, "where to spool" }
  eq(parse({ image = "x", spool = "/c" }, rows).spool, "/c")
end)

it("hands run every argument that is a run option, and refuses one set twice", function()
  local v = parse({ image = "x", pull = "never" }, banger.BUILD_ARGS,
    { { "endpoint", "string", "e", "not a run option" } })
  local opts = bargs.spread({ args = v, agents = "openrc" }, { image = 1, pull = 1, devices = 1,
    platform = 1, agents = 1 }, "run")
  eq(opts.image, "x")
  eq(opts.pull, "never")
  eq(opts.platform, "linux/amd64")
  eq(opts.devices, "skip")
  eq(opts.agents, "openrc")
  eq(opts.endpoint, nil)
  eq(opts.args, nil)
  spec.raises(function() bargs.spread({ args = v, pull = "always" }, { pull = 1 }, "run") end,
    "run: pull is set by the recipe and is an argument too")
  spec.raises(function() bargs.spread({ args = { image = "x" } }, {}, "run") end,
    "run: args must be what banger.arguments returned")
  spec.raises(function() banger.run { args = { image = "x" } } end,
    "run: args must be what banger.arguments returned")
end)

it("suggests only close names", function()
  local names = { "image", "out", "size", "platform", "insecure" }
  eq(bargs.closest("sise", names), "size")
  eq(bargs.closest("imgae", names), "image")
  eq(bargs.closest("SIZE", names), "size")
  eq(bargs.closest("plat", names), "platform")
  eq(bargs.closest("colour", names), nil)
  eq(bargs.closest("x", names), nil)
end)

it("writes the help text from the rows", function()
  local text = bargs.help_text({
    { "image", "image", nil, "the image", required = true },
    { "pull", "missing|always|never", "missing", "the pull policy (default whatever)" },
    { "n", "integer", 3, "a count" },
  }, { n = 4 })
  spec.truthy(text:find("\narguments:\n  image=IMAGE             the image (required)\n", 1, true),
    text)
  spec.truthy(text:find("\n  pull=missing|always|never\n                          the pull " ..
    "policy (default missing)\n", 1, true), text)
  spec.truthy(text:find("\n  n=N                     a count (default 4)\n", 1, true), text)
end)

spec.done()
