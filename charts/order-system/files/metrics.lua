-- The order-flow metrics, read from where the truth lives: redis_exporter runs this script on
-- every scrape (`--script`) and exports each name/value pair it returns as
-- `redis_script_values{key="<name>"}`; the scrape's metric relabelling turns `<name>` into the
-- metric name, and a `:<k>` suffix into the label `shard="<k>"` (docs/observability.md, Metrics).
-- The same file runs in the chart's redis_exporter, under `cargo xtask up --metrics`, and in the
-- tests.
--
-- Placeholders, replaced literally before use (redis_exporter passes no KEYS or ARGV):
--     {prefix}  the key prefix (`key_prefix`)     {channel}  the new-orders channel (`order_channel`)
--     {shards}  the fulfilment shards N (`order_shards`, 1..64)
-- They stand inside Lua long strings, so any prefix or channel Redis accepts works.
--
-- It only reads: O(1) per metric, except the per-shard figures, which walk the oldest
-- SHARD_SCAN_LIMIT pending orders (at most a few milliseconds of Redis time per scrape).
local prefix = [==[{prefix}]==]
local channel = [==[{channel}]==]
local shards = tonumber([==[{shards}]==])
if not shards or shards < 1 or shards > 64 or shards % 1 ~= 0 then
  return redis.error_reply('metrics.lua: the fulfilment shards must be a whole number from 1 to 64')
end
-- Above this many pending orders, the per-shard figures describe the oldest ones only.
local SHARD_SCAN_LIMIT = 100000

local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local pending_key = prefix .. 'pending'
local out = {}
local function metric(name, value)
  table.insert(out, name)
  -- Integers as integers: tostring(1e15) would print an exponent.
  table.insert(out, string.format('%.0f', value))
end
local function age_seconds(score_ms)
  return math.max(0, now_ms - tonumber(score_ms)) / 1000
end

-- The pending index: every accepted order not yet fulfilled, scored by acceptance time (ms).
metric('order_system_orders_pending', redis.call('ZCARD', pending_key))
local oldest = redis.call('ZRANGE', pending_key, 0, 0, 'WITHSCORES')
table.insert(out, 'order_system_oldest_pending_order_age_seconds')
table.insert(out, string.format('%.3f', oldest[2] and age_seconds(oldest[2]) or 0))

-- Per shard: the rule of order-model's `shard` module and reconcile.lua (the first 8 hex digits
-- of the id, mod N). The walk goes oldest first, so a shard's first entry is its oldest.
local counts, oldest_ms = {}, {}
for k = 0, shards - 1 do
  counts[k] = 0
end
local walked = redis.call('ZRANGE', pending_key, 0, SHARD_SCAN_LIMIT - 1, 'WITHSCORES')
for i = 1, #walked, 2 do
  local k = 0
  if shards > 1 then
    k = (tonumber(string.sub(walked[i], 1, 8), 16) or 0) % shards
  end
  counts[k] = counts[k] + 1
  if not oldest_ms[k] then
    oldest_ms[k] = walked[i + 1]
  end
end
for k = 0, shards - 1 do
  metric('order_system_shard_orders_pending:' .. k, counts[k])
  table.insert(out, 'order_system_shard_oldest_pending_order_age_seconds:' .. k)
  table.insert(out, string.format('%.3f', oldest_ms[k] and age_seconds(oldest_ms[k]) or 0))
  -- Subscribers of the shard's channel: the fulfilment-processors listening; 0 means none is.
  local shard_channel = channel
  if shards > 1 then
    shard_channel = channel .. '.' .. k
  end
  metric('order_system_channel_subscribers:' .. k, redis.call('PUBSUB', 'NUMSUB', shard_channel)[2])
end

-- Counters the accept, fulfil and reconcile scripts keep in the same atomic step as their work.
local counters = redis.call('HMGET', prefix .. 'stats', 'accepted', 'fulfilled', 'republished')
metric('order_system_orders_accepted_total', tonumber(counters[1]) or 0)
metric('order_system_orders_fulfilled_total', tonumber(counters[2]) or 0)
metric('order_system_orders_republished_total', tonumber(counters[3]) or 0)

-- 1 while Redis will not evict keys (maxmemory-policy noeviction), which the apps require.
local policy = string.match(redis.call('INFO', 'memory'), 'maxmemory_policy:([%w%-]+)')
metric('order_system_redis_noeviction', policy == 'noeviction' and 1 or 0)
return out
