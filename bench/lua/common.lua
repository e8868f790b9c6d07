-- Shared by the per-endpoint wrk scripts (bench/lua/*.lua).
--
-- An endpoint script does dofile(<this file>), then sets `bench_path` and
-- `bench_body` (a function returning one JSON body). wrk is started with
--   wrk ... -s <endpoint>.lua <url> -- <sessions file>
-- where the sessions file holds one visitor-session UUID per line.
--
-- done() prints one machine-readable line, BENCH_RESULT key=value ..., that
-- bench/intake.py parses.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count)
  table.insert(threads, thread)
end

local sessions = {}

function init(args)
  local seed = os.time() + (id or 0) * 7919 + math.floor(os.clock() * 1000000)
  math.randomseed(seed)
  for _ = 1, 10 do
    math.random() -- the first draws after seeding are poorly mixed
  end
  if args[1] then
    for line in io.lines(args[1]) do
      if #line > 0 then
        sessions[#sessions + 1] = line
      end
    end
  end
  non2xx = 0
  first_error = ""
end

function request()
  return wrk.format("POST", bench_path, { ["Content-Type"] = "application/json" }, bench_body())
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local non2xx_total, sample = 0, ""
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
    local err = thread:get("first_error") or ""
    if sample == "" then
      sample = err
    end
  end
  local e = summary.errors
  io.write(
    string.format(
      "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d "
        .. "non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
      summary.requests,
      summary.duration,
      latency:percentile(50),
      latency:percentile(95),
      latency:percentile(99),
      latency.max,
      non2xx_total,
      e.connect,
      e.read,
      e.write,
      e.timeout
    )
  )
  if sample ~= "" then
    io.write("BENCH_FIRST_ERROR " .. string.gsub(sample, "\n", " ") .. "\n")
  end
end

-- Random data ----------------------------------------------------------------

function pick(list)
  return list[math.random(#list)]
end

function random_session()
  return sessions[math.random(#sessions)]
end

local function digits(n)
  local out = {}
  for i = 1, n do
    out[i] = tostring(math.random(0, 9))
  end
  return table.concat(out)
end

function hex(n)
  local out = {}
  for i = 1, n do
    out[i] = string.format("%x", math.random(0, 15))
  end
  return table.concat(out)
end

-- The anti-fake rules of enersolar/phone.py: a straight run, five pairs each
-- one apart from the previous, one digit 8 times or more after the leading 0.
local function looks_fake(number)
  if number == "0123456789" or number == "9876543210" then
    return true
  end
  local pairs_ = {}
  for i = 1, 9, 2 do
    pairs_[#pairs_ + 1] = tonumber(string.sub(number, i, i + 1))
  end
  local stepped = true
  for i = 2, #pairs_ do
    if math.abs(pairs_[i] - pairs_[i - 1]) ~= 1 then
      stepped = false
    end
  end
  if stepped then
    return true
  end
  local counts = {}
  for i = 2, 10 do
    local d = string.sub(number, i, i)
    counts[d] = (counts[d] or 0) + 1
    if counts[d] >= 8 then
      return true
    end
  end
  return false
end

-- A valid French mobile: 06 then 0-2 or 4-8 (063x and 069x are only partly
-- allocated), or 073 to 079, then random digits.
local MOBILE_PREFIXES = { "060", "061", "062", "064", "065", "066", "067", "068",
  "073", "074", "075", "076", "077", "078", "079" }

function random_phone()
  while true do
    local number = pick(MOBILE_PREFIXES) .. digits(7)
    if not looks_fake(number) then
      return number
    end
  end
end

local LAST_NAMES = { "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand",
  "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David",
  "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine",
  "Rousseau", "Vincent", "Müller", "Faure", "André", "Mercier", "Blanc", "Guérin" }
local FIRST_NAMES = { "Marie", "Jean", "Pierre", "Michel", "André", "Philippe", "Nathalie",
  "Isabelle", "Sylvie", "Catherine", "Françoise", "Alain", "Patrick", "Nicolas", "Christophe",
  "Stéphane", "Sophie", "Céline", "Julien", "Hélène", "Camille", "Léa", "Lucas", "Chloé" }

function random_last_name()
  return pick(LAST_NAMES)
end

function random_first_name()
  return pick(FIRST_NAMES)
end

-- A metropolitan department (01-95 without 20, 2A, 2B) with a matching postal code.
function random_department()
  local n = math.random(1, 96)
  if n == 20 then
    return "2A", "20" .. string.format("%03d", math.random(0, 199))
  elseif n == 96 then
    return "2B", "20" .. string.format("%03d", math.random(200, 699))
  end
  local code = string.format("%02d", n)
  return code, code .. string.format("%03d", math.random(0, 999))
end

local CIVILITIES = { "M.", "Mme" }
local BILLS = { "moins de 100", "100-150", "150-200", "200-300", "plus de 300" }
local HOUSING = { "maison", "maison", "maison", "appartement" }

-- One public lead submission for form PV-001 (LP-001).
function lead_body()
  local departement, code_postal = random_department()
  return string.format(
    '{"session_id":"%s","form_code":"PV-001","phone":"%s","civilite":"%s","nom":"%s",'
      .. '"prenom":"%s","email":"lead.%s@example.com","departement":"%s","code_postal":"%s",'
      .. '"ville":"Ville %s","type_logement":"%s","statut_occupant":"proprietaire",'
      .. '"facture_electricite":"%s","rgpd_consent":true,"newsletter":false,'
      .. '"lp_code":"LP-001","liaison_code":"LP-001_PV-001"}',
    random_session(),
    random_phone(),
    pick(CIVILITIES),
    random_last_name(),
    random_first_name(),
    hex(12),
    departement,
    code_postal,
    code_postal,
    pick(HOUSING),
    pick(BILLS)
  )
end
