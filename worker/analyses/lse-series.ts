/**
 * S(t) = Σ_v p_v exp(t·x_v) for weights p_v ≥ 0 and |x_v| ≤ 1, from the power moments
 * μ_n = Σ_v p_v x_v^n, with a proven bound on the error: the attribution kernel's fast path
 * (importance.ts, docs/method.md §3).
 *
 * On [-1, 1], exp(t·x) = I_0(t) + 2 Σ_{n≥1} I_n(t) T_n(x) (Chebyshev series, I_n the modified
 * Bessel functions, T_n the Chebyshev polynomials). Cut after degree N it is a polynomial
 * P_N(x) = Σ_{n≤N} c_n(t) x^n with |exp(t·x) − P_N(x)| ≤ 2 Σ_{n>N} |I_n(t)| for every |x| ≤ 1, so
 * Σ_n c_n(t) μ_n is within μ_0 · 2 Σ_{n>N} I_n(|t|) of S(t). Since S(t) ≥ μ_0 e^{−|t|}, the
 * relative error is at most 2 e^{|t|} Σ_{n>N} I_n(|t|) ({@link truncationBound}).
 * {@link seriesDegree} picks the least N that keeps it under {@link SERIES_TOLERANCE}.
 *
 * The moments are GEMMs (a few MACs per vocabulary entry instead of one exponential), and the
 * coefficients are evaluated here in float64.
 */

/** Largest relative error of S(t) the truncation may add (below float32's resolution). */
export const SERIES_TOLERANCE = 1e-7;
/** Highest degree used; |t| beyond what it covers is scored by the exact kernel. */
export const SERIES_MAX_DEGREE = 8;

/** I_n(t) by its power series Σ_j (t/2)^{2j+n} / (j! (n+j)!): converges fast for |t| ≤ 2. */
export function besselI(n: number, t: number): number {
  const half = t / 2;
  let term = 1;
  for (let k = 1; k <= n; k++) term *= half / k;
  const q = half * half;
  let sum = term;
  for (let j = 1; j < 60; j++) {
    term *= q / (j * (n + j));
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return sum;
}

/** Bound on |Σ_n c_n(t) μ_n − S(t)| / S(t) for degree N and any p ≥ 0, |x| ≤ 1. */
export function truncationBound(absT: number, degree: number): number {
  let tail = 0;
  for (let n = degree + 1; n <= degree + 40; n++) {
    const term = besselI(n, absT);
    tail += term;
    if (term <= 1e-30 * tail) break;
  }
  return 2 * Math.exp(absT) * tail;
}

/** SERIES_LIMITS[N]: the largest |t| degree N covers within SERIES_TOLERANCE (index 0 unused). */
export const SERIES_LIMITS: readonly number[] = (() => {
  const limits = [0];
  for (let n = 1; n <= SERIES_MAX_DEGREE; n++) {
    let lo = 0;
    let hi = 4;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (truncationBound(mid, n) <= SERIES_TOLERANCE) lo = mid;
      else hi = mid;
    }
    limits.push(lo);
  }
  return limits;
})();

/** Largest |t| the series scores at all (SERIES_MAX_DEGREE's limit). */
export const SERIES_MAX_T = SERIES_LIMITS[SERIES_MAX_DEGREE]!;

/** Least degree (≥ 1) whose bound holds for every |t| ≤ absT; 0 when absT > SERIES_MAX_T. */
export function seriesDegree(absT: number): number {
  for (let n = 1; n <= SERIES_MAX_DEGREE; n++) if (absT <= SERIES_LIMITS[n]!) return n;
  return 0;
}

/** CHEBYSHEV[m][n]: coefficient of x^n in T_m(x). */
const CHEBYSHEV: readonly Float64Array[] = (() => {
  const rows = [Float64Array.of(1), Float64Array.of(0, 1)];
  for (let m = 2; m <= SERIES_MAX_DEGREE; m++) {
    const row = new Float64Array(m + 1);
    for (let n = 0; n < m; n++) row[n + 1]! += 2 * rows[m - 1]![n]!;
    for (let n = 0; n < m - 1; n++) row[n]! -= rows[m - 2]![n]!;
    rows.push(row);
  }
  return rows;
})();

/** Terms kept of each coefficient's series in t²: the next is below 1e-23 for |t| ≤ SERIES_MAX_T. */
const TERMS = 12;

/**
 * COEFFICIENTS[N][n * TERMS + i]: c_n(t) = t^n Σ_i COEFFICIENTS[N][n * TERMS + i] t^{2i} for degree N.
 * c_n(t) = Σ_{m ≤ N} ε_m [x^n]T_m · I_m(t) (ε_0 = 1, else 2), and I_m(t) = Σ_i (t/2)^{m+2i} / (i! (m+i)!).
 */
const COEFFICIENTS: readonly Float64Array[] = (() => {
  const factorial = (k: number) => {
    let f = 1;
    for (let i = 2; i <= k; i++) f *= i;
    return f;
  };
  const tables = [new Float64Array(0)];
  for (let N = 1; N <= SERIES_MAX_DEGREE; N++) {
    const table = new Float64Array((N + 1) * TERMS);
    for (let n = 0; n <= N; n++) {
      for (let i = 0; i < TERMS; i++) {
        const j = n + 2 * i; // the power of t
        let sum = 0;
        for (let m = n; m <= Math.min(N, j); m += 2)
          sum += ((m === 0 ? 1 : 2) * CHEBYSHEV[m]![n]!) / (2 ** j * factorial((j - m) / 2) * factorial((j + m) / 2));
        table[n * TERMS + i] = sum;
      }
    }
    tables.push(table);
  }
  return tables;
})();

/**
 * c_0..c_N of P_N for this t, written to `out` (length ≥ N + 1): Σ_n out[n] · μ_n ≈ S(t).
 * float64; each c_n(t) is close to t^n / n! (the Taylor coefficient) plus a small Chebyshev
 * correction, so the sum has no cancellation between terms.
 */
export function seriesCoefficients(t: number, degree: number, out: Float64Array): void {
  const table = COEFFICIENTS[degree]!;
  const t2 = t * t;
  let tn = 1;
  for (let n = 0; n <= degree; n++) {
    let acc = 0;
    for (let i = n * TERMS + TERMS - 1; i >= n * TERMS; i--) acc = acc * t2 + table[i]!;
    out[n] = acc * tn;
    tn *= t;
  }
}
