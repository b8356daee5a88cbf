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
--
-- Baked in per rule set (`scan.rs`: a script of its own for each rule set of a campaign
-- revision), because a constant costs nothing per call where an argument costs ~1,300
-- instructions and its `tonumber` as many again: the placeholders in double braces
-- below, named limit (the daily scan limit), points (the points per scan), growth (the
-- growth per scan), levels (their number, L), quiet (the plan of most scans: L + 4
-- zeros), laned (true for a campaign over several lanes), and level and after (nested
-- ifs setting that variable and its text, 1 before them, to the highest level whose
-- minimum growth `growth` reaches).
--
-- ARGV[1]  serial                  ARGV[2]  member
-- ARGV[3]  the day and role the daily limit counts ("2026-12-03:consumer")
-- ARGV[4]  the plan: L + 4 digits, as the gateway decided them:
--          1..L  per level, the candidate its draw number drew (0 = nothing)
--          L+1   the candidate given when the drawn one is unavailable (0 = none)
--          L+2   the candidate paid as the SKU's rebate instead of a draw (0 = draw)
--          L+3   1 if the scanner's region differs from the batch's (anti-diversion)
--          L+4   laned only: 1 if a drawn prize the lane's allotment lacks is answered
--                {"dry", prize id} with nothing written, so the caller can borrow
--                stock and call again; 0 if it is treated as out of stock
--          One argument, not L + 4: most scans draw nothing, are not diverted and
--          their plan is all zeros, which one comparison of interned strings tells.
-- ARGV[5]  the event as the gateway knows it before the script runs (a JSON object)
-- ARGV[6]  the scan's region (the scanner's, else the batch's; "" for none)
-- ARGV[7..] the candidates, five arguments each: id, available now, daily cap (-1 =
--          none), kind, value. They are the prizes this scan can award (drawn at some
--          level, the fallback, the rebate), so the call carries only those.
--
-- Laned, this call runs in the member's lane after RESERVE counted the scan against the
-- daily limit and CLAIM took the code in its lane (both in scan.rs): the stored answer,
-- not the bitmap, tells a retry, the daily limit is neither checked nor counted again,
-- and each prize is also limited by the lane's allotment (field "allot:<id>" of
-- KEYS[4]).
--
-- Returns the answer of a new redemption (a string: the commonest reply is the cheapest
-- to make), else {"retry", stored}, {"already_redeemed"|"daily_limit"|
-- "forgotten", points, growth} or {"dry", prize id}. "forgotten": redeemed, but the
-- answer is gone (settled, grace over): the caller asks Postgres whose it was. Nothing
-- is written unless the code is redeemed now.
--
-- Written for the cost per call (a scan is this script, nothing else): each argument
-- costs Redis about as much as a small command's own work (copied, interned into Lua,
-- set into ARGV), so none is passed that the script can do without; the member hash
-- (with the daily counter) is read once and written once (its day only on a new one),
-- the redemption bit is tested and set by one SETBIT, a key's TTL is set only when the
-- key is made, and the answer and the event's tail are a few values joined by spaces.
-- Every argument handed to redis.call is a string: Redis 7.0 formats a Lua number with
-- "%.17g", about 0.7 µs a number, where string.format('%d') takes a third of that. No
-- closure is made per call (each is an allocation), and nothing is counted twice: the
-- campaign's scans are the stream's entries (its `entries-added`), its wins the sum of
-- KEYS[4].

local format, byte = string.format, string.byte
local member, plan = ARGV[2], ARGV[4]
local quiet = plan == '{{quiet}}'
local laned = {{laned}}

local state = redis.call('HMGET', KEYS[3], 'points', 'growth', 'scans', 'day', 'today')
local points = tonumber(state[1] or '0')
local growth = tonumber(state[2] or '0')
local same_day = state[4] == ARGV[3]
local today = 0
if same_day then today = tonumber(state[5] or '0') end

-- `stored`: the answer kept for the code, false where there is none.
local redeemed, stored = false, false
if laned then
    stored = redis.call('GET', KEYS[2])
    redeemed = stored ~= false
elseif today >= {{limit}} then
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

local level, level_text = 1, '1'
{{level}}

-- A plan's digit d is byte d - 48.
local rebate, drawn = 0, 0
if not quiet then
    rebate = byte(plan, {{levels}} + 2) - 48
    if rebate > 0 then drawn = rebate else drawn = byte(plan, level) - 48 end
end

-- Candidate c's five fields start at ARGV[2 + 5 * c]. The drawn one, then the
-- fallback; running out of a lane's allotment (`dry`) stops at once, so the caller
-- borrows stock before a replacement is given.
local awarded, candidate, fallback = 0, drawn, 0
if drawn > 0 then fallback = byte(plan, {{levels}} + 1) - 48 end
while candidate > 0 do
    local at = 2 + 5 * candidate
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
        if byte(plan, {{levels}} + 4) == 49 then return {'dry', id} end
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

-- The points credited, as a number and as the answer's text.
local points_awarded, points_text = {{points}}, '{{points}}'
local prize, kind, value = '', '', '0'
local status = 'no_prize'
if awarded > 0 then
    local at = 2 + 5 * awarded
    prize, kind, value = ARGV[at], ARGV[at + 3], ARGV[at + 4]
    redis.call('HINCRBY', KEYS[4], prize, '1')
    if redis.call('HINCRBY', KEYS[5], prize, '1') == 1 then redis.call('EXPIRE', KEYS[5], '172800') end
    if kind == 'points' then
        points_awarded = points_awarded + tonumber(value)
        points_text = format('%d', points_awarded)
    end
    if awarded == rebate then status = 'rebate' else status = 'won' end
end

points = format('%d', points + points_awarded)
growth = growth + {{growth}}
local scans = format('%d', (state[3] or 0) + 1)
if laned then
    -- Counted by RESERVE.
    redis.call('HSET', KEYS[3], 'points', points, 'growth', format('%d', growth), 'scans', scans)
elseif same_day then
    redis.call('HSET', KEYS[3], 'points', points, 'growth', format('%d', growth), 'scans', scans,
        'today', format('%d', today + 1))
else
    redis.call('HSET', KEYS[3], 'points', points, 'growth', format('%d', growth), 'scans', scans,
        'day', ARGV[3], 'today', '1')
end
if not quiet and byte(plan, {{levels}} + 3) == 49 then redis.call('HINCRBY', KEYS[6], 'diverted', '1') end
if ARGV[6] ~= '' then redis.call('HINCRBY', KEYS[6], 'region:' .. ARGV[6], '1') end

local after, after_text = 1, '1'
{{after}}
local answer = status .. ' ' .. prize .. ' ' .. points_text .. ' ' .. points .. ' ' .. after_text
redis.call('SET', KEYS[2], member .. '\n' .. answer)
local drawn_id = ''
if drawn > 0 then drawn_id = ARGV[2 + 5 * drawn] end
redis.call('XADD', KEYS[7], '*', 'event',
    ARGV[5] .. '\n' .. level_text .. ' ' .. drawn_id .. ' ' .. kind .. ' ' .. value .. ' ' .. answer)
return answer
