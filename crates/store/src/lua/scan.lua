-- One scan, atomically: redeem the code for a role, enforce the member's daily limit,
-- draw against stock, credit points and growth, remember the answer for retries and
-- append the settlement event. All keys share the campaign's hash tag.
--
-- KEYS[1] redemption bitmap of (batch, role)      bit = serial
-- KEYS[2] stored result of (batch, serial, role)  string member .. '\n' .. body
-- KEYS[3] member state                             hash {points, growth, scans}
-- KEYS[4] member's scans today in this role        counter
-- KEYS[5] prizes awarded, all time                 hash prize -> count
-- KEYS[6] prizes awarded today                     hash prize -> count
-- KEYS[7] campaign counters                        hash {scans, wins, diverted, region:R}
-- KEYS[8] settlement stream
-- KEYS[9] this month's leaderboard                 zset member -> score (see board.rs)
-- KEYS[10] (optional) this month's board of the scanner's region
--
-- ARGV[1]  serial                 ARGV[2]  member
-- ARGV[3]  scan id                ARGV[4]  daily scan limit
-- ARGV[5]  result TTL (seconds)   ARGV[6]  points per scan
-- ARGV[7]  growth per scan        ARGV[8]  draw number, 0..999999
-- ARGV[9]  level thresholds, "0,100,500"
-- ARGV[10] cumulative odds per level, "5,20005;8,30008;..." (prize order)
-- ARGV[11] fallback prize index when the drawn one is unavailable (1-based, 0 = none)
-- ARGV[12] number of prizes N
-- ARGV[13..12+6N] per prize: id, available now, daily cap (-1 = none), kind, value,
--          JSON object for the response
-- ARGV[13+6N] the event's JSON members known before the script runs (no braces); the
--          script adds status, level, drawn, prize, kind, value and points
-- ARGV[14+6N] milliseconds into the leaderboard month
-- ARGV[15+6N] 1 if the scanner's region differs from the batch's (anti-diversion)
-- ARGV[16+6N] the scan's region (the scanner's, else the batch's; "" for none)
-- ARGV[17+6N] (optional) lanes: absent or "" for a one-lane campaign; else this call runs
--          in the member's lane after RESERVE counted the scan against the daily limit
--          and CLAIM took the code in its lane (both in scan.rs): the stored answer, not
--          the bitmap, tells a retry, the daily counter is neither checked nor counted
--          again, and each prize is also limited by the lane's allotment (field
--          "allot:<id>" of KEYS[5]).
--          "1": a drawn prize the allotment lacks is answered {"dry", prize id} with
--          nothing written, so the caller can borrow stock and call again; "0": it is
--          treated as out of stock.
-- ARGV[18+6N] (optional) the prize (1-based) paid as the SKU's rebate instead of a draw;
--          absent or 0: draw. An awarded rebate answers status "rebate".
--
-- Returns {"new", body, prize id or "", status}, {"retry", body}, {"already_redeemed"|"daily_limit",
-- points, growth} or {"dry", prize id}. Nothing is written unless the answer is "new".
--
-- Written for the cost per call (a scan is this script, nothing else): the member hash is
-- read once and written once, a key's TTL is set only when the key is made, and the
-- stored answer is one string with its TTL.

local serial = tonumber(ARGV[1])
local member = ARGV[2]
local count = tonumber(ARGV[12])
local lanes = ARGV[17 + count * 6] or ''
local laned = lanes ~= ''

local function level_of(growth)
    local level = 0
    for threshold in string.gmatch(ARGV[9], '[^,]+') do
        if growth >= tonumber(threshold) then level = level + 1 else break end
    end
    return math.max(level, 1)
end

local function member_state()
    local state = redis.call('HMGET', KEYS[3], 'points', 'growth', 'scans')
    return tonumber(state[1] or '0'), tonumber(state[2] or '0'), tonumber(state[3] or '0')
end

local redeemed
if laned then redeemed = redis.call('EXISTS', KEYS[2]) == 1 else redeemed = redis.call('GETBIT', KEYS[1], serial) == 1 end
if redeemed then
    local stored = redis.call('GET', KEYS[2])
    if stored then
        local split = string.find(stored, '\n', 1, true)
        if split and string.sub(stored, 1, split - 1) == member then
            return {'retry', string.sub(stored, split + 1)}
        end
    end
    local points, growth = member_state()
    return {'already_redeemed', points, growth}
end

local today = 0
if not laned then
    today = tonumber(redis.call('GET', KEYS[4]) or '0')
    if today >= tonumber(ARGV[4]) then
        local points, growth = member_state()
        return {'daily_limit', points, growth}
    end
end

local points, growth, scans = member_state()
local level = level_of(growth)

-- The draw: the first cumulative bound above the number wins; a rebate needs none.
local rebate = tonumber(ARGV[18 + count * 6] or '0')
local drawn = rebate
local number = tonumber(ARGV[8])
local index = 0
if rebate == 0 then
    for bounds in string.gmatch(ARGV[10], '[^;]+') do
        index = index + 1
        if index == level then
            local prize = 0
            for bound in string.gmatch(bounds, '[^,]+') do
                prize = prize + 1
                if number < tonumber(bound) then drawn = prize break end
            end
            break
        end
    end
end

local function field(prize, offset) return ARGV[12 + (prize - 1) * 6 + offset] end
local dry = nil
local function available(prize)
    if prize == 0 then return false end
    local id = field(prize, 1)
    local awarded = tonumber(redis.call('HGET', KEYS[5], id) or '0')
    if awarded >= tonumber(field(prize, 2)) then
        return false
    end
    if laned and awarded >= tonumber(redis.call('HGET', KEYS[5], 'allot:' .. id) or '0') then
        if lanes == '1' and not dry then dry = id end
        return false
    end
    local cap = tonumber(field(prize, 3))
    return cap < 0 or tonumber(redis.call('HGET', KEYS[6], id) or '0') < cap
end

local awarded = 0
if drawn > 0 then
    if available(drawn) then
        awarded = drawn
    elseif dry then
        -- Out of this lane's allotment only: borrow before giving a replacement.
        return {'dry', dry}
    else
        local fallback = tonumber(ARGV[11])
        if fallback ~= drawn and available(fallback) then awarded = fallback end
        if awarded == 0 and dry then return {'dry', dry} end
    end
end

local points_awarded = tonumber(ARGV[6])
local prize_json = 'null'
local prize_id = ''
if awarded > 0 then
    prize_id = field(awarded, 1)
    prize_json = field(awarded, 6)
    redis.call('HINCRBY', KEYS[5], prize_id, 1)
    if redis.call('HINCRBY', KEYS[6], prize_id, 1) == 1 then redis.call('EXPIRE', KEYS[6], 172800) end
    redis.call('HINCRBY', KEYS[7], 'wins', 1)
    if field(awarded, 4) == 'points' then
        points_awarded = points_awarded + tonumber(field(awarded, 5))
    end
end

points = points + points_awarded
growth = growth + tonumber(ARGV[7])
redis.call('HSET', KEYS[3], 'points', points, 'growth', growth, 'scans', scans + 1)
local level_after = level_of(growth)
if not laned then redis.call('SETBIT', KEYS[1], serial, 1) end
if laned then
    -- Counted by RESERVE.
elseif today == 0 then redis.call('SET', KEYS[4], 1, 'EX', 172800) else redis.call('INCR', KEYS[4]) end
redis.call('HINCRBY', KEYS[7], 'scans', 1)
if ARGV[15 + count * 6] == '1' then redis.call('HINCRBY', KEYS[7], 'diverted', 1) end
if ARGV[16 + count * 6] ~= '' then redis.call('HINCRBY', KEYS[7], 'region:' .. ARGV[16 + count * 6], 1) end

-- Boards: scans in the high bits, how early they were reached in the low 32.
local early = 4294967295 - tonumber(ARGV[14 + count * 6])
for board = 9, #KEYS do
    local score = redis.call('ZSCORE', KEYS[board], member)
    local count = score and math.floor(tonumber(score) / 4294967296) + 1 or 1
    redis.call('ZADD', KEYS[board], string.format('%.0f', count * 4294967296 + early), member)
    -- A board is created by its first member's first scan.
    if not score then redis.call('EXPIRE', KEYS[board], 8640000, 'NX') end
end

local status = 'no_prize'
if awarded > 0 and awarded == rebate then status = 'rebate' elseif awarded > 0 then status = 'won' end
local body = '{"status":"' .. status .. '","scan_id":"' .. ARGV[3] .. '","prize":' .. prize_json ..
    ',"points_awarded":' .. points_awarded .. ',"points":' .. points .. ',"level":' .. level_after .. '}'
redis.call('SET', KEYS[2], member .. '\n' .. body, 'EX', tonumber(ARGV[5]))

local event = '{' .. ARGV[13 + count * 6] .. ',"status":"' .. status .. '","level":' .. level ..
    ',"drawn":"' .. (drawn > 0 and field(drawn, 1) or '') .. '","prize":"' .. prize_id ..
    '","kind":"' .. (awarded > 0 and field(awarded, 4) or '') ..
    '","value":' .. (awarded > 0 and field(awarded, 5) or '0') .. ',"points":' .. points_awarded .. '}'
redis.call('XADD', KEYS[8], '*', 'event', event)
return {'new', body, prize_id, status}
