-- Takes, renews or gives back one gateway's admission lease for a tenant: a block of
-- `want` admissions the gateway then grants from memory. The block takes `want`
-- tokens from the tenant's rate bucket (exactly as admitting `want` tasks would)
-- and reserves `want` outstanding slots in the tenant's lease hash, under the
-- gateway's id, until an expiry on this server's clock. `admit_many.lua` counts every
-- unexpired reservation, so no gateway can take a slot another holds.
-- A lease is granted only far from the limits: after taking it the bucket must still
-- hold `reserve` x `want` tokens and the outstanding headroom must still be
-- `reserve` x `want` slots; otherwise nothing is granted and every request of the
-- tenant is decided exactly by admit_many.lua.
-- The same call gives back what the gateway's previous lease left unused: its tokens
-- go back into the bucket (never beyond full) and its reservation is replaced.
-- KEYS: the tenant's rate key, outstanding key and lease hash.
-- ARGV: holder id, want, returned, rate (tasks/s, 0 = off), burst, max outstanding
-- (0 = off), duration (µs), reserve.
-- Returns the admissions granted (0 or want).
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local holder = ARGV[1]
local want, returned = tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, burst, max_outstanding = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local duration, reserve = tonumber(ARGV[7]), tonumber(ARGV[8])

-- This holder's previous reservation is replaced; expired ones are swept.
local reserved, latest = 0, 0
local fields = redis.call('HGETALL', KEYS[3])
for i = 1, #fields, 2 do
  local slots, expiry = string.match(fields[i + 1], '^(%d+):(%d+)$')
  slots, expiry = tonumber(slots), tonumber(expiry)
  if fields[i] == holder or not expiry or expiry <= now then
    redis.call('HDEL', KEYS[3], fields[i])
  else
    reserved = reserved + slots
    if expiry > latest then latest = expiry end
  end
end

local granted = want > 0
if granted and max_outstanding > 0 then
  local open = tonumber(redis.call('GET', KEYS[2]) or '0')
  granted = max_outstanding - open - reserved - want >= reserve * want
end

local at, new_at
if rate > 0 then
  local interval = 1000000 / rate
  local tolerance = interval * burst
  -- A bucket fuller than full is full: the returned tokens never push TAT before now.
  at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0') - returned * interval)
  new_at = at + want * interval
  granted = granted and (tolerance - (new_at - now)) / interval >= reserve * want
  if not granted then new_at = at end
  if granted or returned > 0 then
    redis.call('SET', KEYS[1], string.format('%d', new_at),
      'PX', math.ceil((new_at - now) / 1000) + 1)
  end
end

if not granted then return 0 end
if max_outstanding > 0 then
  local expiry = now + duration
  redis.call('HSET', KEYS[3], holder, string.format('%d:%d', want, expiry))
  redis.call('PEXPIRE', KEYS[3], math.ceil((math.max(latest, expiry) - now) / 1000) + 1)
end
return want
