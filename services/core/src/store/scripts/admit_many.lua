-- Admits each request's `n` tasks of its tenant, or says why not, in the order given,
-- so a later request sees what an earlier one of the same tenant took: first the
-- outstanding cap, then the rate (GCRA on Valkey's clock, so every gateway replica
-- shares one bucket). One call carries the admissions of many concurrent requests.
-- KEYS: per request, its tenant's rate key and outstanding key.
-- ARGV: per request, n, rate (tasks/s, 0 = off), burst, max outstanding (0 = off).
-- Returns {verdict, retry_after_us, remaining} per request, flattened; verdict is
-- 'ok', 'rate', 'too_big' (more than the burst, never fits) or 'outstanding'.
-- One reading of the clock for the whole call: the requests it carries arrive together.
local clock
local function clock_us()
  if not clock then
    local time = redis.call('TIME')
    clock = tonumber(time[1]) * 1000000 + tonumber(time[2])
  end
  return clock
end

local function admit(rate_key, outstanding_key, n, rate, burst, max_outstanding)
  if max_outstanding > 0 then
    local open = tonumber(redis.call('GET', outstanding_key) or '0')
    if open + n > max_outstanding then return 'outstanding', '0', '0' end
  end
  if rate == 0 then return 'ok', '0', '0' end
  local now = clock_us()
  local interval = 1000000 / rate
  local tolerance = interval * burst
  local tat = tonumber(redis.call('GET', rate_key) or '0')
  if tat < now then tat = now end
  local remaining = math.max(0, math.floor((tolerance - (tat - now)) / interval))
  if n > burst then return 'too_big', '0', tostring(remaining) end
  local new_tat = tat + n * interval
  local allow_at = new_tat - tolerance
  if allow_at > now then
    return 'rate', string.format('%d', math.ceil(allow_at - now)), tostring(remaining)
  end
  redis.call('SET', rate_key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
  return 'ok', '0', tostring(remaining - n)
end

local replies = {}
for i = 1, #KEYS / 2 do
  local at = (i - 1) * 4
  local verdict, retry_after, remaining = admit(KEYS[2 * i - 1], KEYS[2 * i],
    tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]))
  replies[#replies + 1] = verdict
  replies[#replies + 1] = retry_after
  replies[#replies + 1] = remaining
end
return replies
