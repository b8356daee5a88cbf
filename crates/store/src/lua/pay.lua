-- Pays out up to ARGV[2] of what the bank owes the lanes of prize ARGV[1]; the
-- caller adds it to one lane's allotment after. Paying first means a crash between
-- the two loses stock, never adds it twice.
--
-- KEYS[1] lane 0's awards hash (the bank); ARGV[1] prize id, ARGV[2] most to pay.
local owed = tonumber(redis.call('HGET', KEYS[1], 'owed:' .. ARGV[1]) or '0')
local give = math.min(owed, tonumber(ARGV[2]))
if give <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'owed:' .. ARGV[1], -give)
return give
