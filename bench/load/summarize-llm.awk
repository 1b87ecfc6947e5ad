# Reads lines "NAME k=v k=v ..." (NAME is c1.X, ttft.X or sat.X with X in direct, gateway, portkey; one line per
# round, in order) and prints a markdown table. Differences and ratios against direct (and gateway vs portkey)
# are taken per round, the runs of a round being back to back, and the median over rounds is reported.
function median(arr, n,    i, j, t, a) {
  if (n == 0) return 0
  for (i = 1; i <= n; i++) a[i] = arr[i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  name = $1; r = ++count[name]
  for (i = 2; i <= NF; i++) { split($i, kv, "="); v[name, kv[1], r] = kv[2] }
}
function col(name, key,    r, arr) { for (r = 1; r <= count[name]; r++) arr[r] = v[name, key, r]; return median(arr, count[name]) }
function diff(a, b, key,    r, arr) { for (r = 1; r <= count[a]; r++) arr[r] = v[a, key, r] - v[b, key, r]; return median(arr, count[a]) }
function ratio(a, b, key,    r, arr) { for (r = 1; r <= count[a]; r++) arr[r] = v[b, key, r] ? v[a, key, r] / v[b, key, r] : 0; return median(arr, count[a]) }
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
