-- The gateway's `queued` records, written only where no worker got there first; each
-- record written opens one outstanding task for its tenant.
-- They do not expire: a task may wait in the queue for any length of time, and its
-- record must be there when it runs. Only a finished record expires (`finish_many`).
-- KEYS: task keys. ARGV: id, type, created_at, tenant, run_at ('' = not delayed) for
-- each key in order.
-- Returns how many records were written.
local written, opened = 0, {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    local at = (i - 1) * 5 + 1
    local tenant = ARGV[at + 3]
    redis.call('HSET', key, 'id', ARGV[at], 'type', ARGV[at + 1], 'tenant', tenant,
      'status', 'queued', 'attempts', 0, 'created_at', ARGV[at + 2], 'updated_at', ARGV[at + 2])
    if ARGV[at + 4] ~= '' then redis.call('HSET', key, 'run_at', ARGV[at + 4]) end
    opened[tenant] = (opened[tenant] or 0) + 1
    written = written + 1
  end
end
for tenant, n in pairs(opened) do redis.call('INCRBY', outstanding_key(tenant), n) end
return written
