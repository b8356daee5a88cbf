-- A code lane's claim: once per code and role across every lane. `taken`: another
-- member has it; `mine`: this member claimed it before (a retry, or a scan cut off
-- before its member lane answered, which the member lane then completes).
--
-- KEYS[1] the code lane's redemption bitmap, KEYS[2] the claim's owner key;
-- ARGV[1] the bit, ARGV[2] the member, ARGV[3] the owner key's TTL in seconds.
if redis.call('GETBIT', KEYS[1], ARGV[1]) == 1 then
    if redis.call('GET', KEYS[2]) == ARGV[2] then return 'mine' end
    return 'taken'
end
redis.call('SETBIT', KEYS[1], ARGV[1], 1)
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 'claimed'
