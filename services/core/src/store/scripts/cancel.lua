-- Cancels a task that has not finished: status `cancelled` (final), its tenant's
-- outstanding count closed and the `cancelled` counter bumped, all at once, so an
-- outcome a worker writes afterwards finds a final record and changes nothing, and
-- a cancellation that comes after an outcome changes nothing either.
-- The record keeps no expiry: its message may still wait in the stream (for a
-- worker, a delayed start or a retry), and that delivery must find the record to be
-- acknowledged without running. The worker that lets go of the message sets it.
-- KEYS: the task key, the stats hash. ARGV: the asking tenant, now, the tenant of a
-- record that names none.
-- Returns {verdict, status before}, then the record's fields and values when
-- cancelled; verdict `cancelled`, `finished` (already final) or `missing` (no record,
-- or another tenant's: the same answer).
local record = redis.call('HMGET', KEYS[1], 'status', 'tenant')
local status, tenant = record[1], record[2] or ARGV[3]
if not status or tenant ~= ARGV[1] then return {'missing', ''} end
if TERMINAL[status] then return {'finished', status} end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'updated_at', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'cancelled', 1)
-- Records from before the count existed were never opened: never go below zero.
-- (INCRBY -1, not DECR: the gateway's Valkey user may send INCRBY.)
if redis.call('INCRBY', outstanding_key(tenant), -1) < 0 then
  redis.call('SET', outstanding_key(tenant), 0)
end
local reply = {'cancelled', status}
for _, value in ipairs(redis.call('HGETALL', KEYS[1])) do reply[#reply + 1] = value end
return reply
