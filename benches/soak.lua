-- wrk script for benches/soak.sh: a mix of reads and writes against a clustermatch server, with
-- the expected status of every answer checked and counted per kind.
-- Run with as many connections as threads (-tN -cN): each thread then sends one request at a
-- time, so its PUTs are answered before it DELETEs what it stored.
-- Ids are those of gen_corpus.py (org-0000000 ... org-(N-1)); set CM_N to the corpus size.

local n = tonumber(os.getenv("CM_N") or "100000")
local texts = {
  "water management and flood protection",
  "hydrogen electrolysers and fuel cells for heavy transport",
  "medical devices, diagnostics and clinical trials",
  "precision agriculture, sensors and farm robotics",
  "battery cell manufacturing and recycling",
  "cybersecurity for industrial control systems",
}
local countries = { "CN", "FR", "DE", "US", "BR", "IN", "IT", "ES" }
local json_headers = { ["Content-Type"] = "application/json" }

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

-- Per-thread state (each thread has its own Lua state).
counts = {}
bad = {}
local last = nil
local expect = 200
local stored, stored_set = {}, {}
local pending = nil
local step = 0
local shown = 0

function init(args)
  math.randomseed(tid * 7919)
end

local function any_id()
  return string.format("org-%07d", math.random(0, n - 1))
end

local function profile(id, version)
  return string.format(
    '{"id": "%s", "name": "Soak %s %d", "country": "%s", "description": "%s", "target_countries": ["%s"]}',
    id, id, version, countries[math.random(#countries)], texts[math.random(#texts)],
    countries[math.random(#countries)])
end

request = function()
  step = step + 1
  local r = math.random(20)
  expect = 200
  pending = nil
  if r <= 4 then
    last = "match_id"
    return wrk.format("POST", "/match", json_headers,
      string.format('{"id": "%s", "top": 10}', any_id()))
  elseif r <= 6 then
    last = "match_profile"
    return wrk.format("POST", "/match", json_headers,
      string.format('{"profile": %s, "top": 10}', profile("query", step)))
  elseif r <= 10 then
    last = "match_text"
    return wrk.format("POST", "/match", json_headers,
      string.format('{"text": "%s", "targets": ["%s"], "top": 20, "filters": {"countries": ["%s"]}}',
        texts[math.random(#texts)], countries[math.random(#countries)],
        countries[math.random(#countries)]))
  elseif r <= 13 then
    last = "get"
    return wrk.format("GET", "/profiles/" .. any_id())
  elseif r == 14 then
    last = "get_missing"
    expect = 404
    return wrk.format("GET", string.format("/profiles/nobody-%d", step))
  elseif r <= 16 then
    last = "put"
    pending = string.format("soak-%d-%d", tid, math.random(0, 49))
    return wrk.format("PUT", "/profiles", json_headers, profile(pending, step))
  elseif r == 17 and #stored > 0 then
    last = "delete"
    local i = math.random(#stored)
    local id = stored[i]
    stored[i] = stored[#stored]
    stored[#stored] = nil
    stored_set[id] = nil
    return wrk.format("DELETE", "/profiles/" .. id)
  elseif r == 18 then
    last = "batch"
    local ids = {}
    local base = math.random(0, n - 7)
    for k = 0, 5 do
      table.insert(ids, string.format('"org-%07d"', base + k))
    end
    return wrk.format("POST", "/batch", json_headers,
      '{"participants": [' .. table.concat(ids, ", ") ..
      '], "event": {"slots": ["09:00-10:00/20m"], "tables": 2}}')
  else
    last = "health"
    return wrk.format("GET", "/health")
  end
end

response = function(status, headers, body)
  counts[last] = (counts[last] or 0) + 1
  if status ~= expect then
    bad[last] = (bad[last] or 0) + 1
    if shown < 5 then
      shown = shown + 1
      io.stderr:write(string.format("unexpected %d for %s: %s\n", status, last, body:sub(1, 300)))
    end
  elseif last == "put" and pending and not stored_set[pending] then
    stored_set[pending] = true
    table.insert(stored, pending)
  end
end

done = function(summary, latency, requests)
  local kinds, unexpected = {}, 0
  for _, t in ipairs(threads) do
    local c, b = t:get("counts"), t:get("bad")
    for k, v in pairs(c or {}) do
      kinds[k] = kinds[k] or { 0, 0 }
      kinds[k][1] = kinds[k][1] + v
    end
    for k, v in pairs(b or {}) do
      kinds[k] = kinds[k] or { 0, 0 }
      kinds[k][2] = kinds[k][2] + v
      unexpected = unexpected + v
    end
  end
  local names = {}
  for k in pairs(kinds) do table.insert(names, k) end
  table.sort(names)
  for _, k in ipairs(names) do
    io.write(string.format("KIND %-14s requests=%d unexpected=%d\n", k, kinds[k][1], kinds[k][2]))
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.1f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f unexpected=%d transport_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, unexpected,
    e.connect + e.read + e.write + e.timeout))
end
