//! `nn.BatchNorm1d`, `nn.BatchNorm2d`, `nn.BatchNorm3d`.

use crate::error::{NnError, Result};
use crate::functional::{self, BatchNormState};
use crate::layers::{repr, training_flag};
use crate::module::{Buffer, IntTensor, Module, Value};
use crate::tensor::Tensor;

/// Options of a batch norm, as PyTorch's constructor arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance (`1e-5`).
    pub eps: f64,
    /// Running-average factor (`0.1`); `None` for a cumulative average.
    pub momentum: Option<f64>,
    /// Learnable `weight` and `bias` (`true`).
    pub affine: bool,
    /// Keep running statistics (`true`).
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }
}

macro_rules! batch_norm_layer {
    ($name:ident, $ranks:expr, $expected:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Parameters `weight`, `bias`; buffers `running_mean`, `running_var`,
        /// `num_batches_tracked`, as PyTorch names them.
        pub struct $name {
            /// `gamma`, shape `(C)` (when affine).
            pub weight: Option<Tensor>,
            /// `beta`, shape `(C)` (when affine).
            pub bias: Option<Tensor>,
            /// Running mean, shape `(C)` (when tracking).
            pub running_mean: Option<Tensor>,
            /// Running (unbiased) variance, shape `(C)` (when tracking).
            pub running_var: Option<Tensor>,
            /// Training batches seen (when tracking).
            pub num_batches_tracked: Option<IntTensor>,
            /// eps, momentum, affine, track_running_stats.
            pub config: BatchNormConfig,
            num_features: usize,
            training: bool,
        }

        impl $name {
            /// A batch norm over `num_features` channels with PyTorch's defaults.
            pub fn new(num_features: usize) -> $name {
                $name::with_config(num_features, BatchNormConfig::default())
            }

            /// A batch norm with explicit options (weight 1, bias 0, mean 0, var 1).
            pub fn with_config(num_features: usize, config: BatchNormConfig) -> $name {
                let c = [num_features];
                let track = config.track_running_stats;
                $name {
                    weight: config
                        .affine
                        .then(|| Tensor::parameter(Tensor::ones(&c).to_array())),
                    bias: config
                        .affine
                        .then(|| Tensor::parameter(Tensor::zeros(&c).to_array())),
                    running_mean: track.then(|| Tensor::zeros(&c)),
                    running_var: track.then(|| Tensor::ones(&c)),
                    num_batches_tracked: track.then(|| IntTensor::scalar(0)),
                    config,
                    num_features,
                    training: true,
                }
            }

            /// Number of channels.
            pub fn num_features(&self) -> usize {
                self.num_features
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }

            fn forward(&mut self, input: Value) -> Result<Value> {
                let name = stringify!($name);
                let x = input.into_float(name)?;
                let s = x.shape();
                if !$ranks.contains(&s.len()) || s[1] != self.num_features {
                    return Err(NnError::input_shape(
                        name,
                        format!($expected, self.num_features),
                        &s,
                    ));
                }
                let track = self.training && self.config.track_running_stats;
                let batches = self
                    .num_batches_tracked
                    .as_ref()
                    .map_or(0, IntTensor::value)
                    + 1;
                let factor = match self.config.momentum {
                    _ if !track => 0.0,
                    Some(m) => m,
                    None => 1.0 / batches as f64,
                };
                let use_running = !self.training || self.config.track_running_stats;
                let st = BatchNormState {
                    running_mean: self.running_mean.as_ref().filter(|_| use_running),
                    running_var: self.running_var.as_ref().filter(|_| use_running),
                    weight: self.weight.as_ref(),
                    bias: self.bias.as_ref(),
                };
                let bn_training =
                    self.training || (self.running_mean.is_none() && self.running_var.is_none());
                let y = functional::batch_norm(
                    &x,
                    st,
                    bn_training,
                    factor as f32,
                    self.config.eps as f32,
                )
                .map_err(|e| match e {
                    NnError::InputShape { expected, got, .. } => NnError::InputShape {
                        module: name.to_string(),
                        expected,
                        got,
                    },
                    other => other,
                })?;
                if track {
                    if let Some(n) = &self.num_batches_tracked {
                        n.add_assign(1);
                    }
                }
                Ok(Value::Float(y))
            }

            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                let mut v = Vec::new();
                if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
                    v.push(("weight".to_string(), w.clone()));
                    v.push(("bias".to_string(), b.clone()));
                }
                v
            }

            fn local_buffers(&self) -> Vec<(String, Buffer)> {
                let mut v = Vec::new();
                if let (Some(m), Some(r), Some(n)) = (
                    &self.running_mean,
                    &self.running_var,
                    &self.num_batches_tracked,
                ) {
                    v.push(("running_mean".to_string(), Buffer::Float(m.clone())));
                    v.push(("running_var".to_string(), Buffer::Float(r.clone())));
                    v.push(("num_batches_tracked".to_string(), Buffer::Int(n.clone())));
                }
                v
            }

            fn extra_repr(&self) -> String {
                let c = &self.config;
                format!(
                    "{}, eps={}, momentum={}, affine={}, track_running_stats={}",
                    self.num_features,
                    repr::float(c.eps),
                    c.momentum.map_or("None".to_string(), repr::float),
                    repr::boolean(c.affine),
                    repr::boolean(c.track_running_stats)
                )
            }

            training_flag!();
        }
    };
}

batch_norm_layer!(
    BatchNorm1d,
    [2usize, 3],
    "(N, {}) or (N, {0}, L)",
    "Batch norm over `(N, C)` or `(N, C, L)` (`nn.BatchNorm1d`)."
);
batch_norm_layer!(
    BatchNorm2d,
    [4usize],
    "(N, {}, H, W)",
    "Batch norm over `(N, C, H, W)` (`nn.BatchNorm2d`)."
);
batch_norm_layer!(
    BatchNorm3d,
    [5usize],
    "(N, {}, D, H, W)",
    "Batch norm over `(N, C, D, H, W)` (`nn.BatchNorm3d`)."
);
