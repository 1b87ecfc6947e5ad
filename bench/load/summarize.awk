# Reads lines "NAME k=v k=v ..." (NAME is c1.X or sat.X with X in direct, floor, gateway; one line per
# round, in order) and prints a markdown table. Differences and ratios against direct are taken per
# round (the runs were back to back) and the median over rounds is reported, which cancels most of the
# machine's drift. "floor" is a minimal Kestrel + SocketsHttpHandler proxy: what any .NET proxy costs.
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
function diff(mode, who, key,    r, arr) { for (r = 1; r <= count[mode "." who]; r++) arr[r] = v[mode "." who, key, r] - v[mode ".direct", key, r]; return median(arr, count[mode "." who]) }
function ratio(mode, who, key,    r, arr) { for (r = 1; r <= count[mode "." who]; r++) arr[r] = v[mode "." who, key, r] / v[mode ".direct", key, r]; return median(arr, count[mode "." who]) }
function vs(mode, who, key, how) { return how == "diff" ? sprintf("+%.0f", diff(mode, who, key)) : sprintf("%.2f×", ratio(mode, who, key)) }
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
