/**
 * The moment series behind the attribution kernel (worker/analyses/lse-series.ts): its degree
 * limits, its error bound, and S(t) = Σ_v p_v exp(t x_v) from moments against a float64 sum.
 */
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../core/index.ts";
import {
  besselI,
  SERIES_LIMITS,
  SERIES_MAX_DEGREE,
  SERIES_MAX_T,
  SERIES_TOLERANCE,
  seriesCoefficients,
  seriesDegree,
  truncationBound,
} from "../../worker/analyses/lse-series.ts";

/** P_N(x) = Σ_n c_n x^n (Horner). */
function polynomial(c: Float64Array, degree: number, x: number): number {
  let y = 0;
  for (let n = degree; n >= 0; n--) y = y * x + c[n]!;
  return y;
}

describe("lse-series", () => {
  it("covers |t| up to these limits per degree (golden, 1e-4)", () => {
    const golden = [0.0006, 0.0133, 0.065, 0.1739, 0.3417, 0.5614, 0.8238, 1.1201];
    expect(SERIES_LIMITS.length).toBe(SERIES_MAX_DEGREE + 1);
    golden.forEach((limit, i) => expect(Math.abs(SERIES_LIMITS[i + 1]! - limit)).toBeLessThan(1e-4));
    expect(SERIES_MAX_T).toBe(SERIES_LIMITS[SERIES_MAX_DEGREE]);
  });

  it("picks the least degree whose limit covers |t|, and none beyond the last", () => {
    expect(seriesDegree(0)).toBe(1);
    for (let n = 1; n <= SERIES_MAX_DEGREE; n++) {
      expect(seriesDegree(SERIES_LIMITS[n]!)).toBe(n);
      expect(seriesDegree(SERIES_LIMITS[n]! * 1.0001)).toBe(n === SERIES_MAX_DEGREE ? 0 : n + 1);
    }
  });

  it("tabulates c_n(t) = Σ_m ε_m [x^n]T_m(x) I_m(t) to float64 precision", () => {
    // Chebyshev polynomials' monomial coefficients, T_{m+1} = 2x T_m - T_{m-1}.
    const T: number[][] = [[1], [0, 1]];
    for (let m = 2; m <= SERIES_MAX_DEGREE; m++)
      T.push(Array.from({ length: m + 1 }, (_, n) => 2 * (T[m - 1]![n - 1] ?? 0) - (T[m - 2]![n] ?? 0)));
    const c = new Float64Array(SERIES_MAX_DEGREE + 1);
    for (let N = 1; N <= SERIES_MAX_DEGREE; N++) {
      for (const t of [SERIES_LIMITS[N]!, -0.3 * SERIES_LIMITS[N]!, 1e-3]) {
        seriesCoefficients(t, N, c);
        for (let n = 0; n <= N; n++) {
          let want = 0;
          for (let m = n; m <= N; m++) want += (m === 0 ? 1 : 2) * (T[m]![n] ?? 0) * besselI(m, t);
          expect(Math.abs(c[n]! - want), `N ${N} n ${n} t ${t}`).toBeLessThanOrEqual(
            1e-14 * Math.max(1e-300, Math.abs(want)) + 1e-300,
          );
        }
      }
    }
  });

  it("keeps |P_N(x) - exp(t x)| within the bound on [-1, 1], and the bound within the tolerance at each limit", () => {
    const c = new Float64Array(SERIES_MAX_DEGREE + 1);
    for (let n = 1; n <= SERIES_MAX_DEGREE; n++) {
      for (const t of [SERIES_LIMITS[n]!, -SERIES_LIMITS[n]!, SERIES_LIMITS[n]! / 3]) {
        seriesCoefficients(t, n, c);
        const bound = truncationBound(Math.abs(t), n);
        expect(bound).toBeLessThanOrEqual(SERIES_TOLERANCE * (1 + 1e-9));
        let worst = 0;
        for (let i = 0; i <= 4000; i++) {
          const x = -1 + i / 2000;
          worst = Math.max(worst, Math.abs(polynomial(c, n, x) - Math.exp(t * x)));
        }
        // The bound is relative to S ≥ e^{-|t|}; the absolute error it allows is bound · e^{-|t|}.
        expect(worst).toBeLessThanOrEqual(bound * Math.exp(-Math.abs(t)) * (1 + 1e-6) + 1e-15);
      }
    }
  });

  it("gives S(t) from moments within the tolerance of a float64 sum", () => {
    const rng = mulberry32(11);
    const V = 500;
    const p = Float64Array.from({ length: V }, () => Math.exp(6 * rng.next()));
    const x = Float64Array.from({ length: V }, () => 2 * rng.next() - 1);
    const mu = new Float64Array(SERIES_MAX_DEGREE + 1);
    for (let v = 0; v < V; v++) for (let n = 0; n <= SERIES_MAX_DEGREE; n++) mu[n]! += p[v]! * x[v]! ** n;
    const c = new Float64Array(SERIES_MAX_DEGREE + 1);
    for (const t of [1e-5, -0.004, 0.05, -0.17, 0.3, -0.5, 0.8, -1.1]) {
      const n = seriesDegree(Math.abs(t));
      seriesCoefficients(t, n, c);
      let fromMoments = 0;
      for (let d = 0; d <= n; d++) fromMoments += c[d]! * mu[d]!;
      let exact = 0;
      for (let v = 0; v < V; v++) exact += p[v]! * Math.exp(t * x[v]!);
      expect(Math.abs(fromMoments - exact) / exact, `t = ${t}, degree ${n}`).toBeLessThanOrEqual(SERIES_TOLERANCE);
    }
  });
});
