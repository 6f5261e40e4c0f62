/** Statistics of a benchmark's runs: medians, percentiles and the spread between runs. */

/** The median; NaN for no values. */
export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** The p-th percentile (nearest rank, as ping summaries use); NaN for no values. */
export function percentile(xs: readonly number[], p: number): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  if (p === 50 && v.length % 2 === 0) return (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length, Math.max(1, rank)) - 1]!;
}

/** (max - min) / median: how far apart the runs were; 0 for one run, NaN for none. */
export function spread(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return NaN;
  const m = median(v);
  return m === 0 ? 0 : (Math.max(...v) - Math.min(...v)) / m;
}

/** A measured quantity over its runs. */
export interface Series {
  runs: number[];
  median: number;
  spread: number;
}

export function series(runs: number[]): Series {
  return { runs, median: median(runs), spread: spread(runs) };
}
