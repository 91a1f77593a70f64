-- Links a dead task to the task that re-drives it, both ways, once. The dead record
-- keeps its status and the counters stay as they are; it gains `redriven_to` and
-- lives another ttl from now, so the link is there while the new task runs. The new
-- record gains `redriven_from` when it exists (its `queued` write may have failed;
-- the worker then creates it without the link).
-- KEYS: the dead task's record, the new task's record. ARGV: dead id, new id, ttl_ms.
-- Returns {'linked', new id}, {'taken', the id it was re-driven to before}, or
-- {'not-dead', status} ('' when there is no record).
local record = redis.call('HMGET', KEYS[1], 'status', 'redriven_to')
if record[1] ~= 'dead' then return {'not-dead', record[1] or ''} end
if record[2] and record[2] ~= ARGV[2] then return {'taken', record[2]} end
redis.call('HSET', KEYS[1], 'redriven_to', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'redriven_from', ARGV[1])
end
return {'linked', ARGV[2]}
