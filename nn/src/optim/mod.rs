//! Optimizers (`torch.optim`): [`Sgd`] with momentum and [`Adam`].

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// An optimizer over a fixed list of parameters.
pub trait Optimizer {
    /// Updates every parameter that has a gradient (`optimizer.step()`).
    fn step(&mut self) -> Result<()>;

    /// The parameters being optimized.
    fn params(&self) -> &[Tensor];

    /// Clears the gradients of the parameters (`optimizer.zero_grad()`).
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }
}

pub(crate) fn check_hyper(op: &str, name: &str, v: f64, max: Option<f64>) -> Result<()> {
    let ok = v.is_finite() && v >= 0.0 && max.is_none_or(|m| v < m);
    if ok {
        Ok(())
    } else {
        Err(NnError::bad_arg(op, format!("invalid {name}: {v}")))
    }
}
