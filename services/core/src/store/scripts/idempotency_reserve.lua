-- Reserves an idempotency key for a request in flight, or reports what holds it.
-- KEYS: the idempotency key. ARGV: the reservation value, its ttl_ms.
-- Returns nil when the key was free and is now reserved, else the stored value.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
