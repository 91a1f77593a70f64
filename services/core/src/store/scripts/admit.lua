-- Admits `n` tasks of one tenant, or says why not: first the outstanding cap, then
-- the rate (GCRA on Valkey's clock, so every gateway replica shares one bucket).
-- KEYS: the tenant's rate key, its outstanding key. ARGV: n, rate (tasks/s, 0 = off),
-- burst, max outstanding (0 = off).
-- Returns {verdict, retry_after_us, remaining}; verdict is 'ok', 'rate', 'too_big'
-- (more than the burst, never fits) or 'outstanding'.
local n, rate, burst, max_outstanding =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if max_outstanding > 0 then
  local open = tonumber(redis.call('GET', KEYS[2]) or '0')
  if open + n > max_outstanding then return {'outstanding', '0', '0'} end
end
if rate == 0 then return {'ok', '0', '0'} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = 1000000 / rate
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local remaining = math.max(0, math.floor((tolerance - (tat - now)) / interval))
if n > burst then return {'too_big', '0', tostring(remaining)} end
local new_tat = tat + n * interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return {'rate', string.format('%d', math.ceil(allow_at - now)), tostring(remaining)}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {'ok', '0', tostring(remaining - n)}
