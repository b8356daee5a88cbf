-- Takes up to ARGV[2] of what a lane's allotment of prize ARGV[1] has left (never
-- what it awarded); the caller then credits the bank. Taking first means a crash
-- between the two takes twice (stock unsold), never leaves stock the bank gave up.
--
-- KEYS[1] a lane's awards hash; ARGV[1] prize id, ARGV[2] most to take.
local left = tonumber(redis.call('HGET', KEYS[1], 'allot:' .. ARGV[1]) or '0')
    - tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local take = math.min(left, tonumber(ARGV[2]))
if take <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'allot:' .. ARGV[1], -take)
return take
