-- Reserves an idempotency key for a request in flight, resumes one whose holder can
-- no longer be publishing, or reports what holds it.
-- KEYS: the idempotency key.
-- ARGV: body hash, task id, created_at (for a fresh reservation), in-flight ms,
--       lifetime ms.
-- Returns nil when the key was free and is now reserved with the given task;
-- `R|<task id>|<created_at>` when an earlier reservation for the same body is
-- resumed (its task, whose publish outcome is unknown, must be published again
-- under the same id); else the stored value.
-- Reserved value: `P|<body hash>|<holder deadline ms>|<task id>|<created_at>`; the
-- deadline is in Valkey's clock, so gateways' clocks never matter.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function held(id, created)
  return 'P|' .. ARGV[1] .. '|' .. (now + tonumber(ARGV[4])) .. '|' .. id .. '|' .. created
end
local existing = redis.call('GET', KEYS[1])
if not existing then
  redis.call('SET', KEYS[1], held(ARGV[2], ARGV[3]), 'PX', ARGV[5])
  return false
end
local hash, deadline, id, created = string.match(existing, '^P|([^|]*)|(%d+)|([^|]*)|(.*)$')
if hash == ARGV[1] and tonumber(deadline) <= now then
  redis.call('SET', KEYS[1], held(id, created), 'KEEPTTL')
  return 'R|' .. id .. '|' .. created
end
return existing
