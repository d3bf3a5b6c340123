//! Finite-difference gradient checks (`torch.autograd.gradcheck`) for any computation over leaf
//! tensors: module parameters, inputs made with [`Tensor::parameter`], or both.

use std::fmt;

use crate::error::Result;
use crate::rng::Rng;
use crate::tensor::{no_grad, Tensor};

/// Step and tolerances of a gradient check.
#[derive(Debug, Clone, Copy)]
pub struct GradCheckOptions {
    /// Finite-difference step (central differences).
    pub eps: f32,
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
}

impl Default for GradCheckOptions {
    fn default() -> Self {
        GradCheckOptions {
            eps: 1e-3,
            atol: 2e-3,
            rtol: 2e-2,
        }
    }
}

/// The outcome of [`gradcheck`]: the worst disagreement found.
#[derive(Debug, Clone)]
pub struct GradCheckReport {
    /// Number of gradient entries compared.
    pub checked: usize,
    /// Entries outside the tolerance.
    pub failures: usize,
    /// Worst entry by `|analytic - numeric| - (atol + rtol * |numeric|)`:
    /// (leaf index, element index, analytic, numeric).
    pub worst: Option<(usize, usize, f32, f32)>,
}

impl GradCheckReport {
    /// True if every entry agreed within the tolerance.
    pub fn is_ok(&self) -> bool {
        self.failures == 0
    }
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} gradient entries off",
            self.failures, self.checked
        )?;
        if let Some((leaf, i, a, n)) = self.worst {
            write!(
                f,
                "; worst: leaf {leaf} element {i}: analytic {a}, numeric {n}"
            )?;
        }
        Ok(())
    }
}

/// Compares the gradients backward computes for `leaves` with central finite differences of
/// `f`, a computation reading the leaves. The scalar checked is `sum(f() * r)` for a fixed
/// random `r`, so every output element contributes with its own weight.
pub fn gradcheck(
    leaves: &[Tensor],
    mut f: impl FnMut() -> Result<Tensor>,
    opts: GradCheckOptions,
) -> Result<GradCheckReport> {
    for l in leaves {
        l.zero_grad();
    }
    let out = f()?;
    let mut rng = Rng::new(1234);
    let weights: Vec<f32> = (0..out.len()).map(|_| rng.uniform(0.5, 1.5)).collect();
    let w = Tensor::from_vec(&out.shape(), weights)?;
    let loss = out.mul(&w)?.sum();
    loss.backward()?;
    let mut eval = || -> Result<f64> {
        let o = no_grad(&mut f)?;
        let d = o.data();
        let wd = w.data();
        Ok(d.iter()
            .zip(wd.iter())
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum())
    };
    let mut report = GradCheckReport {
        checked: 0,
        failures: 0,
        worst: None,
    };
    let mut worst_excess = f32::NEG_INFINITY;
    for (li, leaf) in leaves.iter().enumerate() {
        let analytic = leaf
            .grad()
            .unwrap_or_else(|| ndarray::ArrayD::zeros(leaf.shape()));
        for i in 0..leaf.len() {
            let orig = leaf.data().as_slice().expect("contiguous")[i];
            leaf.update_data(|d| d.as_slice_mut().expect("contiguous")[i] = orig + opts.eps);
            let plus = eval()?;
            leaf.update_data(|d| d.as_slice_mut().expect("contiguous")[i] = orig - opts.eps);
            let minus = eval()?;
            leaf.update_data(|d| d.as_slice_mut().expect("contiguous")[i] = orig);
            let numeric = ((plus - minus) / (2.0 * f64::from(opts.eps))) as f32;
            let a = analytic.as_slice().expect("contiguous")[i];
            let excess = (a - numeric).abs() - (opts.atol + opts.rtol * numeric.abs());
            report.checked += 1;
            if excess > 0.0 || !a.is_finite() {
                report.failures += 1;
            }
            if excess > worst_excess {
                worst_excess = excess;
                report.worst = Some((li, i, a, numeric));
            }
        }
    }
    Ok(report)
}
