-- wrk script for benches/scan.sh: every request scans a code not scanned before.
-- Threads take disjoint codes from $SCAN_CODES (one per line); members rotate.
local next_id = 1
function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
end

function init(args)
    local threads = tonumber(os.getenv("WRK_THREADS") or "1")
    codes, n, i = {}, 0, 0
    for line in io.lines(os.getenv("SCAN_CODES")) do
        if i % threads == id - 1 then codes[#codes + 1] = line end
        i = i + 1
    end
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
end

function request()
    n = n + 1
    if n > #codes then n = 1 end -- exhausted: further scans are retries
    return wrk.format(nil, "/v1/scan", nil,
        '{"code":"' .. codes[n] .. '","member":"m' .. id .. '-' .. (n % 50000) .. '"}')
end
