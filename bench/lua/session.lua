-- POST /api/public/track/session: a new visitor on LP-001 (no reuse: a fresh
-- visitor_id each time), with Facebook attribution.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

bench_path = "/api/public/track/session"

function bench_body()
  return string.format(
    '{"lp_code":"LP-001","visitor_id":"%s-%s-4%s-a%s-%s","referrer":"https://www.facebook.com/",'
      .. '"user_agent":"Mozilla/5.0 (bench)","utm_source":"facebook","utm_medium":"cpc",'
      .. '"utm_campaign":"pv_bench_%d","fbclid":"IwAR%s"}',
    hex(8), hex(4), hex(3), hex(3), hex(12), math.random(1, 5), hex(20)
  )
end
