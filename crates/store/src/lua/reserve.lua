-- First step of a laned scan, in the member's lane: a finished scan of this code by
-- this member is a retry (`{"retry", stored}`), by a member of the same lane `taken`;
-- a member at the daily limit is refused (`{"daily_limit", points, growth}`) before
-- the code is touched; otherwise the scan is counted against the limit now
-- (`reserved`), so the claim that follows always becomes a redemption.
--
-- KEYS[1] the code's stored answer, KEYS[2] the member hash (its `day` and `today`
-- fields are the daily counter, as in scan.lua);
-- ARGV[1] the member, ARGV[2] the daily scan limit, ARGV[3] the day and role counted.
local stored = redis.call('GET', KEYS[1])
if stored then
    local split = string.find(stored, '\n', 1, true)
    if split and string.sub(stored, 1, split - 1) == ARGV[1] then
        return {'retry', string.sub(stored, split + 1)}
    end
    return {'taken'}
end
local state = redis.call('HMGET', KEYS[2], 'points', 'growth', 'day', 'today')
local today = 0
if state[3] == ARGV[3] then today = tonumber(state[4] or '0') end
if today >= tonumber(ARGV[2]) then
    return {'daily_limit', tonumber(state[1] or '0'), tonumber(state[2] or '0')}
end
redis.call('HSET', KEYS[2], 'day', ARGV[3], 'today', today + 1)
return {'reserved'}
