-- Admits each request's `n` tasks of its tenant, or says why not, in the order given,
-- so a later request sees what an earlier one of the same tenant took: first the
-- outstanding cap, then the rate (GCRA on Valkey's clock, so every gateway replica
-- shares one bucket). One call carries the admissions of many concurrent requests.
-- The cap counts the slots every gateway's unexpired lease reserves (lease.lua) on
-- top of the outstanding tasks, so no request takes a slot a lease holds.
-- KEYS: per tenant in the call, its rate key, outstanding key and lease hash.
-- ARGV: per request, the 1-based index of its tenant in KEYS' triples, n, rate
-- (tasks/s, 0 = off), burst, max outstanding (0 = off).
-- Returns {verdict, retry_after_us, remaining} per request, flattened; verdict is
-- 'ok', 'rate', 'too_big' (more than the burst, never fits) or 'outstanding'.
-- One reading of the clock for the whole call: the requests it carries arrive together.
-- Each tenant's keys are read once and its bucket written once at the end: under
-- load a call carries dozens of one tenant's requests, and the key commands, not the
-- arithmetic, are what a call costs Valkey.
local clock
local function clock_us()
  if not clock then
    local time = redis.call('TIME')
    clock = tonumber(time[1]) * 1000000 + tonumber(time[2])
  end
  return clock
end

local open, tat = {}, {}
-- Outstanding tasks plus the slots unexpired leases reserve.
local function outstanding_of(tenant)
  if not open[tenant] then
    local count = tonumber(redis.call('GET', KEYS[3 * tenant - 1]) or '0')
    local leases = redis.call('HGETALL', KEYS[3 * tenant])
    for i = 2, #leases, 2 do
      local slots, expiry = string.match(leases[i], '^(%d+):(%d+)$')
      if expiry and tonumber(expiry) > clock_us() then count = count + tonumber(slots) end
    end
    open[tenant] = count
  end
  return open[tenant]
end
local function tat_of(tenant)
  if not tat[tenant] then
    tat[tenant] = { at = tonumber(redis.call('GET', KEYS[3 * tenant - 2]) or '0'), taken = false }
  end
  return tat[tenant]
end

local function admit(tenant, n, rate, burst, max_outstanding)
  if max_outstanding > 0 and outstanding_of(tenant) + n > max_outstanding then
    return 'outstanding', '0', '0'
  end
  if rate == 0 then return 'ok', '0', '0' end
  local now = clock_us()
  local interval = 1000000 / rate
  local tolerance = interval * burst
  local bucket = tat_of(tenant)
  local at = bucket.at
  if at < now then at = now end
  local remaining = math.max(0, math.floor((tolerance - (at - now)) / interval))
  if n > burst then return 'too_big', '0', tostring(remaining) end
  local new_tat = at + n * interval
  local allow_at = new_tat - tolerance
  if allow_at > now then
    return 'rate', string.format('%d', math.ceil(allow_at - now)), tostring(remaining)
  end
  bucket.at, bucket.taken = new_tat, true
  return 'ok', '0', tostring(remaining - n)
end

local replies = {}
for at = 1, #ARGV, 5 do
  local verdict, retry_after, remaining = admit(tonumber(ARGV[at]), tonumber(ARGV[at + 1]),
    tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]))
  replies[#replies + 1] = verdict
  replies[#replies + 1] = retry_after
  replies[#replies + 1] = remaining
end
for tenant, bucket in pairs(tat) do
  if bucket.taken then
    local now = clock_us()
    redis.call('SET', KEYS[3 * tenant - 2], string.format('%d', bucket.at),
      'PX', math.ceil((bucket.at - now) / 1000) + 1)
  end
end
return replies
