-- An attempt cut short by a graceful shutdown did not really happen: give it back.
-- KEYS: the task key. Returns 1 if an attempt was given back, else 0.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
end
return 1
