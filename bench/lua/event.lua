-- POST /api/public/track/event: a form_step event (recorded every time) on a
-- random session of the pre-created pool.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

bench_path = "/api/public/track/event"

local FIELDS = { "type_logement", "statut_occupant", "facture_electricite", "departement", "phone" }

function bench_body()
  return string.format(
    '{"session_id":"%s","event_type":"form_step","data":{"step":%d,"field":"%s"}}',
    random_session(), math.random(1, 6), pick(FIELDS)
  )
end
