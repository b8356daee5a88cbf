-- Takes half (rounded up, as `lanes::lend`) of what a lane's allotment of a prize has
-- left, for a lane that ran dry. Taking comes first, so allotments never sum to more
-- than the stock; a crash before the borrower adds it loses stock, never oversells.
--
-- KEYS[1] the lending lane's awards hash; ARGV[1] the prize id.
local left = tonumber(redis.call('HGET', KEYS[1], 'allot:' .. ARGV[1]) or '0')
    - tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if left <= 0 then return 0 end
local give = math.floor((left + 1) / 2)
redis.call('HINCRBY', KEYS[1], 'allot:' .. ARGV[1], -give)
return give
