-- Counts settled scans on this month's leaderboards, for one tag: the settlement worker
-- calls it after each commit with the scans it has just committed, up to 100 a call
-- (a script blocks Redis while it runs).
--
-- Score: scans in the high bits, how early the member reached them in the low 32
-- (2^32 - 1 - milliseconds into the month of their latest scan). Taking the smallest
-- low half ever seen makes the score the same whatever order scans are counted in
-- (several workers settle at once).
--
-- KEYS the boards; ARGV triples: the board (index into KEYS), member, milliseconds into
-- the board's month of the scan.
for i = 1, #ARGV, 3 do
    local board = KEYS[tonumber(ARGV[i])]
    local member = ARGV[i + 1]
    local early = 4294967295 - tonumber(ARGV[i + 2])
    local score = redis.call('ZSCORE', board, member)
    local count, low = 1, early
    if score then
        score = tonumber(score)
        count = math.floor(score / 4294967296) + 1
        low = math.min(early, score % 4294967296)
    end
    redis.call('ZADD', board, string.format('%.0f', count * 4294967296 + low), member)
    -- A board is created by its first member's first scan.
    if not score then redis.call('EXPIRE', board, 8640000, 'NX') end
end
return 0
