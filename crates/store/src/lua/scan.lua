-- One scan, atomically: redeem the code for a role, enforce the member's daily limit,
-- award the drawn prize if stock allows, credit points and growth, remember the answer
-- for retries and append the settlement event. All keys share one hash tag.
--
-- KEYS[1] redemption bitmap of (batch, role)      bit = serial
-- KEYS[2] stored answer of (batch, serial, role)  member .. '\n' .. answer (answer.rs);
--         no TTL: settlement gives it `redis.answer_grace_seconds` (settle crate)
-- KEYS[3] member state                             hash {points, growth, scans, day, today}
-- KEYS[4] prizes awarded, all time                 hash prize -> count
-- KEYS[5] prizes awarded today                     hash prize -> count
-- KEYS[6] campaign counters                        hash {scans, wins, diverted, region:R}
-- KEYS[7] settlement stream
--
-- Leaderboards are not here: settlement counts each settled scan on them (board.lua),
-- so a scan costs none of their sorted-set updates.
-- ARGV[1]  serial                  ARGV[2]  member
-- ARGV[3]  the day and role the daily limit counts ("2026-12-03:consumer")
-- ARGV[4]  daily scan limit        ARGV[5]  points per scan
-- ARGV[6]  growth per scan
-- ARGV[7]  number of levels L
-- ARGV[8..7+L]    each level's minimum growth
-- ARGV[8+L..7+2L] per level, the candidate its draw number drew (the gateway drew;
--          0 = nothing). Below, O = 7 + 2L:
-- ARGV[O+1] the candidate given when the drawn one is unavailable (0 = none)
-- ARGV[O+2] the candidate paid as the SKU's rebate instead of a draw (0 = draw)
-- ARGV[O+3] the event as the gateway knows it before the script runs (a JSON object)
-- ARGV[O+4] 1 if the scanner's region differs from the batch's (anti-diversion)
-- ARGV[O+5] the scan's region (the scanner's, else the batch's; "" for none)
-- ARGV[O+6] lanes: "" for a one-lane campaign; else this call runs in the member's lane
--          after RESERVE counted the scan against the daily limit and CLAIM took the
--          code in its lane (both in scan.rs): the stored answer, not the bitmap, tells
--          a retry, the daily limit is neither checked nor counted again, and each
--          prize is also limited by the lane's allotment (field "allot:<id>" of KEYS[4]).
--          "1": a drawn prize the allotment lacks is answered {"dry", prize id} with
--          nothing written, so the caller can borrow stock and call again; "0": it is
--          treated as out of stock.
-- ARGV[O+7] number of candidates C: the prizes this scan can award (drawn at some
--          level, the fallback, the rebate), so the call carries only those
-- ARGV[O+8..O+7+5C] per candidate: id, available now, daily cap (-1 = none), kind, value
--
-- Lists are arguments of their own, not strings to split: string.gmatch and long
-- concatenations were a third of the script's own (non-command) time.
--
-- Returns {"new", answer}, {"retry", stored}, {"already_redeemed"|"daily_limit"|
-- "forgotten", points, growth} or {"dry", prize id}. "forgotten": redeemed, but the
-- answer is gone (settled, grace over): the caller asks Postgres whose it was. Nothing
-- is written unless the answer is "new".
--
-- Written for the cost per call (a scan is this script, nothing else): the member hash
-- (with the daily counter) is read once and written once, the redemption bit is tested
-- and set by one SETBIT, a key's TTL is set only when the key is made, and the answer
-- and the event's tail are a few values joined by spaces.

local serial = tonumber(ARGV[1])
local member = ARGV[2]
local levels = tonumber(ARGV[7])
local o = 7 + 2 * levels
local lanes = ARGV[o + 6]
local laned = lanes ~= ''

local state = redis.call('HMGET', KEYS[3], 'points', 'growth', 'scans', 'day', 'today')
local points = tonumber(state[1] or '0')
local growth = tonumber(state[2] or '0')
local scans = tonumber(state[3] or '0')
local today = 0
if state[4] == ARGV[3] then today = tonumber(state[5] or '0') end

-- The code is redeemed: this member's own answer again, someone else's code, or an
-- answer settlement has let go (`stored` is nil).
local function recalled(stored)
    if not stored then return {'forgotten', points, growth} end
    local split = string.find(stored, '\n', 1, true)
    if split and string.sub(stored, 1, split - 1) == member then
        return {'retry', string.sub(stored, split + 1)}
    end
    return {'already_redeemed', points, growth}
end

if laned then
    local stored = redis.call('GET', KEYS[2])
    if stored then return recalled(stored) end
elseif today >= tonumber(ARGV[4]) then
    -- At the limit a retry of one's own scan still gets its answer.
    if redis.call('GETBIT', KEYS[1], serial) == 1 then return recalled(redis.call('GET', KEYS[2])) end
    return {'daily_limit', points, growth}
elseif redis.call('SETBIT', KEYS[1], serial, 1) == 1 then
    return recalled(redis.call('GET', KEYS[2]))
end

local function level_of(g)
    local level = 1
    for i = 2, levels do
        if g >= tonumber(ARGV[7 + i]) then level = i else break end
    end
    return level
end
local level = level_of(growth)

local rebate = tonumber(ARGV[o + 2])
local drawn = rebate
if rebate == 0 then drawn = tonumber(ARGV[7 + levels + level]) end

local function field(candidate, offset) return ARGV[o + 7 + (candidate - 1) * 5 + offset] end
local dry = nil
local function available(candidate)
    if candidate == 0 then return false end
    local id = field(candidate, 1)
    local awarded, allotted
    if laned then
        local counts = redis.call('HMGET', KEYS[4], id, 'allot:' .. id)
        awarded, allotted = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
    else
        awarded = tonumber(redis.call('HGET', KEYS[4], id) or '0')
    end
    if awarded >= tonumber(field(candidate, 2)) then return false end
    if laned and awarded >= allotted then
        if lanes == '1' and not dry then dry = id end
        return false
    end
    local cap = tonumber(field(candidate, 3))
    return cap < 0 or tonumber(redis.call('HGET', KEYS[5], id) or '0') < cap
end

local awarded = 0
if drawn > 0 then
    if available(drawn) then
        awarded = drawn
    elseif dry then
        -- Out of this lane's allotment only: borrow before giving a replacement.
        return {'dry', dry}
    else
        local fallback = tonumber(ARGV[o + 1])
        if fallback ~= drawn and available(fallback) then awarded = fallback end
        if awarded == 0 and dry then return {'dry', dry} end
    end
end

local points_awarded = tonumber(ARGV[5])
local prize, kind, value = '', '', '0'
if awarded > 0 then
    prize, kind, value = field(awarded, 1), field(awarded, 4), field(awarded, 5)
    redis.call('HINCRBY', KEYS[4], prize, 1)
    if redis.call('HINCRBY', KEYS[5], prize, 1) == 1 then redis.call('EXPIRE', KEYS[5], 172800) end
    redis.call('HINCRBY', KEYS[6], 'wins', 1)
    if kind == 'points' then points_awarded = points_awarded + tonumber(value) end
end

points = points + points_awarded
growth = growth + tonumber(ARGV[6])
if laned then
    -- Counted by RESERVE.
    redis.call('HSET', KEYS[3], 'points', points, 'growth', growth, 'scans', scans + 1)
else
    redis.call('HSET', KEYS[3], 'points', points, 'growth', growth, 'scans', scans + 1,
        'day', ARGV[3], 'today', today + 1)
end
redis.call('HINCRBY', KEYS[6], 'scans', 1)
if ARGV[o + 4] == '1' then redis.call('HINCRBY', KEYS[6], 'diverted', 1) end
if ARGV[o + 5] ~= '' then redis.call('HINCRBY', KEYS[6], 'region:' .. ARGV[o + 5], 1) end

local status = 'no_prize'
if awarded > 0 and awarded == rebate then status = 'rebate' elseif awarded > 0 then status = 'won' end
local answer = status .. ' ' .. prize .. ' ' .. points_awarded .. ' ' .. points .. ' ' .. level_of(growth)
redis.call('SET', KEYS[2], member .. '\n' .. answer)
local drawn_id = drawn > 0 and field(drawn, 1) or ''
redis.call('XADD', KEYS[7], '*', 'event',
    ARGV[o + 3] .. '\n' .. level .. ' ' .. drawn_id .. ' ' .. kind .. ' ' .. value .. ' ' .. answer)
return {'new', answer}
