-- First step of a laned scan, in the member's lane: a finished scan of this code by
-- this member is a retry (`{"retry", body}`), by a member of the same lane `taken`;
-- a member at the daily limit is refused (`{"daily_limit", points, growth}`) before
-- the code is touched; otherwise the scan is counted against the limit now
-- (`reserved`), so the claim that follows always becomes a redemption.
--
-- KEYS[1] the code's stored answer, KEYS[2] the member's daily counter, KEYS[3] the member hash;
-- ARGV[1] the member, ARGV[2] the daily scan limit.
local stored = redis.call('GET', KEYS[1])
if stored then
    local split = string.find(stored, '\n', 1, true)
    if split and string.sub(stored, 1, split - 1) == ARGV[1] then
        return {'retry', string.sub(stored, split + 1)}
    end
    return {'taken'}
end
local today = tonumber(redis.call('GET', KEYS[2]) or '0')
if today >= tonumber(ARGV[2]) then
    local state = redis.call('HMGET', KEYS[3], 'points', 'growth')
    return {'daily_limit', tonumber(state[1] or '0'), tonumber(state[2] or '0')}
end
if today == 0 then redis.call('SET', KEYS[2], 1, 'EX', 172800) else redis.call('INCR', KEYS[2]) end
return {'reserved'}
