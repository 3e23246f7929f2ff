//! Pearson's chi-square test against the uniform distribution: is a
//! Service's choice of backend even? The statistic is
//! Σ (observed − expected)² / expected over the backends, and its p-value
//! the upper tail of the chi-square distribution with (backends − 1)
//! degrees of freedom, i.e. the regularized upper incomplete gamma function
//! Q(df/2, x/2). Degrees of freedom are whole numbers, so Γ(df/2) is
//! computed exactly from Γ(1) = 1 and Γ(½) = √π.

use serde::Serialize;

/// The outcome of the test over some counts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uniformity {
    pub categories: usize,
    pub statistic: f64,
    /// The probability of a spread at least this uneven if every category
    /// were equally likely; tests usually reject below 0.001.
    pub p_value: f64,
}

/// Where the test suite calls a Service's spread uneven. An even spread
/// falls below it once in a million checks; at 0.001 it did once in a
/// thousand, and the suite makes about a dozen such checks per run (CI
/// failed on a three-way spread of 1,038 / 896 / 1,066 flows, p = 0.00025).
/// A real bias still falls far below it at the suite's 3,000 flows: one
/// backend at 40 % gives p ≈ 1e-13, one never chosen p < 1e-100.
pub const SUITE_REJECTS_BELOW: f64 = 1e-6;

/// The test over `counts` (one per backend, zeros included); `None` with
/// fewer than two categories or nothing counted.
pub fn uniform_test(counts: &[u64]) -> Option<Uniformity> {
    let total: u64 = counts.iter().sum();
    if counts.len() < 2 || total == 0 {
        return None;
    }
    let expected = total as f64 / counts.len() as f64;
    let statistic = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    Some(Uniformity {
        categories: counts.len(),
        statistic,
        p_value: chi_square_sf(statistic, counts.len() as u32 - 1),
    })
}

/// The p-value of `counts` against uniform (1 when the test does not apply).
pub fn uniform_p_value(counts: &[u64]) -> f64 {
    uniform_test(counts).map_or(1.0, |u| u.p_value)
}

/// P(X ≥ x) for X chi-square distributed with `df` degrees of freedom.
pub fn chi_square_sf(x: f64, df: u32) -> f64 {
    assert!(df > 0, "chi-square needs at least one degree of freedom");
    upper_gamma_regularized(df as f64 / 2.0, x / 2.0)
}

/// ln Γ(a) for a a positive multiple of ½.
fn ln_gamma_half_integer(a: f64) -> f64 {
    let (mut at, mut acc) = if a.fract() == 0.0 {
        (1.0, 0.0)
    } else {
        (0.5, 0.5 * std::f64::consts::PI.ln())
    };
    while at < a {
        acc += at.ln();
        at += 1.0;
    }
    acc
}

/// Q(a, x) = Γ(a, x) / Γ(a): the power series of the lower function below
/// x = a + 1 (where it converges fast), a continued fraction above.
fn upper_gamma_regularized(a: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-15;
    const TINY: f64 = 1e-300;
    if x <= 0.0 {
        return 1.0;
    }
    // x^a e^-x / Γ(a), the factor both expansions share.
    let front = (a * x.ln() - x - ln_gamma_half_integer(a)).exp();
    if x < a + 1.0 {
        let (mut term, mut sum, mut denom) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            denom += 1.0;
            term *= x / denom;
            sum += term;
            if term < sum * EPS {
                break;
            }
        }
        return (1.0 - front * sum).clamp(0.0, 1.0);
    }
    // Γ(a,x)/(x^a e^-x) = 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- …))),
    // evaluated by the modified Lentz method.
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    (front * h).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) {
        assert!((got - want).abs() < tol, "got {got}, want {want}");
    }

    #[test]
    fn critical_values_of_the_tables() {
        // The 5 % and 1 % and 0.1 % points of the usual chi-square tables.
        for (x, df, p) in [
            (3.841459, 1, 0.05),
            (6.634897, 1, 0.01),
            (5.991465, 2, 0.05),
            (13.815511, 2, 0.001),
            (7.814728, 3, 0.05),
            (9.487729, 4, 0.05),
            (11.070498, 5, 0.05),
            (18.307038, 10, 0.05),
            (29.588298, 10, 0.001),
            (124.342113, 100, 0.05),
        ] {
            close(chi_square_sf(x, df), p, 1e-6);
        }
    }

    #[test]
    fn closed_forms() {
        for x in [0.0, 0.1, 1.0, 2.5, 7.0, 30.0, 100.0] {
            // Two degrees of freedom: e^(-x/2); one: erfc(√(x/2)), whose
            // values at x = 1 and 4 are 0.3173105 and 0.0455003.
            close(chi_square_sf(x, 2), (-x / 2.0).exp(), 1e-12);
            // Four: e^(-x/2) (1 + x/2).
            close(chi_square_sf(x, 4), (-x / 2.0).exp() * (1.0 + x / 2.0), 1e-12);
        }
        close(chi_square_sf(1.0, 1), 0.3173105, 1e-7);
        close(chi_square_sf(4.0, 1), 0.0455003, 1e-7);
        assert_eq!(chi_square_sf(0.0, 3), 1.0);
    }

    #[test]
    fn ln_gamma_of_half_integers() {
        close(ln_gamma_half_integer(1.0), 0.0, 1e-15);
        close(ln_gamma_half_integer(5.0), 24f64.ln(), 1e-12);
        close(
            ln_gamma_half_integer(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-15,
        );
        // Γ(7/2) = 15√π/8.
        close(
            ln_gamma_half_integer(3.5),
            (15.0 * std::f64::consts::PI.sqrt() / 8.0).ln(),
            1e-12,
        );
    }

    #[test]
    fn even_counts_pass_and_skewed_ones_fail() {
        let even = uniform_test(&[1000, 1000, 1000]).unwrap();
        assert_eq!(even.statistic, 0.0);
        assert_eq!(even.p_value, 1.0);
        // Three categories: the p-value is e^(-x/2).
        let near = uniform_test(&[980, 1010, 1010]).unwrap();
        close(near.statistic, 0.6, 1e-12);
        close(near.p_value, (-0.3f64).exp(), 1e-12);
        let skewed = uniform_test(&[1500, 1000, 500]).unwrap();
        assert!(skewed.p_value < 1e-100, "{skewed:?}");
        // A backend that never answered counts as zero.
        assert!(uniform_p_value(&[1500, 1500, 0]) < 1e-100);
        // The suite's threshold: a 40 % backend at 3,000 flows is caught,
        // the spread CI once rejected at 0.001 is not.
        assert!(uniform_p_value(&[1200, 900, 900]) < SUITE_REJECTS_BELOW);
        assert!(uniform_p_value(&[1038, 896, 1066]) > SUITE_REJECTS_BELOW);
    }

    #[test]
    fn the_test_needs_two_categories_and_some_counts() {
        assert_eq!(uniform_test(&[10]), None);
        assert_eq!(uniform_test(&[0, 0, 0]), None);
        assert_eq!(uniform_p_value(&[]), 1.0);
    }
}
