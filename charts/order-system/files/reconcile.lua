#!lua flags=allow-oom
-- Re-publishes orders that were accepted but not fulfilled within a threshold, so an order whose
-- message was lost (pub/sub is at-most-once: the fulfiller was down, restarting or slow to
-- subscribe) is fulfilled all the same. The fulfiller is idempotent, so a re-published order that
-- was only slow is fulfilled once. This one file is run by the chart's CronJob (redis-cli --eval),
-- by `cargo xtask up` on an interval, and by the tests.
--
-- KEYS[1]  the pending sorted set (`{prefix}pending`, scored by acceptance time in ms)
-- ARGV[1]  the new-orders channel
-- ARGV[2]  the key prefix (`order:`)
-- ARGV[3]  the minimum age in ms of an order to re-publish
-- ARGV[4]  the most orders to re-publish in one run
-- ARGV[5]  the fulfilment shards N (optional, default 1): an order goes to ARGV[1] when N is 1,
--          else to `ARGV[1].k`, k = its id's first 8 hex digits as an integer mod N — the same
--          rule as order-model's `shard` module (the store tests pin that both agree). Always
--          the *current* N, so orders published under another N reach a running fulfiller.
--
-- The message is the receiver's: {id, details, status = 'created'}, plus `traceparent` when the
-- order's hash has one (stored at acceptance from the request's W3C trace context), so the
-- re-published order joins its original trace; orders stored without one are re-published
-- without it.
--
-- Returns {re-published, dropped}: dropped are index entries whose order is gone or fulfilled.
-- Counts the re-published orders in the hash `<prefix>stats`, field `republished` (the
-- order-flow metrics, docs/observability.md).
-- Fails (an error reply, so the run fails) without writing when Redis may evict keys: its
-- maxmemory-policy, read from INFO (managed Redis services disable CONFIG), is not `noeviction`.
-- `allow-oom` (Redis >= 7.0): it runs over `maxmemory` too, so accepted orders keep reaching
-- the fulfiller while new ones are refused.
local policy = string.match(redis.call('INFO', 'memory'), 'maxmemory_policy:([%w%-]+)')
if policy ~= 'noeviction' then
  return redis.error_reply("Redis' maxmemory-policy is " .. tostring(policy) ..
    ": order-system needs noeviction (an evicting Redis loses accepted orders); nothing was re-published")
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cutoff = now_ms - tonumber(ARGV[3])
local shards = tonumber(ARGV[5] or '1')
if not shards or shards < 1 or shards % 1 ~= 0 then
  return redis.error_reply('shards (ARGV[5]) must be a whole number of at least 1, not ' .. tostring(ARGV[5]))
end
local function shard_channel(id)
  if shards == 1 then
    return ARGV[1]
  end
  local head = tonumber(string.sub(id, 1, 8), 16) or 0
  return ARGV[1] .. '.' .. string.format('%d', head % shards)
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[4]))
local republished, dropped = 0, 0
for _, id in ipairs(ids) do
  local order = redis.call('HMGET', ARGV[2] .. id, 'details', 'status', 'traceparent')
  if order[2] == 'created' then
    local message = {id = id, details = order[1], status = 'created'}
    -- A missing field comes back as false: leave the member out rather than write `false`.
    if type(order[3]) == 'string' and order[3] ~= '' then
      message.traceparent = order[3]
    end
    redis.call('PUBLISH', shard_channel(id), cjson.encode(message))
    republished = republished + 1
  else
    redis.call('ZREM', KEYS[1], id)
    dropped = dropped + 1
  end
end
if republished > 0 then
  redis.call('HINCRBY', ARGV[2] .. 'stats', 'republished', republished)
end
return {republished, dropped}
