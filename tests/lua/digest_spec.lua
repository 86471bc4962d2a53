local spec = require "spec"
local digest = require "banger.digest"
local it, eq = spec.it, spec.eq

local EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

it("hashes strings", function()
  eq(digest.sha256(""), EMPTY)
  eq(digest.sha256("abc"),
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  eq(digest.sha256("a\0b"), digest.new():update("a"):update("\0"):update("b"):digest())
end)

it("hashes files and reports their size", function()
  local path = spec.tmpdir() .. "/f"
  local f = assert(io.open(path, "wb"))
  f:write(string.rep("x", 1000))
  f:close()
  local d, size = digest.file(path)
  eq(d, digest.sha256(string.rep("x", 1000)))
  eq(size, 1000)
end)

it("returns nil, message, code for a missing file", function()
  local d, msg, code = digest.file("/nonexistent/banger")
  eq(d, nil)
  eq(msg, "cannot open /nonexistent/banger: No such file or directory")
  eq(code, "notfound")
end)

it("parses and validates digest strings", function()
  local algo, hex = digest.parse(EMPTY)
  eq(algo, "sha256")
  eq(hex, EMPTY:sub(8))
  local ok, msg = digest.parse("sha256:abc")
  eq(ok, nil)
  eq(msg, "invalid digest 'sha256:abc': expected 64 hex digits")
  eq(select(2, digest.parse("md5:00")), "unsupported digest algorithm in 'md5:00'")
end)

it("closes hashers once, and refuses closed ones", function()
  local h = digest.new()
  h:close()
  h:close()
  spec.raises(function() h:update("x") end, "attempt to use a closed hasher")
  do
    local h2 <close> = digest.new()
    h2:update("x")
  end
end)

it("misuse raises", function()
  spec.raises(function() digest.sha256() end, "bad argument #1 to 'sha256'")
  spec.raises(function() digest.new().update(nil, "x") end, "bad argument #1")
  local hex = string.rep("a", 64)
  spec.raises(function() digest.parse("sha256:" .. hex .. "\0junk") end, "a NUL byte in the digest")
end)

spec.done()
