-- Accepts a new order in one atomic step: the record, its pending-index entry, the
-- idempotency key (when given) and the new-order message all happen, or none does.
--
-- KEYS[1] order hash   KEYS[2] pending sorted set   KEYS[3] idempotency key (optional)
-- ARGV[1] order id     ARGV[2] details              ARGV[3] accepted at (unix ms)
-- ARGV[4] channel ('' publishes nothing)    ARGV[5] message JSON         ARGV[6] idempotency TTL (s)
-- ARGV[7] key prefix (to find the order an idempotency key points at)
-- ARGV[8] W3C traceparent of the request (optional; '' or absent stores none), kept in the hash
--         so that the reconciler's re-publication joins the order's trace
--
-- Counts each new order in the hash `<prefix>stats`, field `accepted` (the order-flow metrics,
-- docs/observability.md).
--
-- Returns {1, id} for a new order, {0, id, status} for a repeated idempotency key, and
-- {-1, policy} when Redis may evict keys (maxmemory-policy `policy`, not `noeviction`): an
-- evicted order, pending entry or idempotency key would lose an acknowledged order, so none is
-- accepted. The policy is read from INFO, which managed Redis services allow where they disable
-- CONFIG; an INFO that fails (renamed or denied) fails the script, refusing the order too.
--
-- No script flags: over `maxmemory` Redis refuses the first write (HSET) with an OOM error, so
-- nothing is half-written and the caller answers 503.
local policy = string.match(redis.call('INFO', 'memory'), 'maxmemory_policy:([%w%-]+)')
if policy ~= 'noeviction' then
  return {-1, policy or 'unknown'}
end
if KEYS[3] then
  local existing = redis.call('GET', KEYS[3])
  -- A key whose order has expired (they expire together at the end of its retention, but not
  -- in the same instant) no longer names an order: the request makes a new one.
  if existing then
    local status = redis.call('HGET', ARGV[7] .. existing, 'status')
    if status then
      return {0, existing, status}
    end
  end
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'details', ARGV[2], 'status', 'created', 'created_at', ARGV[3])
if ARGV[8] and ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'traceparent', ARGV[8])
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if KEYS[3] then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[6])
  -- Fulfilment shortens the key's life to the order's retention, so that it never outlives the
  -- order, and then deletes this field.
  redis.call('HSET', KEYS[1], 'idempotency_key', KEYS[3])
end
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
redis.call('HINCRBY', ARGV[7] .. 'stats', 'accepted', 1)
return {1, ARGV[1]}
