#!lua flags=allow-oom
-- Fulfils an order in one atomic step: only `created` becomes `fulfilled`, the order leaves the
-- pending index, and it (with its idempotency key) expires after the retention period — all in
-- the same step. Repeats and unknown ids change nothing.
--
-- The hash's `idempotency_key` field (written by accept.lua) exists only so that this step can cap
-- the key's life at the retention; once it has, nothing reads the field, so the same step deletes
-- it (HDEL) rather than keep ~90 bytes per order for the whole retention.
--
-- `allow-oom` (Redis >= 7.0): Redis runs this script even when it is over `maxmemory`, where it
-- refuses new orders. Fulfilling adds a field and an expiry but drops the pending entry (and the
-- `idempotency_key` field), and the expiry is what frees memory later: without the flag a full
-- Redis could never drain.
--
-- KEYS[1] order hash   KEYS[2] pending sorted set   KEYS[3] counters hash (`<prefix>stats`:
--         field `fulfilled` counts the orders fulfilled, for the order-flow metrics)
-- ARGV[1] order id     ARGV[2] fulfilled at (unix ms)   ARGV[3] retention (ms, at least 1)
--
-- Returns 1 when fulfilled now, 0 when it already was, -1 when there is no such order, and
-- {-2, policy} when Redis may evict keys (see accept.lua): nothing is written then.
local policy = string.match(redis.call('INFO', 'memory'), 'maxmemory_policy:([%w%-]+)')
if policy ~= 'noeviction' then
  return {-2, policy or 'unknown'}
end
local order = redis.call('HMGET', KEYS[1], 'status', 'idempotency_key')
local status = order[1]
if not status then
  return -1
end
if status ~= 'created' then
  return 0
end
local retention = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'fulfilled', 'fulfilled_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], retention)
local idempotency_key = order[2]
if idempotency_key then
  local left = redis.call('PTTL', idempotency_key)
  if left == -1 or left > retention then
    redis.call('PEXPIRE', idempotency_key, retention)
  end
  redis.call('HDEL', KEYS[1], 'idempotency_key')
end
redis.call('HINCRBY', KEYS[3], 'fulfilled', 1)
return 1
