# Reads lines "NAME k=v k=v ..." (NAME is c1.X or sat.X with X in direct, floor, gateway; one line per
# round, in order) and prints a markdown table. Differences and ratios against direct are taken per
# round (the runs were back to back) and the median over rounds is reported, which cancels most of the
# machine's drift. "floor" is a minimal Kestrel + SocketsHttpHandler proxy: what any .NET proxy costs.
# Needs rounds.awk (awk -f rounds.awk -f summarize.awk).
function vs(mode, who, key, how) { return how == "diff" ? sprintf("+%.0f", diff(mode "." who, mode ".direct", key)) : sprintf("%.2f×", ratio(mode "." who, mode ".direct", key)) }
function row(label, mode, key, how, target) {
  printf "| %s | %.0f | %.0f | %.0f | %s | %s | %s |\n", label, col(mode ".direct", key), col(mode ".floor", key), col(mode ".gateway", key),
    vs(mode, "floor", key, how), vs(mode, "gateway", key, how), target
}
END {
  print "| metric | direct | floor proxy | gateway | floor vs direct | gateway vs direct | target (gateway) |"
  print "|---|---:|---:|---:|---:|---:|---|"
  row("c=1 p50 latency (µs)", "c1", "p50_us", "diff", "added ≤ 60 µs")
  row("c=1 p90 latency (µs)", "c1", "p90_us", "diff", "")
  row("c=1 p99 latency (µs)", "c1", "p99_us", "diff", "added ≤ 250 µs")
  row("c=1 req/s", "c1", "rps", "ratio", "")
  row("saturation req/s", "sat", "rps", "ratio", "≥ 0.60×")
  row("saturation p50 latency (µs)", "sat", "p50_us", "diff", "")
  row("saturation p99 latency (µs)", "sat", "p99_us", "diff", "")
  printf "| upstream CPU per request, saturation (µs) | %.1f | %.1f | %.1f | | | |\n", col("sat.direct", "up_cpu_us"), col("sat.floor", "up_cpu_us"), col("sat.gateway", "up_cpu_us")
  printf "| proxy CPU per request, saturation (µs) | | %.1f | %.1f | | | |\n", col("sat.floor", "proxy_cpu_us"), col("sat.gateway", "proxy_cpu_us")
  printf "| proxy CPU per request, c=1 (µs) | | %.1f | %.1f | | | |\n", col("c1.floor", "proxy_cpu_us"), col("c1.gateway", "proxy_cpu_us")
  e = 0; for (k in count) for (r = 1; r <= count[k]; r++) e += v[k, "socket_errors", r] + v[k, "non2xx", r]
  printf "\nerrors (socket + non-2xx) over all runs: %d\n", e
}
