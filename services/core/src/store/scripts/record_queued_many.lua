-- The gateway's `queued` records, written only where no worker got there first.
-- KEYS: task keys. ARGV: ttl_ms, then id, type, created_at for each key in order.
-- Returns how many records were written.
local written = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    local at = (i - 1) * 3 + 2
    redis.call('HSET', key, 'id', ARGV[at], 'type', ARGV[at + 1], 'status', 'queued',
      'attempts', 0, 'created_at', ARGV[at + 2], 'updated_at', ARGV[at + 2])
    redis.call('PEXPIRE', key, ARGV[1])
    written = written + 1
  end
end
return written
