-- Which of a worker's running tasks were cancelled meanwhile: the worker stops
-- them and lets go of their messages, so their records get their expiry here.
-- KEYS: task keys. ARGV: ttl_ms. Returns the 1-based positions of the cancelled ones.
local found = {}
for i, key in ipairs(KEYS) do
  local status = redis.call('HGET', key, 'status')
  if status == 'cancelled' then
    expire_if_cancelled(key, status, ARGV[1])
    found[#found + 1] = i
  end
end
return found
