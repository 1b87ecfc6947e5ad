# With MODERN=1, run.sh also measures the MCP 2026-07-28 stateless tools/call through the gateway (c1.modern, sat.modern)
# in the same rounds as the 2025 stateless one (c1.gateway, sat.gateway): this table compares the two, per round, then the
# median. Needs rounds.awk (awk -f rounds.awk -f summarize-modern.awk).
function row(label, mode, key, how) {
  printf "| %s | %.0f | %.0f | %s |\n", label, col(mode ".gateway", key), col(mode ".modern", key),
    how == "diff" ? sprintf("%+.0f", diff(mode ".modern", mode ".gateway", key)) : sprintf("%.2f×", ratio(mode ".modern", mode ".gateway", key))
}
END {
  if (!count["sat.modern"]) exit
  print "| metric (through the gateway) | 2025 stateless | 2026-07-28 | 2026-07-28 vs 2025 |"
  print "|---|---:|---:|---:|"
  row("c=1 p50 latency (µs)", "c1", "p50_us", "diff")
  row("c=1 p99 latency (µs)", "c1", "p99_us", "diff")
  row("c=1 req/s", "c1", "rps", "ratio")
  row("saturation req/s", "sat", "rps", "ratio")
  row("saturation p50 latency (µs)", "sat", "p50_us", "diff")
  row("saturation p99 latency (µs)", "sat", "p99_us", "diff")
  printf "| gateway CPU per request, saturation (µs) | %.1f | %.1f | %+.1f |\n", col("sat.gateway", "proxy_cpu_us"), col("sat.modern", "proxy_cpu_us"), diff("sat.modern", "sat.gateway", "proxy_cpu_us")
  printf "| gateway CPU per request, c=1 (µs) | %.1f | %.1f | %+.1f |\n", col("c1.gateway", "proxy_cpu_us"), col("c1.modern", "proxy_cpu_us"), diff("c1.modern", "c1.gateway", "proxy_cpu_us")
}
