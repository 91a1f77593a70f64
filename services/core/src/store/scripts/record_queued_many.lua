-- The gateway's `queued` records, written only where no worker got there first.
-- They do not expire: a task may wait in the queue for any length of time, and its
-- record must be there when it runs. Only a finished record expires (`finish_many`).
-- KEYS: task keys. ARGV: id, type, created_at for each key in order.
-- Returns how many records were written.
local written = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    local at = (i - 1) * 3 + 1
    redis.call('HSET', key, 'id', ARGV[at], 'type', ARGV[at + 1], 'status', 'queued',
      'attempts', 0, 'created_at', ARGV[at + 2], 'updated_at', ARGV[at + 2])
    written = written + 1
  end
end
return written
