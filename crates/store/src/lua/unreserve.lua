-- Gives back a reserved daily scan that did not become a redemption (the code was
-- taken, or the same member's other request redeemed it first).
--
-- KEYS[1] the member hash; ARGV[1] the day and role RESERVE counted.
local state = redis.call('HMGET', KEYS[1], 'day', 'today')
if state[1] == ARGV[1] and tonumber(state[2] or '0') > 0 then
    redis.call('HINCRBY', KEYS[1], 'today', -1)
end
return 0
