-- test_hostile.lua: file formats against malformed, truncated and hostile
-- input, and ember.save against a process killed mid-write.
--
-- Every hostile file is written by this test (safetensors, .npy, IDX plain
-- and gzip), loaded from Lua, and must raise a Lua error whose message names
-- the file and the problem: no crash, no huge allocation, and (under `make
-- sanitize`, where EMBER is ./ember-san) nothing leaked, since LeakSanitizer
-- makes the process exit non-zero.
--
-- The kill test runs a child ember (os.getenv("EMBER") or "./ember") that
-- saves a 256 MB value over the same path in a loop, SIGKILLs it while a
-- temporary file is being written, and checks the path still holds the
-- previous complete value.  The killed writer's temporary file
-- ("<path>.tmp-XXXXXX", beside the target) stays behind: nothing can remove
-- it once the process is gone.  ember never reads such files, and the next
-- successful save does not remove them either; they are safe to delete.
local T = dofile("tests/lua/harness.lua")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local function path(name) return dir .. "/" .. name end

local function write(name, bytes)
  local f = assert(io.open(path(name), "wb"))
  f:write(bytes)
  f:close()
  return path(name)
end

local function gzip(name, bytes)
  local raw = write(name .. ".raw", bytes)
  assert(os.execute("gzip -c -n " .. raw .. " > " .. path(name)), "gzip failed")
  return path(name)
end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local count = 0  -- hostile files checked

-- Loads file `p` with `loader`; it must fail with a message that names the
-- file and contains `problem` (plain text).
local function rejects(loader, p, problem)
  count = count + 1
  local ok, err = pcall(loader, p)
  if ok then error("loaded " .. p .. " without an error (expected: " .. problem .. ")", 2) end
  err = tostring(err)
  if not err:find(p, 1, true) then error("message does not name the file " .. p .. ": " .. err, 2) end
  if not err:find(problem, 1, true) then error("message does not say " .. string.format("%q", problem) .. ": " .. err, 2) end
end

-- ---------------------------------------------------------- safetensors

-- a safetensors file from a header text and a data buffer
local function st(header, data) return string.pack("<I8", #header) .. header .. (data or "") end
local function f32(...) return string.pack("<" .. string.rep("f", select("#", ...)), ...) end
local sixteen = f32(1, 2, 3, 4)  -- 16 bytes of data

T.test("safetensors: truncated and impossible header lengths", function()
  rejects(ember.load, write("st_empty", ""), "too short to be a safetensors file")
  rejects(ember.load, write("st_5bytes", "\8\0\0\0\0"), "too short to be a safetensors file")
  rejects(ember.load, write("st_huge_len", string.pack("<I8", 1 << 62) .. "{}"), "header length 4611686018427387904 is impossible")
  rejects(ember.load, write("st_len_past_end", string.pack("<I8", 1000) .. '{"a": 1}'), "header length 1000 is impossible")
  rejects(ember.load, write("st_len_max", string.pack("<i8", -1) .. '{}'), "is impossible")
  rejects(ember.load, write("st_zero_len", string.pack("<I8", 0) .. sixteen), "header length 0 is impossible")
  rejects(ember.load, write("st_len_1", string.pack("<I8", 1) .. "{}"), "header length 1 is impossible")
  -- a complete, valid file cut short inside the data
  ember.save(path("st_good"), {a = ember.randn(16, 16), b = ember.arange(10)})
  local good = read(path("st_good"))
  rejects(ember.load, write("st_truncated", good:sub(1, #good - 100)), "data_offsets outside the data buffer")
  -- cut inside the header
  rejects(ember.load, write("st_cut_header", good:sub(1, 20)), "is impossible")
end)

T.test("safetensors: bad and non-object JSON", function()
  rejects(ember.load, write("st_bad_json", st('{"a": {"dtype": "F32",', sixteen)), "header is not valid JSON")
  rejects(ember.load, write("st_array_json", st('[1, 2, 3]')), "header is not a JSON object")
  rejects(ember.load, write("st_string_json", st('"hello"')), "header is not a JSON object")
  -- cJSON skips every byte <= 32 as white space, NUL included
  rejects(ember.load, write("st_nul_json", st('{"a"\0: 1}')), "entry 'a' is not an object")
  rejects(ember.load, write("st_nul_end", st('{"a": {}\0')), "header is not valid JSON")
  rejects(ember.load, write("st_binary", string.pack("<I8", 64) .. string.rep("\255", 80)), "header is not valid JSON")
  -- nesting deeper than cJSON's limit (1000) is refused by the parser, not
  -- the C stack
  rejects(ember.load, write("st_deep", st(string.rep("[", 100000) .. string.rep("]", 100000))), "header is not valid JSON")
  rejects(ember.load, write("st_entry_number", st('{"a": 5}')), "entry 'a' is not an object")
  rejects(ember.load, write("st_missing_offsets", st('{"a": {"dtype": "F32", "shape": [4]}}', sixteen)),
    "tensor 'a' needs \"dtype\" (string), \"shape\" and \"data_offsets\" (arrays)")
  rejects(ember.load, write("st_dtype_number", st('{"a": {"dtype": 7, "shape": [4], "data_offsets": [0, 16]}}', sixteen)),
    "tensor 'a' needs")
end)

T.test("safetensors: wrong dtype, bad shapes", function()
  local function entry(dtype, shape, offs)
    return st(string.format('{"w": {"dtype": "%s", "shape": %s, "data_offsets": %s}}', dtype, shape, offs), sixteen)
  end
  rejects(ember.load, write("st_dtype_f99", entry("F99", "[4]", "[0, 16]")), "tensor 'w' has unsupported dtype F99")
  rejects(ember.load, write("st_dtype_lower", entry("f32", "[4]", "[0, 16]")), "unsupported dtype f32")
  rejects(ember.load, write("st_dtype_empty", entry("", "[4]", "[0, 16]")), "unsupported dtype")
  rejects(ember.load, write("st_shape_neg", entry("F32", "[-4]", "[0, 16]")), "shape entry that is not a non-negative integer")
  rejects(ember.load, write("st_shape_frac", entry("F32", "[2.5, 2]", "[0, 16]")), "shape entry that is not a non-negative integer")
  rejects(ember.load, write("st_shape_str", entry("F32", '["4"]', "[0, 16]")), "shape entry that is not a non-negative integer")
  rejects(ember.load, write("st_shape_null", entry("F32", "[null]", "[0, 16]")), "shape entry that is not a non-negative integer")
  rejects(ember.load, write("st_shape_1e300", entry("F32", "[1e300]", "[0, 16]")), "shape entry that is not a non-negative integer")
  rejects(ember.load, write("st_shape_obj", entry("F32", '{"a": 4}', "[0, 16]")), "needs")
  rejects(ember.load, write("st_shape_9dims", entry("F32", "[1,1,1,1,1,1,1,1,4]", "[0, 16]")), "has 9 dims")
  rejects(ember.load, write("st_shape_huge", entry("F32", "[4503599627370496, 4503599627370496]", "[0, 16]")),
    "tensor 'w' has a shape too large")
  -- zero elements, yet the other dims multiply to more than 2^63: the
  -- strides of such a tensor would overflow
  rejects(ember.load, write("st_shape_zero_huge", st(
    '{"w": {"dtype": "F32", "shape": [0, 4503599627370496, 4503599627370496], "data_offsets": [0, 0]}}')),
    "tensor 'w' has a shape too large")
  rejects(ember.load, write("st_shape_mismatch", entry("F32", "[2, 4]", "[0, 16]")),
    "tensor 'w' data_offsets [0, 16] give 16 bytes, but F32 [2, 4] needs 32")
  rejects(ember.load, write("st_f64_mismatch", entry("F64", "[4]", "[0, 16]")), "but F64 [4] needs 32")
end)

T.test("safetensors: offsets past the end, overlapping, holes, trailing data", function()
  rejects(ember.load, write("st_offs_past_end", st('{"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}', sixteen)),
    "tensor 'w' has data_offsets outside the data buffer (16 bytes)")
  rejects(ember.load, write("st_offs_far", st('{"w": {"dtype": "U8", "shape": [16], "data_offsets": [18446744073709551600, 18446744073709551616]}}', sixteen)),
    "data_offsets outside the data buffer")
  rejects(ember.load, write("st_offs_reversed", st('{"w": {"dtype": "U8", "shape": [0], "data_offsets": [16, 0]}}', sixteen)),
    "data_offsets outside the data buffer")
  rejects(ember.load, write("st_offs_three", st('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16, 16]}}', sixteen)),
    "data_offsets outside the data buffer")
  rejects(ember.load, write("st_offs_frac", st('{"w": {"dtype": "U8", "shape": [16], "data_offsets": [0.5, 16.5]}}', sixteen)),
    "data_offsets outside the data buffer")
  rejects(ember.load, write("st_overlap", st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
    .. ' "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},'
    .. ' "c": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}', sixteen)),
    "tensor 'b' overlaps another or leaves a hole in the data buffer")
  rejects(ember.load, write("st_same_range", st('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},'
    .. ' "b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', sixteen)), "overlaps another")
  rejects(ember.load, write("st_hole", st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
    .. ' "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}', sixteen)), "tensor 'b' overlaps another or leaves a hole")
  rejects(ember.load, write("st_trailing", st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', sixteen)),
    "the data buffer has 16 bytes but the tensors cover 8")
  rejects(ember.load, write("st_duplicate", st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
    .. ' "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', sixteen)), "tensor 'a' appears twice")
end)

T.test("safetensors: bad __metadata__ and ember.structure", function()
  local w = '"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}'
  rejects(ember.load, write("st_meta_array", st('{"__metadata__": [1], ' .. w .. '}', sixteen)), "__metadata__ is not an object")
  rejects(ember.load, write("st_meta_number", st('{"__metadata__": {"k": 5}, ' .. w .. '}', sixteen)),
    "__metadata__ value of 'k' is not a string")
  rejects(ember.load, write("st_meta_twice", st('{"__metadata__": {}, "__metadata__": {}, ' .. w .. '}', sixteen)),
    "repeated __metadata__")
  -- the structure ember.save records, malformed in several ways
  local function structure(name, s)
    local json = string.format('{"__metadata__": {"ember.structure": %q}, %s}', s, w)
    return write(name, st(json, sixteen))
  end
  rejects(ember.load, structure("st_struct_json", "{not json"), "malformed 'ember.structure' metadata")
  rejects(ember.load, structure("st_struct_missing", '{"t": "nope"}'), "names tensor 'nope' but does not hold it")
  rejects(ember.load, structure("st_struct_number", "42"), "malformed 'ember.structure' metadata")
  rejects(ember.load, structure("st_struct_pair", '{"tbl": [[{"x": 1}, {"t": "w"}]]}'), "malformed 'ember.structure' metadata")
  rejects(ember.load, structure("st_struct_short", '{"tbl": [["a"]]}'), "malformed 'ember.structure' metadata")
  rejects(ember.load, structure("st_struct_unknown", '{"tbl": [["a", {"q": 1}]]}'), "malformed 'ember.structure' metadata")
  rejects(ember.load, structure("st_struct_deep", string.rep('{"tbl": [["a", ', 150) .. '{"t": "w"}' .. string.rep("]]}", 150)),
    "malformed 'ember.structure' metadata")
  -- a missing tensor deep inside a table that is half built
  rejects(ember.load, structure("st_struct_late", '{"tbl": [["a", {"t": "w"}], ["b", {"tbl": [["c", {"t": "gone"}]]}]]}'),
    "names tensor 'gone'")
end)

T.test("safetensors: a table value that is not a file", function()
  rejects(ember.load, dir, "not a regular file")
  rejects(ember.load, path("does_not_exist"), "cannot open")
end)

-- ---------------------------------------------------------- .npy

-- a version-1 .npy file from a header dict and data
local function npy(dict, data, version)
  local pad = (64 - (10 + #dict + 1) % 64) % 64
  local h = dict .. string.rep(" ", pad) .. "\n"
  if version == 2 then return "\147NUMPY\2\0" .. string.pack("<I4", #h) .. h .. (data or "") end
  return "\147NUMPY\1\0" .. string.pack("<I2", #h) .. h .. (data or "")
end
local function dict(descr, shape, fortran)
  return string.format("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran or "False", shape)
end

T.test(".npy: bad magic, versions, header lengths", function()
  rejects(ember.load_npy, write("np_empty.npy", ""), "too short to be a .npy file")
  rejects(ember.load_npy, write("np_magic.npy", "\147NUMPZ\1\0" .. string.rep(" ", 60)), "not a .npy file (bad magic)")
  rejects(ember.load_npy, write("np_text.npy", "just some text, not an array\n"), "bad magic")
  rejects(ember.load_npy, write("np_version.npy", "\147NUMPY\9\0" .. string.rep(" ", 60)), "unsupported .npy format version 9.0")
  rejects(ember.load_npy, write("np_hlen_past_end.npy", "\147NUMPY\1\0\255\127{'descr': '<f4'}"), "header length 32767 does not fit the file")
  rejects(ember.load_npy, write("np_hlen_v2_huge.npy", "\147NUMPY\2\0\255\255\255\255{}" .. string.rep(" ", 20)),
    "header length 4294967295 does not fit")
  rejects(ember.load_npy, write("np_hlen_zero.npy", "\147NUMPY\1\0\0\0" .. f32(1, 2)), "header is not a dict")
  rejects(ember.load_npy, write("np_v2_cut.npy", "\147NUMPY\2\0\1\0"), "truncated header")
end)

T.test(".npy: bad header dicts and dtypes", function()
  local four = f32(1, 2, 3, 4)
  rejects(ember.load_npy, write("np_not_dict.npy", npy("['descr', '<f4']", four)), "header is not a dict")
  rejects(ember.load_npy, write("np_no_shape.npy", npy("{'descr': '<f4', 'fortran_order': False, }", four)),
    "header must hold exactly 'descr', 'fortran_order' and 'shape'")
  rejects(ember.load_npy, write("np_repeated.npy", npy("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", four)),
    "unexpected or repeated key 'descr'")
  rejects(ember.load_npy, write("np_extra_key.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", four)),
    "unexpected or repeated key 'x'")
  rejects(ember.load_npy, write("np_unterminated.npy", npy("{'descr': '<f4, 'fortran_order': False", four)), "malformed")
  rejects(ember.load_npy, write("np_fortran_word.npy", npy(dict("<f4", "(4,)", "Maybe"), four)), "malformed 'fortran_order'")
  rejects(ember.load_npy, write("np_code.npy", npy("{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (4,)}", four)),
    "malformed 'descr'")
  rejects(ember.load_npy, write("np_structured.npy", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", four)),
    "malformed 'descr' (structured dtypes are not supported)")
  rejects(ember.load_npy, write("np_complex.npy", npy(dict("<c8", "(2,)"), four)), "unsupported dtype '<c8'")
  rejects(ember.load_npy, write("np_unicode.npy", npy(dict("<U1", "(4,)"), four)), "unsupported dtype '<U1'")
  rejects(ember.load_npy, write("np_object.npy", npy(dict("|O", "(2,)"), four)), "unsupported dtype '|O'")
  rejects(ember.load_npy, write("np_f2.npy", npy(dict("<f2", "(8,)"), four)), "unsupported dtype '<f2'")
end)

T.test(".npy: bad shapes and data sizes", function()
  local four = f32(1, 2, 3, 4)
  rejects(ember.load_npy, write("np_shape_neg.npy", npy(dict("<f4", "(-4,)"), four)), "malformed 'shape'")
  rejects(ember.load_npy, write("np_shape_frac.npy", npy(dict("<f4", "(2.5,)"), four)), "malformed 'shape'")
  rejects(ember.load_npy, write("np_shape_list.npy", npy(dict("<f4", "[4]"), four)), "malformed 'shape'")
  rejects(ember.load_npy, write("np_shape_9dims.npy", npy(dict("<f4", "(1,1,1,1,1,1,1,1,4)"), four)), "at most 8 dims")
  rejects(ember.load_npy, write("np_shape_digits.npy", npy(dict("<f4", "(99999999999999999999999,)"), four)), "malformed 'shape'")
  rejects(ember.load_npy, write("np_shape_huge.npy", npy(dict("<f8", "(4000000000, 4000000000)"), four)), "shape is too large")
  rejects(ember.load_npy, write("np_shape_zero_huge.npy", npy(dict("<f4", "(0, 288230376151711744, 288230376151711744)"), "")),
    "shape is too large")
  -- found by fuzz_npy: within the parser's old bound (2^60) but past the
  -- tensor core's (2^59), whose error did not name the file
  rejects(ember.load_npy, write("np_fortran_huge.npy", npy(dict("<f4", "(0, 3288, 303761037615144)", "True"), "")),
    "shape is too large")
  rejects(ember.load, write("st_shape_core_limit", st(
    '{"w": {"dtype": "F32", "shape": [0, 3288, 303761037615144], "data_offsets": [0, 0]}}')), "has a shape too large")
  rejects(ember.load_npy, write("np_truncated.npy", npy(dict("<f4", "(3, 4)"), four)),
    "data is 16 bytes, but float32 of 12 elements needs 48")
  rejects(ember.load_npy, write("np_trailing.npy", npy(dict("<f4", "(2,)"), four)), "data is 16 bytes, but float32 of 2 elements needs 8")
  rejects(ember.load_npy, write("np_v2_trunc.npy", npy(dict("<i8", "(4,)"), four, 2)), "needs 32")
  -- a real file cut short
  ember.save_npy(path("np_good.npy"), ember.randn(10, 10))
  local good = read(path("np_good.npy"))
  rejects(ember.load_npy, write("np_cut.npy", good:sub(1, #good - 1)), "data is 399 bytes, but float32 of 100 elements needs 400")
  rejects(ember.load_npy, write("np_cut_header.npy", good:sub(1, 40)), "does not fit the file")
  rejects(ember.load_npy, dir, "not a regular file")
end)

-- ---------------------------------------------------------- IDX

-- an IDX file: type code, dims (big-endian uint32), payload
local function idx(code, dims, payload)
  local h = string.char(0, 0, code, #dims)
  for _, d in ipairs(dims) do h = h .. string.pack(">I4", d) end
  return h .. (payload or "")
end

T.test("IDX: bad magic, type codes, dims, sizes", function()
  rejects(ember.read_idx, write("idx_empty", ""), "too short to be an IDX file")
  rejects(ember.read_idx, write("idx_magic", "\1\0\8\1\0\0\0\1x"), "not an IDX file (bad magic)")
  rejects(ember.read_idx, write("idx_type", idx(0x0A, {4}, "abcd")), "unknown IDX element type 0x0a")
  rejects(ember.read_idx, write("idx_type_ff", idx(0xFF, {4}, "abcd")), "unknown IDX element type 0xff")
  rejects(ember.read_idx, write("idx_ndim0", string.char(0, 0, 8, 0)), "0 dims")
  rejects(ember.read_idx, write("idx_ndim200", string.char(0, 0, 8, 200) .. string.rep("\0", 800)), "200 dims")
  rejects(ember.read_idx, write("idx_cut_dims", string.char(0, 0, 8, 3, 0, 0, 0, 2)), "truncated header")
  rejects(ember.read_idx, write("idx_huge", idx(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, "x")), "shape is too large")
  rejects(ember.read_idx, write("idx_big_claim", idx(0x0E, {60000, 28, 28}, "tiny")),
    "header promises 376320000 bytes of data, the file has 4")
  rejects(ember.read_idx, write("idx_truncated", idx(0x08, {10, 10}, string.rep("a", 99))),
    "header promises 100 bytes of data, the file has 99")
  rejects(ember.read_idx, write("idx_trailing", idx(0x08, {4}, "abcde")), "header promises 4 bytes of data, the file has 5")
  rejects(ember.read_idx, write("idx_zero_huge", idx(0x08, {0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF})), "shape is too large")
  rejects(ember.read_idx, dir, "not a regular file")
  rejects(ember.read_idx, path("nope.idx"), "cannot open")
end)

T.test("IDX: corrupt, truncated and bomb-like gzip", function()
  local good = idx(0x08, {100, 28, 28}, string.rep("\7\200", 100 * 28 * 14))
  local gz = read(gzip("idx_good.gz", good))
  T.eq(ember.read_idx(path("idx_good.gz")):sum():item(), 100 * 14 * 28 * (7 + 200))
  rejects(ember.read_idx, write("idx_gz_cut.gz", gz:sub(1, #gz // 2)), "file is truncated")
  rejects(ember.read_idx, write("idx_gz_cut_trailer.gz", gz:sub(1, #gz - 3)), "file is truncated")
  -- a gzip header followed by garbage instead of a deflate stream
  rejects(ember.read_idx, write("idx_gz_garbage.gz", gz:sub(1, 10) .. string.rep("\255\0\17", 40)), "idx_gz_garbage.gz")
  -- a flipped byte in the middle of the deflate data: either an invalid
  -- stream or a CRC mismatch, never a crash
  local mid = #gz // 2
  rejects(ember.read_idx, write("idx_gz_flip.gz", gz:sub(1, mid - 1) .. string.char(gz:byte(mid) ~ 0x5A) .. gz:sub(mid + 1)),
    "idx_gz_flip.gz")
  -- a CRC that does not match the data
  rejects(ember.read_idx, write("idx_gz_crc.gz", gz:sub(1, #gz - 8) .. string.char(gz:byte(#gz - 7) ~ 1) .. gz:sub(#gz - 6)),
    "idx_gz_crc.gz")
  -- a small compressed file whose header claims far more than deflate can expand to
  rejects(ember.read_idx, gzip("idx_gz_bomb.gz", idx(0x0E, {60000, 60000, 100}, "")),
    "more than a")
  rejects(ember.read_idx, gzip("idx_gz_short.gz", idx(0x0C, {1000}, string.rep("\0", 100))), "file is truncated")
  rejects(ember.read_idx, gzip("idx_gz_trailing.gz", idx(0x08, {4}, "abcdef")), "trailing bytes after the data")
  rejects(ember.read_idx, gzip("idx_gz_zero_huge.gz", idx(0x0B, {0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF})), "shape is too large")
  -- two gzip members, the second one corrupt
  rejects(ember.read_idx, write("idx_gz_members.gz", gz .. gz:sub(1, 30)), "idx_gz_members.gz")
end)

T.test("IDX: the float path (read_idx with dtype/scale) rejects the same files", function()
  local function as_float(p) return ember.read_idx(p, {dtype = "float32", scale = 1 / 255}) end
  rejects(as_float, path("idx_type"), "unknown IDX element type")
  rejects(as_float, path("idx_truncated"), "header promises 100 bytes")
  rejects(as_float, path("idx_gz_cut.gz"), "file is truncated")
  rejects(as_float, path("idx_gz_short.gz"), "file is truncated")
  rejects(as_float, path("idx_gz_bomb.gz"), "more than a")
  rejects(as_float, path("idx_zero_huge"), "shape is too large")
end)

T.test("random corruption of valid files: an error or a value, never a crash", function()
  ember.save(path("fz_st"), {a = ember.randn(4, 4), b = ember.arange(6):to("int32"), c = {d = ember.tensor{true, false}}})
  ember.save_npy(path("fz_npy"), ember.randn(3, 5):double())
  write("fz_idx", idx(0x0B, {3, 4}, string.rep("\1\2", 12)))
  local loaders = {fz_st = ember.load, fz_npy = ember.load_npy, fz_idx = ember.read_idx}
  math.randomseed(7)
  for name, loader in pairs(loaders) do
    local good = read(path(name))
    for i = 1, 150 do
      local b = {good:byte(1, -1)}
      local how = i % 3
      if how == 0 then  -- flip bytes, mostly in the header
        for _ = 1, math.random(1, 4) do
          local k = math.random(1, math.min(#b, 160))
          b[k] = math.random(0, 255)
        end
      elseif how == 1 then  -- cut
        for k = math.random(0, #b - 1) + 1, #b do b[k] = nil end
      else  -- insert a digit or a bracket into the header
        table.insert(b, math.random(1, math.min(#b, 120)), ("0123456789[]{},-\"'"):byte(math.random(1, 18)))
      end
      local bytes = {}
      for j = 1, #b do bytes[j] = string.char(b[j]) end
      local p = write(name .. "_" .. i, table.concat(bytes))
      local ok, err = pcall(loader, p)
      if not ok then T.ok(tostring(err):find(p, 1, true), "error does not name the file: " .. tostring(err)) end
      os.remove(p)
    end
  end
end)

T.test("at least 20 distinct hostile files were rejected", function()
  T.ok(count >= 20, "only " .. count)
  io.write("hostile files rejected: ", count, "\n")
end)

-- ---------------------------------------------------------- kill mid-save

-- the state of process `pid`: nil once gone (or a zombie, which can no
-- longer run: a killed child of an exited shell may wait for its reaper)
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a") or ""
  f:close()
  local state = s:match("%) (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

local function sleep(s) os.execute("sleep " .. s) end

local function temp_files(target)
  local out = {}
  local p = io.popen("ls -a " .. dir)
  local base = target:match("[^/]+$")
  for line in p:lines() do
    if line:sub(1, #base + 5) == base .. ".tmp-" then out[#out + 1] = dir .. "/" .. line end
  end
  p:close()
  return out
end

local function file_size(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

T.test("a process killed in the middle of ember.save leaves the previous file intact", function()
  local ember_bin = os.getenv("EMBER") or "./ember"
  local target, progress = path("big.safetensors"), path("big.progress")
  local N = 64 * 1024 * 1024  -- float32: 256 MB per save
  -- the child: before each save, record which value it is writing
  local code = string.format([[
    ember.set_num_threads(1)
    local t = ember.zeros(%d)
    local i = 0
    while true do
      i = i + 1
      t:fill_(i)
      local f = assert(io.open(%q, "w"))
      f:write(i)
      f:close()
      ember.save(%q, {i = i, t = t})
    end]], N, progress, target)
  local script = write("child.lua", code)
  local p = io.popen(ember_bin .. " " .. script .. " >" .. path("child.log") .. " 2>&1 & echo $!")
  local pid = assert(tonumber(p:read("l")), "no child pid")
  p:close()
  local function cleanup()
    if alive(pid) then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
  end
  local ok, err = pcall(function()
    -- wait for a complete first save and the second one to start writing
    local t0 = ember.wall_time()
    local tmp
    while true do
      if not alive(pid) then
        local f = io.open(path("child.log"))
        error("the child died: " .. (f and f:read("a") or "(no output)"))
      end
      T.ok(ember.wall_time() - t0 < 300, "timed out waiting for the child's second save")
      local f = io.open(progress)
      local cur = f and tonumber(f:read("a"))
      if f then f:close() end
      if cur and cur >= 2 and file_size(target) then
        local tf = temp_files(target)
        if #tf > 0 and (file_size(tf[1]) or 0) > 0 then
          tmp = tf[1]
          break
        end
      end
      sleep(0.005)
    end
    os.execute("kill -9 " .. pid)
    while alive(pid) do sleep(0.01) end
    local writing = tonumber(read(progress))
    local strays = temp_files(target)
    local v = ember.load(target)
    -- complete and consistent: the scalar and every element agree
    T.eq(v.t:numel(), N)
    T.eq(v.t:eq(v.i):all():item(), true, "the loaded tensor is not one complete save")
    if #strays > 0 then
      -- the save of `writing` never reached its rename: the file holds the one before
      T.eq(v.i, writing - 1, "the file is not the previous save")
    else
      -- killed between a rename and the next save's temporary file
      T.ok(v.i == writing or v.i == writing - 1)
    end
    io.write(string.format("killed while writing save %d (temporary file %s, %s bytes); the file holds save %d\n",
      writing, tmp:match("[^/]+$"), tostring(file_size(tmp)), v.i))
    -- leftover temporary files are ignored by load and by the next save
    ember.save(target, {i = -1, t = ember.ones(2)})
    T.eq(ember.load(target).i, -1)
    T.ok(#temp_files(target) == #strays, "a save changed the leftover temporary files")
  end)
  cleanup()
  if not ok then error(err, 0) end
end)

os.execute("rm -rf " .. dir)
T.done()
