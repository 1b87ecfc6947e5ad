# Reads the lines of run.sh with a baseline build ("NAME k=v ...", NAME c1.X or sat.X, X in gateway and baseline) and
# prints this gateway against the older build, per round then the median (with rounds.awk). Positive latency
# differences mean this build adds time; a throughput ratio below 1 means it serves less.
END {
  print "| metric | baseline | gateway | gateway vs baseline |"
  print "|---|---:|---:|---:|"
  split("c1 p50_us c=1 p50 latency (µs);c1 p99_us c=1 p99 latency (µs);sat p50_us saturation p50 latency (µs);sat p99_us saturation p99 latency (µs)", rows, ";")
  for (i = 1; i <= 4; i++) {
    n = split(rows[i], f, " "); label = f[3]; for (j = 4; j <= n; j++) label = label " " f[j]
    printf "| %s | %.0f | %.0f | %+.0f |\n", label, col(f[1] ".baseline", f[2]), col(f[1] ".gateway", f[2]), diff(f[1] ".gateway", f[1] ".baseline", f[2])
  }
  printf "| c=1 req/s | %.0f | %.0f | %.3f× |\n", col("c1.baseline", "rps"), col("c1.gateway", "rps"), ratio("c1.gateway", "c1.baseline", "rps")
  printf "| saturation req/s | %.0f | %.0f | %.3f× |\n", col("sat.baseline", "rps"), col("sat.gateway", "rps"), ratio("sat.gateway", "sat.baseline", "rps")
  printf "| proxy CPU per request, saturation (µs) | %.1f | %.1f | %+.1f |\n", col("sat.baseline", "proxy_cpu_us"), col("sat.gateway", "proxy_cpu_us"), diff("sat.gateway", "sat.baseline", "proxy_cpu_us")
}
