-- Records a campaign revision's stock of a prize in the bank (lane 0's awards hash),
-- once per revision and never for an older one (a gateway still on it must not undo
-- a change): the difference to the stock last recorded is added to `owed:<id>`,
-- what the lanes' allotments still have to receive (or, negative, give up). Returns
-- `owed` after it, or `{"unbanked"}` for a bank written by the per-lane `share:`
-- scheme before it, when ARGV[4] (the stock that scheme allotted) is not given.
--
-- KEYS[1] lane 0's awards hash; ARGV[1] prize id, ARGV[2] revision, ARGV[3] stock,
-- ARGV[4] the stock the per-lane scheme allotted, or "".
local id, revision = ARGV[1], tonumber(ARGV[2])
if tonumber(redis.call('HGET', KEYS[1], 'bankrev:' .. id) or '-1') < revision then
    local applied = redis.call('HGET', KEYS[1], 'bank:' .. id)
    if not applied then
        if ARGV[4] == '' and redis.call('HEXISTS', KEYS[1], 'share:' .. id) == 1 then
            return {'unbanked'}
        end
        applied = ARGV[4] ~= '' and ARGV[4] or '0'
    end
    redis.call('HINCRBY', KEYS[1], 'owed:' .. id, tonumber(ARGV[3]) - tonumber(applied))
    redis.call('HSET', KEYS[1], 'bank:' .. id, ARGV[3], 'bankrev:' .. id, revision)
end
return {'owed', tonumber(redis.call('HGET', KEYS[1], 'owed:' .. id) or '0')}
