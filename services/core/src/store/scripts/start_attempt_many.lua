-- Counts the start of an attempt and marks the task running, unless it is finished
-- or its attempts are used up. A record created here (the gateway's write was lost)
-- opens one outstanding task for its tenant, as the gateway's would have. A running
-- record does not expire (its task can be delivered again at any time); `PERSIST`
-- also clears a TTL an older record got.
-- A cancelled task is not started: its message is let go of, so its record, which
-- waited without an expiry, gets one.
-- KEYS: task keys. ARGV: now, ttl_ms, then id, type, created_at, tenant, max_attempts
-- and a `late` flag for each key in order. `late` = 1 marks a redelivery of a message
-- older than the records' ttl: when its record is gone, the task finished and the
-- record expired, so nothing is written and `expired` is returned.
-- Returns status, attempts and last error for each key, flattened.
local now, ttl = ARGV[1], ARGV[2]
local replies = {}
for i, key in ipairs(KEYS) do
  local at = (i - 1) * 6 + 3
  local record = redis.call('HMGET', key, 'status', 'attempts', 'error')
  local status, made, last_error = record[1], tonumber(record[2] or '0'), record[3] or ''
  if TERMINAL[status] then
    expire_if_cancelled(key, status, ttl)
    replies[#replies + 1] = status
    replies[#replies + 1] = tostring(made)
    replies[#replies + 1] = ''
  elseif not status and ARGV[at + 5] == '1' then
    replies[#replies + 1] = 'expired'
    replies[#replies + 1] = '0'
    replies[#replies + 1] = ''
  elseif made >= tonumber(ARGV[at + 4]) then
    replies[#replies + 1] = 'exhausted'
    replies[#replies + 1] = tostring(made)
    replies[#replies + 1] = last_error
  else
    if status then
      redis.call('HSET', key, 'status', 'running', 'attempts', made + 1, 'updated_at', now)
    else
      redis.call('HSET', key, 'id', ARGV[at], 'type', ARGV[at + 1], 'created_at', ARGV[at + 2],
        'tenant', ARGV[at + 3], 'status', 'running', 'attempts', made + 1, 'updated_at', now)
      redis.call('INCR', outstanding_key(ARGV[at + 3]))
    end
    redis.call('PERSIST', key)
    replies[#replies + 1] = 'running'
    replies[#replies + 1] = tostring(made + 1)
    replies[#replies + 1] = last_error
  end
end
return replies
