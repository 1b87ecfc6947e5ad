# Shared by summarize.awk and summarize-llm.awk: reads lines "NAME k=v k=v ..." (one line per run; the runs of
# one round back to back, rounds in order) and gives per-name medians, and per-round differences and ratios of
# two names with their median over rounds, which cancels most of the machine's drift between rounds.
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
