# Medians of repeated benchmark rows: input rows "LABEL KEY v3 v4 ..." (as printed by
# echo_compare.sh and wrk_measure.sh), output one row per (LABEL, KEY) with the median of every
# numeric column 3..NF, in the order the pairs first appeared. Latencies printed by wrk with a
# unit ("587.00us", "1.58ms", "1.2s") become microseconds; a trailing "%" is dropped.
# Used as: awk -v cols=6 -f benches/support/medians.awk ROWS
function us(v) {
  if (v ~ /us$/) { sub(/us$/, "", v); return v + 0 }
  if (v ~ /ms$/) { sub(/ms$/, "", v); return v * 1000 }
  if (v ~ /s$/) { sub(/s$/, "", v); return v * 1e6 }
  sub(/%$/, "", v)
  return v + 0
}
function median(key, col,    n, i, j, t, a) {
  n = count[key]
  for (i = 1; i <= n; i++) a[i] = val[key, col, i]
  for (i = 2; i <= n; i++) {          # insertion sort: n is a handful of runs
    t = a[i]
    for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
    a[j + 1] = t
  }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  key = $1 SUBSEP $2
  if (!(key in count)) { order[++keys] = key; label[key] = $1; sub2[key] = $2 }
  count[key]++
  for (c = 3; c <= cols; c++) val[key, c, count[key]] = us($c)
}
END {
  for (k = 1; k <= keys; k++) {
    key = order[k]
    printf "%-9s %7s", label[key], sub2[key]
    for (c = 3; c <= cols; c++) printf " %12.2f", median(key, c)
    printf "   (median of %d)\n", count[key]
  }
}
