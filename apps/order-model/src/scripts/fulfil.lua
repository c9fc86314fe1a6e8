-- Fulfils an order in one atomic step: only `created` becomes `fulfilled`, and the order leaves
-- the pending index in the same step. Repeats and unknown ids change nothing.
--
-- KEYS[1] order hash   KEYS[2] pending sorted set
-- ARGV[1] order id     ARGV[2] fulfilled at (unix ms)
--
-- Returns 1 when fulfilled now, 0 when it already was, -1 when there is no such order.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return -1
end
if status ~= 'created' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'fulfilled', 'fulfilled_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
