-- Gives up the allotment lease if this process still holds it.
--
-- KEYS[1] the allotment lease; ARGV[1] this attempt's token.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0
