-- POST /bench/bare: the baseline view, fed the very bodies of lead.lua.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

bench_path = "/bench/bare"
bench_body = lead_body
