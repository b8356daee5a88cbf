-- Gives back a reserved daily scan that did not become a redemption (the code was
-- taken, or the same member's other request redeemed it first).
--
-- KEYS[1] the member's daily counter.
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
