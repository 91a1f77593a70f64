-- Lets go of a reservation that is still this request's own: deletes it (`release`:
-- nothing was published) or ends its holder deadline at once (`abandon`: the publish
-- outcome is unknown, so the next retry resumes it with the same task id). A key
-- already answered, or held for another body or task, is left alone.
-- KEYS: the idempotency key. ARGV: body hash, task id, `release` or `abandon`.
local existing = redis.call('GET', KEYS[1])
if not existing then return 0 end
local hash, id, created = string.match(existing, '^P|([^|]*)|%d+|([^|]*)|(.*)$')
if hash ~= ARGV[1] or id ~= ARGV[2] then return 0 end
if ARGV[3] == 'release' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], 'P|' .. hash .. '|0|' .. id .. '|' .. created, 'KEEPTTL')
end
return 1
