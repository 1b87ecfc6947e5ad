-- The done() of every wrk workload here: one machine-readable RESULT line that the load scripts parse;
-- latencies in microseconds. Loaded with dofile from the workload's own directory.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d requests=%d socket_errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
