//! Welch's t-test on two samples, from their raw values or from mean, standard deviation and
//! count.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean, sample standard deviation and count of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SampleStats {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (Bessel-corrected, `n − 1`).
    pub std_dev: f64,
    /// Number of values.
    pub count: u64,
}

impl SampleStats {
    /// The statistics of `values`; `None` when there are none or one is not finite.
    pub fn of(values: &[f64]) -> Option<SampleStats> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std_dev = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Some(SampleStats {
            mean,
            std_dev,
            count: values.len() as u64,
        })
    }

    /// The coefficient of variation (standard deviation over mean), the sample's relative
    /// step-to-step noise.
    pub fn relative_noise(&self) -> f64 {
        if self.mean > 0.0 {
            self.std_dev / self.mean
        } else {
            0.0
        }
    }
}

/// The result of Welch's unequal-variances t-test of `after − before`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WelchTest {
    /// `after.mean − before.mean`.
    pub difference: f64,
    /// The t statistic.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub degrees_of_freedom: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// 95 % confidence interval of the difference, low end.
    pub ci95_low: f64,
    /// 95 % confidence interval of the difference, high end.
    pub ci95_high: f64,
    /// Whether `p_value < 0.05`: the difference is larger than the samples' noise.
    pub significant: bool,
}

/// Welch's t-test (Welch 1947, "The generalization of 'Student's' problem when several
/// different population variances are involved", Biometrika 34) with the Welch–Satterthwaite
/// degrees of freedom. `None` when either sample has fewer than two values, or both have no
/// spread at all (nothing to test against).
pub fn welch_test(before: &SampleStats, after: &SampleStats) -> Option<WelchTest> {
    if before.count < 2 || after.count < 2 {
        return None;
    }
    let (n1, n2) = (before.count as f64, after.count as f64);
    let (v1, v2) = (before.std_dev.powi(2) / n1, after.std_dev.powi(2) / n2);
    let standard_error = (v1 + v2).sqrt();
    let difference = after.mean - before.mean;
    if standard_error.is_nan() || standard_error <= 0.0 || !standard_error.is_finite() {
        return None;
    }
    let degrees_of_freedom =
        (v1 + v2).powi(2) / (v1.powi(2) / (n1 - 1.0) + v2.powi(2) / (n2 - 1.0));
    let distribution = StudentsT::new(0.0, 1.0, degrees_of_freedom).ok()?;
    let t = difference / standard_error;
    let p_value = (2.0 * distribution.sf(t.abs())).clamp(0.0, 1.0);
    let critical = distribution.inverse_cdf(0.975);
    Some(WelchTest {
        difference,
        t,
        degrees_of_freedom,
        p_value,
        ci95_low: difference - critical * standard_error,
        ci95_high: difference + critical * standard_error,
        significant: p_value < 0.05,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_a_worked_example() {
        // Worked by hand from the formulas: t = −2.3227 and df = 16.043; Student's t table
        // for 16 degrees of freedom puts |t| between the 0.05 (2.120) and 0.02 (2.583)
        // two-sided critical values.
        let a = [
            19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0, 19.8, 20.4, 19.6, 17.8,
            18.5,
        ];
        let b = [
            28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0,
            23.9,
        ];
        let (sa, sb) = (SampleStats::of(&a), SampleStats::of(&b));
        let test = sa.zip(sb).and_then(|(sa, sb)| welch_test(&sb, &sa));
        let Some(test) = test else {
            panic!("the samples have spread");
        };
        assert!((test.t - -2.3227).abs() < 1e-3, "{test:?}");
        assert!((test.degrees_of_freedom - 16.043).abs() < 1e-2, "{test:?}");
        assert!(test.p_value > 0.02 && test.p_value < 0.05, "{test:?}");
        assert!(test.significant, "{test:?}");
        assert!(test.ci95_low < test.difference && test.difference < test.ci95_high);
    }

    #[test]
    fn equal_noisy_samples_are_not_significant() {
        let a = SampleStats {
            mean: 10.0,
            std_dev: 2.0,
            count: 10,
        };
        let b = SampleStats {
            mean: 10.5,
            std_dev: 2.0,
            count: 10,
        };
        let Some(test) = welch_test(&a, &b) else {
            panic!("testable");
        };
        assert!(!test.significant);
        assert!(test.ci95_low < 0.0 && test.ci95_high > 0.0);
        // df for equal variances and counts is n1 + n2 − 2.
        assert!((test.degrees_of_freedom - 18.0).abs() < 1e-9);
    }

    #[test]
    fn one_value_is_not_testable() {
        let a = SampleStats {
            mean: 1.0,
            std_dev: 0.0,
            count: 1,
        };
        let b = SampleStats {
            mean: 2.0,
            std_dev: 0.1,
            count: 5,
        };
        assert!(welch_test(&a, &b).is_none());
    }
}
