-- Remembers why an attempt failed, unless the task already has an outcome. The task
-- is retried, so its record keeps no expiry.
-- KEYS: the task key. ARGV: error, now. Returns 1 if written, else 0.
local status = redis.call('HGET', KEYS[1], 'status')
if TERMINAL[status] then return 0 end
redis.call('HSET', KEYS[1], 'error', ARGV[1], 'updated_at', ARGV[2])
redis.call('PERSIST', KEYS[1])
return 1
