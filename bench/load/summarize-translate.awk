# Reads lines "NAME k=v ..." (NAME is c1.X or sat.X with X in direct-openai, passthrough, direct-anthropic, translated;
# one line per round, in order) and prints the added latency of each gateway path over its own direct call, per round
# and then the median, and the check of issue 16: the translated path adds at most 2x what the pass-through path adds.
# Needs rounds.awk (awk -f rounds.awk -f summarize-translate.awk).
function added(gw, direct, key, r) { return v[gw, key, r] - v[direct, key, r] }
function ratios(key,    r, arr) {
  for (r = 1; r <= count["c1.translated"]; r++) {
    p = added("c1.passthrough", "c1.direct-openai", key, r)
    arr[r] = p > 0 ? added("c1.translated", "c1.direct-anthropic", key, r) / p : 0
  }
  return median(arr, count["c1.translated"])
}
function vs(a, b, key, how) { return how == "ratio" ? sprintf("%.2f×", ratio(a, b, key)) : sprintf("%+.0f", diff(a, b, key)) }
function row(label, mode, key, how) {
  printf "| %s | %.0f | %.0f | %s | %.0f | %.0f | %s |\n", label, col(mode ".direct-openai", key), col(mode ".passthrough", key),
    vs(mode ".passthrough", mode ".direct-openai", key, how), col(mode ".direct-anthropic", key), col(mode ".translated", key),
    vs(mode ".translated", mode ".direct-anthropic", key, how)
}
END {
  print "| metric | direct OpenAI | gateway pass-through | vs direct | direct Anthropic | gateway translated | vs direct |"
  print "|---|---:|---:|---:|---:|---:|---:|"
  row("c=1 p50 latency (µs)", "c1", "p50_us")
  row("c=1 p90 latency (µs)", "c1", "p90_us")
  row("c=1 p99 latency (µs)", "c1", "p99_us")
  row("saturation req/s", "sat", "rps", "ratio")
  printf "| gateway CPU per request, saturation (µs) | | %.1f | | | %.1f | |\n", col("sat.passthrough", "proxy_cpu_us"), col("sat.translated", "proxy_cpu_us")
  for (r = 1; r <= count["c1.translated"]; r++)
    printf "\nround %d: added p50 pass-through %d µs, translated %d µs", r, added("c1.passthrough", "c1.direct-openai", "p50_us", r),
      added("c1.translated", "c1.direct-anthropic", "p50_us", r)
  e = 0; for (k in count) for (r = 1; r <= count[k]; r++) e += v[k, "socket_errors", r] + v[k, "non2xx", r]
  printf "\n\nerrors (socket + non-2xx) over all runs: %d\n", e
  m = ratios("p50_us"); m90 = ratios("p90_us")
  printf "CHECK translated added latency / pass-through added latency, median of per-round ratios: p50 %.2fx, p90 %.2fx (limit 2x): %s\n",
    m, m90, (m <= 2 && e == 0) ? "PASS" : "FAIL"
}
