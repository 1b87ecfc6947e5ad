-- One small non-streamed OpenAI chat completion. Extra request headers (the gateway's virtual key, portkey's
-- provider and custom host) come from LLM_HEADERS: "Name: value" pairs separated by "|".
-- done() prints the same RESULT line as tools-call.lua; latencies are in microseconds.
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
for pair in string.gmatch(os.getenv("LLM_HEADERS") or "", "[^|]+") do
  local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d requests=%d socket_errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
