//! Comparisons with FORMAT.md's tolerances; each records its worst error.

use qtensor::{QParams, QTensor};

use super::fixture::Tensor;

/// Accumulates the comparisons of one case.
#[derive(Debug, Default)]
pub struct Checker {
    failures: Vec<String>,
    notes: Vec<String>,
}

/// The verdict on one case.
#[derive(Debug)]
pub struct Verdict {
    /// True if every comparison held.
    pub passed: bool,
    /// The failed comparisons, or notes (off-by-one counts) for a pass.
    pub detail: String,
}

impl Checker {
    /// A fresh checker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failure directly.
    pub fn fail(&mut self, msg: impl Into<String>) {
        self.failures.push(msg.into());
    }

    /// Integer results: equal, or off by one on at most 1% of the elements.
    pub fn ints(&mut self, what: &str, got: &[i64], want: &[i64]) {
        if got.len() != want.len() {
            return self.fail(format!(
                "{what}: {} values, expected {}",
                got.len(),
                want.len()
            ));
        }
        let mut off_by_one = 0usize;
        let mut worst = (0i64, 0usize);
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let d = (g - w).abs();
            if d == 1 {
                off_by_one += 1;
            }
            if d > worst.0 {
                worst = (d, i);
            }
        }
        let allowed = want.len() / 100;
        if worst.0 > 1 {
            let i = worst.1;
            self.fail(format!(
                "{what}: worst error {} at index {i} (got {}, expected {}); {off_by_one} off by one",
                worst.0, got[i], want[i]
            ));
        } else if off_by_one > allowed {
            self.fail(format!(
                "{what}: {off_by_one} of {} values off by one (at most {allowed} allowed)",
                want.len()
            ));
        } else if off_by_one > 0 {
            self.notes
                .push(format!("{what}: {off_by_one} of {} off by one", want.len()));
        }
    }

    /// Float results: every element within `tol` (absolute).
    pub fn floats(&mut self, what: &str, got: &[f32], want: &[f32], tol: f64) {
        if got.len() != want.len() {
            return self.fail(format!(
                "{what}: {} values, expected {}",
                got.len(),
                want.len()
            ));
        }
        let mut worst = (0.0f64, 0usize);
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let d = if g.is_nan() || w.is_nan() {
                if g.is_nan() && w.is_nan() {
                    0.0
                } else {
                    f64::INFINITY
                }
            } else if g == w {
                0.0
            } else {
                (f64::from(g) - f64::from(w)).abs()
            };
            if d > worst.0 {
                worst = (d, i);
            }
        }
        if worst.0 > tol {
            let i = worst.1;
            self.fail(format!(
                "{what}: worst error {:.3e} at index {i} (got {}, expected {}), tolerance {tol:.3e}",
                worst.0, got[i], want[i]
            ));
        }
    }

    /// Pure float results: within `1e-5` relative to the expected tensor's largest magnitude.
    pub fn floats_rel(&mut self, what: &str, got: &[f32], want: &[f32]) {
        let max = want.iter().fold(0.0f64, |m, &w| m.max(f64::from(w).abs()));
        self.floats(what, got, want, 1e-5 * max.max(1e-30));
    }

    /// A float scalar within `1e-5` relative (or absolute below 1).
    pub fn scalar(&mut self, what: &str, got: f64, want: f64) {
        let tol = 1e-5 * want.abs().max(1.0);
        if (got - want).abs() > tol || got.is_nan() != want.is_nan() {
            self.fail(format!("{what}: got {got}, expected {want}"));
        }
    }

    /// Scales within 1e-6 relative.
    pub fn scales(&mut self, what: &str, got: &[f64], want: &[f64]) {
        if got.len() != want.len() {
            return self.fail(format!(
                "{what}: {} scales, expected {}",
                got.len(),
                want.len()
            ));
        }
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            if (g - w).abs() > 1e-6 * w.abs() {
                return self.fail(format!("{what}[{i}]: scale {g}, expected {w}"));
            }
        }
    }

    /// Zero points equal.
    pub fn zero_points(&mut self, what: &str, got: &[i64], want: &[i64]) {
        if got != want {
            self.fail(format!("{what}: zero points {got:?}, expected {want:?}"));
        }
    }

    /// A quantized result: shape, dtype, qparams and integer values.
    pub fn qtensor(&mut self, what: &str, got: &QTensor, want: &Tensor) {
        if got.shape() != want.shape.as_slice() {
            return self.fail(format!(
                "{what}: shape {:?}, expected {:?}",
                got.shape(),
                want.shape
            ));
        }
        if Some(got.dtype()) != want.qdtype() {
            return self.fail(format!(
                "{what}: dtype {}, expected {}",
                got.dtype().name(),
                want.dtype
            ));
        }
        match (got.qparams(), want.qparams()) {
            (
                QParams::PerTensor { scale, zero_point },
                Ok(QParams::PerTensor {
                    scale: ws,
                    zero_point: wz,
                }),
            ) => {
                self.scales(&format!("{what}.scale"), &[*scale], &[ws]);
                self.zero_points(&format!("{what}.zero_point"), &[*zero_point], &[wz]);
            }
            (
                QParams::PerChannel {
                    scales,
                    zero_points,
                    axis,
                },
                Ok(QParams::PerChannel {
                    scales: ws,
                    zero_points: wz,
                    axis: wa,
                }),
            ) => {
                self.scales(&format!("{what}.scales"), scales, &ws);
                self.zero_points(&format!("{what}.zero_points"), zero_points, &wz);
                if *axis != wa {
                    self.fail(format!("{what}.axis: {axis}, expected {wa}"));
                }
            }
            (g, w) => self.fail(format!("{what}: qparams {g:?}, expected {w:?}")),
        }
        let ints: Vec<i64> = got.int_repr().to_i64().iter().copied().collect();
        self.ints(&format!("{what}.int_repr"), &ints, &want.int_repr);
    }

    /// The verdict.
    pub fn finish(self) -> Verdict {
        if self.failures.is_empty() {
            Verdict {
                passed: true,
                detail: self.notes.join("; "),
            }
        } else {
            Verdict {
                passed: false,
                detail: self.failures.join("; "),
            }
        }
    }
}
