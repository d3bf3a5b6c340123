//! `torch.optim.Adam`.

use ndarray::{ArrayD, Zip};

use super::{check_hyper, Optimizer};
use crate::error::Result;
use crate::tensor::Tensor;

/// Hyper-parameters of [`Adam`], PyTorch's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (1e-3).
    pub lr: f64,
    /// Coefficients of the running averages of the gradient and its square ((0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator (1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient (0).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Per-parameter state: first and second moments and the step count.
type Moments = (ArrayD<f32>, ArrayD<f32>, i32);

/// Adam (`torch.optim.Adam`): `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
/// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
pub struct Adam {
    params: Vec<Tensor>,
    cfg: AdamConfig,
    state: Vec<Option<Moments>>,
}

impl Adam {
    /// An optimizer over `params`; errors on invalid hyper-parameters.
    pub fn new(params: Vec<Tensor>, cfg: AdamConfig) -> Result<Adam> {
        check_hyper("Adam", "learning rate", cfg.lr, None)?;
        check_hyper("Adam", "epsilon value", cfg.eps, None)?;
        check_hyper("Adam", "beta parameter at index 0", cfg.betas.0, Some(1.0))?;
        check_hyper("Adam", "beta parameter at index 1", cfg.betas.1, Some(1.0))?;
        check_hyper("Adam", "weight_decay value", cfg.weight_decay, None)?;
        let state = vec![None; params.len()];
        Ok(Adam { params, cfg, state })
    }
}

impl Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        let c = self.cfg;
        let (b1, b2) = (c.betas.0 as f32, c.betas.1 as f32);
        for (p, st) in self.params.iter().zip(&mut self.state) {
            let Some(mut g) = p.grad() else { continue };
            if c.weight_decay != 0.0 {
                let pd = p.data();
                let wd = c.weight_decay as f32;
                Zip::from(&mut g).and(&*pd).for_each(|g, &w| *g += wd * w);
            }
            let (m, v, t) = st
                .get_or_insert_with(|| (ArrayD::zeros(g.raw_dim()), ArrayD::zeros(g.raw_dim()), 0));
            *t += 1;
            Zip::from(&mut *m)
                .and(&g)
                .for_each(|m, &g| *m = b1 * *m + (1.0 - b1) * g);
            Zip::from(&mut *v)
                .and(&g)
                .for_each(|v, &g| *v = b2 * *v + (1.0 - b2) * g * g);
            let bc1 = 1.0 - c.betas.0.powi(*t);
            let bc2 = 1.0 - c.betas.1.powi(*t);
            let step = (c.lr / bc1) as f32;
            let sq2 = bc2.sqrt() as f32;
            let eps = c.eps as f32;
            p.update_data(|w| {
                Zip::from(w)
                    .and(&*m)
                    .and(&*v)
                    .for_each(|w, &m, &v| *w -= step * m / (v.sqrt() / sq2 + eps))
            });
        }
        Ok(())
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }
}
