-- POST /api/public/leads: a complete public submission to form PV-001 from a
-- random session of the pre-created pool, with a random valid mobile number.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

bench_path = "/api/public/leads"
bench_body = lead_body
