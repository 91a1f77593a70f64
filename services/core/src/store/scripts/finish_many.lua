-- Writes outcomes and bumps the counters, once per task however often delivered. A
-- task that was outstanding (queued or running) stops being so for its tenant; one
-- whose record is created finished here was never counted as outstanding. A final
-- record (a cancelled task among them) is left alone.
-- KEYS: the stats hash, then task keys. ARGV: now, ttl_ms, then status, result
-- ('' = none), error ('' = none), id, type, created_at, tenant, attempts for each
-- task key in order. `attempts` (the attempts the finishing worker knows of) raises
-- the record's count, never lowers it: an attempt start lost with a failed-over
-- primary (attempt starts are not confirmed by a replica) leaves no finished task at 0.
-- Returns 1 for each task whose outcome this wrote, 0 for one that already had one.
local now, ttl = ARGV[1], ARGV[2]
local written, counts, closed = {}, {}, {}
for i = 2, #KEYS do
  local key, at = KEYS[i], (i - 2) * 8 + 3
  local record = redis.call('HMGET', key, 'status', 'tenant', 'attempts')
  local status = record[1]
  if TERMINAL[status] then
    -- A cancelled task's message is let go of now: its record may expire.
    expire_if_cancelled(key, status, ttl)
    written[#written + 1] = 0
  else
    local fields = {'status', ARGV[at], 'updated_at', now}
    if ARGV[at + 1] ~= '' then fields[#fields + 1] = 'result'; fields[#fields + 1] = ARGV[at + 1] end
    if ARGV[at + 2] ~= '' then fields[#fields + 1] = 'error'; fields[#fields + 1] = ARGV[at + 2] end
    if status then
      -- The record's own tenant, not the message's: it is what opened the count.
      local tenant = record[2] or ARGV[at + 6]
      closed[tenant] = (closed[tenant] or 0) + 1
      if tonumber(record[3] or '0') < tonumber(ARGV[at + 7]) then
        fields[#fields + 1] = 'attempts'
        fields[#fields + 1] = ARGV[at + 7]
      end
    else
      for _, field in ipairs({'id', ARGV[at + 3], 'type', ARGV[at + 4],
          'created_at', ARGV[at + 5], 'tenant', ARGV[at + 6], 'attempts', ARGV[at + 7]}) do
        fields[#fields + 1] = field
      end
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('PEXPIRE', key, ttl)
    counts[ARGV[at]] = (counts[ARGV[at]] or 0) + 1
    written[#written + 1] = 1
  end
end
local processed = 0
for status, n in pairs(counts) do
  redis.call('HINCRBY', KEYS[1], status, n)
  processed = processed + n
end
if processed > 0 then redis.call('HINCRBY', KEYS[1], 'processed', processed) end
for tenant, n in pairs(closed) do
  -- Records from before the count existed were never opened: never go below zero.
  if redis.call('DECRBY', outstanding_key(tenant), n) < 0 then
    redis.call('SET', outstanding_key(tenant), 0)
  end
end
return written
