# Reads lines "NAME k=v k=v ..." (NAME is c1.X, ttft.X or sat.X with X in direct, gateway, portkey; one line per
# round, in order) and prints a markdown table. Differences and ratios against direct (and gateway vs portkey)
# are taken per round, the runs of a round being back to back, and the median over rounds is reported.
# Needs rounds.awk (awk -f rounds.awk -f summarize-llm.awk).
function vs(a, b, key, how) { if (!count[a] || !count[b]) return "n/a"; return how == "diff" ? sprintf("%+.0f", diff(a, b, key)) : sprintf("%.2f×", ratio(a, b, key)) }
function cell(name, key) { return count[name] ? sprintf("%.0f", col(name, key)) : "n/a" }
function row(label, mode, key, how, target) {
  printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, cell(mode ".direct", key), cell(mode ".gateway", key), cell(mode ".portkey", key),
    vs(mode ".gateway", mode ".direct", key, how), vs(mode ".portkey", mode ".direct", key, how), vs(mode ".gateway", mode ".portkey", key, how), target
}
END {
  print "| metric | direct | gateway | portkey | gateway vs direct | portkey vs direct | gateway vs portkey | target (gateway) |"
  print "|---|---:|---:|---:|---:|---:|---:|---|"
  row("c=1 p50 latency, non-streamed (µs)", "c1", "p50_us", "diff", "")
  row("c=1 p99 latency, non-streamed (µs)", "c1", "p99_us", "diff", "added ≤ 150 µs")
  row("c=1 req/s, non-streamed", "c1", "rps", "ratio", "")
  row("c=1 time to first token p50, streamed (µs)", "ttft", "ttft_p50_us", "diff", "added ≤ 100 µs")
  row("c=1 time to first token p99, streamed (µs)", "ttft", "ttft_p99_us", "diff", "")
  row("c=1 whole stream p50 (µs)", "ttft", "total_p50_us", "diff", "")
  row("saturation req/s, non-streamed", "sat", "rps", "ratio", "≥ 0.60×")
  row("saturation p50 latency (µs)", "sat", "p50_us", "diff", "")
  row("saturation p99 latency (µs)", "sat", "p99_us", "diff", "")
  printf "| upstream CPU per request, saturation (µs) | %.1f | %.1f | %.1f | | | | |\n", col("sat.direct", "up_cpu_us"), col("sat.gateway", "up_cpu_us"), col("sat.portkey", "up_cpu_us")
  printf "| proxy CPU per request, saturation (µs) | | %.1f | %.1f | | | | |\n", col("sat.gateway", "proxy_cpu_us"), col("sat.portkey", "proxy_cpu_us")
  printf "| proxy CPU per request, c=1 (µs) | | %.1f | %.1f | | | | |\n", col("c1.gateway", "proxy_cpu_us"), col("c1.portkey", "proxy_cpu_us")
  e = 0; for (k in count) for (r = 1; r <= count[k]; r++) e += v[k, "socket_errors", r] + v[k, "non2xx", r] + v[k, "errors", r]
  printf "\nerrors (socket + non-2xx + driver errors) over all runs: %d\n", e
}
