-- wrk script: POST /match against a clustermatch server, rotating through request shapes.
-- Ids are those of gen_corpus.py (org-0000000 ... org-(N-1)); set CM_N to the corpus size.
-- Usage: wrk -t2 -c4 -d30s --latency -s benches/load.lua http://127.0.0.1:PORT

local n = tonumber(os.getenv("CM_N") or "100000")
local texts = {
  "water management and flood protection",
  "hydrogen electrolysers and fuel cells for heavy transport",
  "medical devices, diagnostics and clinical trials",
  "precision agriculture, sensors and farm robotics",
  "battery cell manufacturing and recycling",
  "cybersecurity for industrial control systems",
  "textile recycling and circular fashion",
  "aerospace composites and drones",
}
local targets = { "CN", "EU", "US", "BR", "IN", "JP" }
local countries = { "CN", "FR", "DE", "US", "BR", "IN" }
local headers = { ["Content-Type"] = "application/json" }

local counter = 0
local errors = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(seed * 7919)
end

request = function()
  local r = math.random(3)
  local body
  if r == 1 then
    body = string.format('{"id": "org-%07d", "top": 10}', math.random(0, n - 1))
  elseif r == 2 then
    body = string.format('{"text": "%s", "targets": ["%s"], "top": 10}',
      texts[math.random(#texts)], targets[math.random(#targets)])
  else
    body = string.format('{"id": "org-%07d", "top": 20, "filters": {"countries": ["%s"]}}',
      math.random(0, n - 1), countries[math.random(#countries)])
  end
  return wrk.format("POST", "/match", headers, body)
end

response = function(status, hdrs, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then
      io.stderr:write("status " .. status .. ": " .. body .. "\n")
    end
  end
end

done = function(summary, latency, requests)
  local total_errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d duration_s=%.1f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, total_errors))
end
