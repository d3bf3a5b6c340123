//! `torch.optim.SGD`.

use ndarray::{ArrayD, Zip};

use super::{check_hyper, Optimizer};
use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// Hyper-parameters of [`Sgd`], PyTorch's names and defaults (except `lr`, which is required).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0).
    pub momentum: f64,
    /// Dampening of the momentum (0).
    pub dampening: f64,
    /// L2 penalty (0).
    pub weight_decay: f64,
    /// Nesterov momentum (false).
    pub nesterov: bool,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> SgdConfig {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Sets the momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }

    /// Sets the weight decay.
    pub fn weight_decay(mut self, w: f64) -> Self {
        self.weight_decay = w;
        self
    }

    /// Sets Nesterov momentum.
    pub fn nesterov(mut self, n: bool) -> Self {
        self.nesterov = n;
        self
    }
}

/// Stochastic gradient descent with momentum (`torch.optim.SGD`):
/// `d = g + wd * p; buf = momentum * buf + (1 - dampening) * d` (the first step `buf = d`);
/// `d = nesterov ? d + momentum * buf : buf; p -= lr * d`.
pub struct Sgd {
    params: Vec<Tensor>,
    cfg: SgdConfig,
    buffers: Vec<Option<ArrayD<f32>>>,
}

impl Sgd {
    /// An optimizer over `params`; errors on negative or non-finite hyper-parameters, or
    /// Nesterov without momentum (or with dampening).
    pub fn new(params: Vec<Tensor>, cfg: SgdConfig) -> Result<Sgd> {
        check_hyper("SGD", "learning rate", cfg.lr, None)?;
        check_hyper("SGD", "momentum value", cfg.momentum, None)?;
        check_hyper("SGD", "dampening", cfg.dampening, None)?;
        check_hyper("SGD", "weight_decay value", cfg.weight_decay, None)?;
        if cfg.nesterov && (cfg.momentum <= 0.0 || cfg.dampening != 0.0) {
            return Err(NnError::bad_arg(
                "SGD",
                "Nesterov momentum requires a momentum and zero dampening",
            ));
        }
        let buffers = vec![None; params.len()];
        Ok(Sgd {
            params,
            cfg,
            buffers,
        })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        let c = self.cfg;
        let (lr, m, damp, wd) = (
            c.lr as f32,
            c.momentum as f32,
            c.dampening as f32,
            c.weight_decay as f32,
        );
        for (p, buf) in self.params.iter().zip(&mut self.buffers) {
            let Some(mut d) = p.grad() else { continue };
            if wd != 0.0 {
                let pd = p.data();
                Zip::from(&mut d).and(&*pd).for_each(|g, &w| *g += wd * w);
            }
            if m != 0.0 {
                let b = match buf.take() {
                    None => d.clone(),
                    Some(mut b) => {
                        Zip::from(&mut b)
                            .and(&d)
                            .for_each(|b, &g| *b = m * *b + (1.0 - damp) * g);
                        b
                    }
                };
                if c.nesterov {
                    Zip::from(&mut d).and(&b).for_each(|g, &bv| *g += m * bv);
                } else {
                    d = b.clone();
                }
                *buf = Some(b);
            }
            p.update_data(|w| Zip::from(w).and(&d).for_each(|w, &g| *w -= lr * g));
        }
        Ok(())
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }
}
