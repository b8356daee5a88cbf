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
-- KEYS[6] campaign counters                        hash {diverted, region:R} (and what
--         restore and the gateway count there)
-- KEYS[7] settlement stream
--
-- Leaderboards are not here: settlement counts each settled scan on them (board.lua),
-- so a scan costs none of their sorted-set updates.
-- ARGV[1]  serial                  ARGV[2]  member
-- ARGV[3]  the day and role the daily limit counts ("2026-12-03:consumer")
-- ARGV[4]  daily scan limit        ARGV[5]  points per scan
-- ARGV[6]  growth per scan
-- ARGV[7]  number of levels L
-- ARGV[8..6+L]    the minimum growth of levels 2..L (level 1 starts at 0)
-- ARGV[7+L..6+2L] per level, the candidate its draw number drew (the gateway drew;
--          0 = nothing). Below, O = 6 + 2L:
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
-- ARGV[O+7..] the candidates, five arguments each: id, available now, daily cap (-1 =
--          none), kind, value. They are the prizes this scan can award (drawn at some
--          level, the fallback, the rebate), so the call carries only those.
--
-- Lists are arguments of their own, not strings to split: string.gmatch and long
-- concatenations were a third of the script's own (non-command) time. Yet each
-- argument costs Redis about as much as a small command's own work (copied, interned
-- into Lua, set into ARGV), so none is passed that the script can do without.
--
-- Returns the answer of a new redemption (a string: the commonest reply is the cheapest
-- to make), else {"retry", stored}, {"already_redeemed"|"daily_limit"|
-- "forgotten", points, growth} or {"dry", prize id}. "forgotten": redeemed, but the
-- answer is gone (settled, grace over): the caller asks Postgres whose it was. Nothing
-- is written unless the code is redeemed now.
--
-- Written for the cost per call (a scan is this script, nothing else): the member hash
-- (with the daily counter) is read once and written once, the redemption bit is tested
-- and set by one SETBIT, a key's TTL is set only when the key is made, and the answer
-- and the event's tail are a few values joined by spaces. Every argument handed to
-- redis.call is a string: Redis 7.0 formats a Lua number with "%.17g", about 0.7 µs a
-- number, where string.format('%d') takes a third of that. No closure is made per call
-- (each is an allocation), and nothing is counted twice: the campaign's scans are the
-- stream's entries (its `entries-added`), its wins the sum of KEYS[4].

local format = string.format
local member = ARGV[2]
local levels = tonumber(ARGV[7])
local o = 6 + 2 * levels
local lanes = ARGV[o + 6]
local laned = lanes ~= ''

local state = redis.call('HMGET', KEYS[3], 'points', 'growth', 'scans', 'day', 'today')
local points = tonumber(state[1] or '0')
local growth = tonumber(state[2] or '0')
local today = 0
if state[4] == ARGV[3] then today = tonumber(state[5] or '0') end

-- `stored`: the answer kept for the code, false where there is none.
local redeemed, stored = false, false
if laned then
    stored = redis.call('GET', KEYS[2])
    redeemed = stored ~= false
elseif today >= tonumber(ARGV[4]) then
    -- At the limit a retry of one's own scan still gets its answer.
    if redis.call('GETBIT', KEYS[1], ARGV[1]) == 0 then return {'daily_limit', points, growth} end
    redeemed, stored = true, redis.call('GET', KEYS[2])
elseif redis.call('SETBIT', KEYS[1], ARGV[1], '1') == 1 then
    redeemed, stored = true, redis.call('GET', KEYS[2])
end
if redeemed then
    -- This member's own answer again, someone else's code, or an answer settlement has
    -- let go.
    if not stored then return {'forgotten', points, growth} end
    local split = string.find(stored, '\n', 1, true)
    if split and string.sub(stored, 1, split - 1) == member then
        return {'retry', string.sub(stored, split + 1)}
    end
    return {'already_redeemed', points, growth}
end

-- Level i's minimum growth (i > 1) is ARGV[6 + i]. Candidates of '0' (most scans draw
-- nothing) are compared as strings: tonumber costs as much as an argument.
local level = 1
while level < levels and growth >= tonumber(ARGV[7 + level]) do level = level + 1 end

local rebate, drawn = 0, 0
if ARGV[o + 2] ~= '0' then
    rebate = tonumber(ARGV[o + 2])
    drawn = rebate
elseif ARGV[6 + levels + level] ~= '0' then
    drawn = tonumber(ARGV[6 + levels + level])
end

-- Candidate c's five fields start at ARGV[o + 2 + 5 * c]. The drawn one, then the
-- fallback; running out of a lane's allotment (`dry`) stops at once, so the caller
-- borrows stock before a replacement is given.
local awarded, candidate, fallback = 0, drawn, 0
if drawn > 0 then fallback = tonumber(ARGV[o + 1]) end
while candidate > 0 do
    local at = o + 2 + 5 * candidate
    local id = ARGV[at]
    local count, allotted
    if laned then
        local counts = redis.call('HMGET', KEYS[4], id, 'allot:' .. id)
        count, allotted = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
    else
        count = tonumber(redis.call('HGET', KEYS[4], id) or '0')
    end
    if count >= tonumber(ARGV[at + 1]) then
        -- Out of stock.
    elseif laned and count >= allotted then
        if lanes == '1' then return {'dry', id} end
    else
        local cap = tonumber(ARGV[at + 2])
        if cap < 0 or tonumber(redis.call('HGET', KEYS[5], id) or '0') < cap then
            awarded = candidate
            break
        end
    end
    if candidate ~= drawn or fallback == drawn then break end
    candidate = fallback
end

-- Strings throughout: ARGV[5] is the points per scan.
local points_awarded = ARGV[5]
local prize, kind, value = '', '', '0'
local status = 'no_prize'
if awarded > 0 then
    local at = o + 2 + 5 * awarded
    prize, kind, value = ARGV[at], ARGV[at + 3], ARGV[at + 4]
    redis.call('HINCRBY', KEYS[4], prize, '1')
    if redis.call('HINCRBY', KEYS[5], prize, '1') == 1 then redis.call('EXPIRE', KEYS[5], '172800') end
    if kind == 'points' then points_awarded = format('%d', points_awarded + value) end
    if awarded == rebate then status = 'rebate' else status = 'won' end
end

points = format('%d', points + points_awarded)
growth = growth + ARGV[6]
local scans = format('%d', (state[3] or 0) + 1)
if laned then
    -- Counted by RESERVE.
    redis.call('HSET', KEYS[3], 'points', points, 'growth', format('%d', growth), 'scans', scans)
else
    redis.call('HSET', KEYS[3], 'points', points, 'growth', format('%d', growth), 'scans', scans,
        'day', ARGV[3], 'today', format('%d', today + 1))
end
if ARGV[o + 4] == '1' then redis.call('HINCRBY', KEYS[6], 'diverted', '1') end
if ARGV[o + 5] ~= '' then redis.call('HINCRBY', KEYS[6], 'region:' .. ARGV[o + 5], '1') end

local after = level
while after < levels and growth >= tonumber(ARGV[7 + after]) do after = after + 1 end
local answer = status .. ' ' .. prize .. ' ' .. points_awarded .. ' ' .. points .. ' ' .. format('%d', after)
redis.call('SET', KEYS[2], member .. '\n' .. answer)
local drawn_id = ''
if drawn > 0 then drawn_id = ARGV[o + 2 + 5 * drawn] end
redis.call('XADD', KEYS[7], '*', 'event',
    ARGV[o + 3] .. '\n' .. format('%d', level) .. ' ' .. drawn_id .. ' ' .. kind .. ' ' .. value .. ' ' .. answer)
return answer
