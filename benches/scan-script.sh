# The scan script as the gateway runs it for the bench campaign
# (benches/scan-campaign.toml), for load.sh and script-ir.sh to hand redis-benchmark:
# scan.lua's placeholders baked as scan.rs's `bake` does for the campaign's one rule set
# (daily limit 1,000,000, 10 points and 10 growth a scan, level 2 from growth 100).
# Sourced from the repository root.

# bench_scan_script [REVISION]: the baked script of the working tree or of a revision
# (one from before baking has no placeholders and comes out as it is).
bench_scan_script() {
    local script
    if [ -n "${1:-}" ]; then
        script=$(git show "$1:crates/store/src/lua/scan.lua")
    else
        script=$(cat crates/store/src/lua/scan.lua)
    fi
    script=${script//'{{limit}}'/1000000}
    script=${script//'{{points}}'/10}
    script=${script//'{{growth}}'/10}
    script=${script//'{{levels}}'/2}
    script=${script//'{{quiet}}'/000000}
    script=${script//'{{laned}}'/false}
    script=${script//'{{level}}'/"if growth >= 100 then level, level_text = 2, '2' end"}
    script=${script//'{{after}}'/"if growth >= 100 then after, after_text = 2, '2' end"}
    printf '%s\n' "$script"
}

# The arguments a script from before baking took between ARGV[3] and the event, for
# a scan that draws nothing: the bench campaign's limit, points, growth, levels and
# level 2's threshold, then the candidate per level, the fallback and the rebate.
bench_unbaked_plan=(1000000 10 10 2 100 0 0 0 0)
