-- A code lane's claim: once per code and role across every lane. `taken`: another
-- member has it; `mine`: this member claimed it before (a retry, or a scan cut off
-- before its member lane answered, which the member lane then completes);
-- `forgotten`: claimed, but settlement has let the owner go (grace over): the caller
-- asks Postgres whose it was.
--
-- KEYS[1] the code lane's redemption bitmap, KEYS[2] the claim's owner key;
-- ARGV[1] the bit, ARGV[2] the member. The owner key has no TTL: settlement gives it
-- one, before the member lane's stored answer (see settle crate).
if redis.call('SETBIT', KEYS[1], ARGV[1], 1) == 1 then
    local owner = redis.call('GET', KEYS[2])
    if owner == ARGV[2] then return 'mine' end
    if not owner then return 'forgotten' end
    return 'taken'
end
redis.call('SET', KEYS[2], ARGV[2])
return 'claimed'
