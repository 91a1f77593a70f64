-- The worker's outcomes and attempt starts of one batch in one call: finish_many's
-- part first, then start_attempt_many's, each over its own slice of KEYS and ARGV
-- and each exactly as its own script (both are defined as functions in front of
-- this one).
-- KEYS: the stats hash and the finished tasks' keys (ARGV[1] keys in all), then the
-- started tasks' keys. ARGV: that count, the number of finish_many's arguments
-- (ARGV[2]), finish_many's arguments, then start_attempt_many's.
-- Returns {finish_many's reply, start_attempt_many's reply}.
local function slice(list, from, to)
  local part = {}
  for i = from, to do part[#part + 1] = list[i] end
  return part
end
local finish_keys, finish_args = tonumber(ARGV[1]), tonumber(ARGV[2])
local finished, started = {}, {}
if finish_keys > 1 then
  finished = finish_many(slice(KEYS, 1, finish_keys), slice(ARGV, 3, finish_args + 2))
end
if #KEYS > finish_keys then
  started = start_attempt_many(slice(KEYS, finish_keys + 1, #KEYS),
    slice(ARGV, finish_args + 3, #ARGV))
end
return {finished, started}
