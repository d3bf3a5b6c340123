//! `nn.LayerNorm`, `nn.GroupNorm`, `nn.InstanceNorm2d`.

use crate::error::{NnError, Result};
use crate::functional as F;
use crate::layers::{repr, training_flag};
use crate::module::{Buffer, IntTensor, Module, Value};
use crate::tensor::{no_grad, Tensor};

fn rename(name: &str, e: NnError) -> NnError {
    match e {
        NnError::InputShape { expected, got, .. } => NnError::InputShape {
            module: name.to_string(),
            expected,
            got,
        },
        other => other,
    }
}

/// Normalizes over the trailing `normalized_shape` (`nn.LayerNorm`); parameters `weight`,
/// `bias` of that shape.
pub struct LayerNorm {
    /// The trailing dimensions normalized.
    pub normalized_shape: Vec<usize>,
    /// Added to the variance.
    pub eps: f64,
    /// Scale (when elementwise_affine).
    pub weight: Option<Tensor>,
    /// Shift (when elementwise_affine).
    pub bias: Option<Tensor>,
    training: bool,
}

impl LayerNorm {
    /// `LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True)`.
    pub fn new(normalized_shape: &[usize]) -> Result<LayerNorm> {
        LayerNorm::with_options(normalized_shape, 1e-5, true)
    }

    /// With explicit eps and affine flag.
    pub fn with_options(
        normalized_shape: &[usize],
        eps: f64,
        elementwise_affine: bool,
    ) -> Result<LayerNorm> {
        if normalized_shape.is_empty() {
            return Err(NnError::bad_arg(
                "LayerNorm",
                "normalized_shape must not be empty",
            ));
        }
        let p = |v: f32| {
            elementwise_affine
                .then(|| Tensor::parameter(Tensor::full(normalized_shape, v).to_array()))
        };
        Ok(LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            eps,
            weight: p(1.0),
            bias: p(0.0),
            training: true,
        })
    }
}

impl Module for LayerNorm {
    fn type_name(&self) -> &'static str {
        "LayerNorm"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = input.into_float("LayerNorm")?;
        let y = F::layer_norm(
            &x,
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps as f32,
        )
        .map_err(|e| rename("LayerNorm", e))?;
        Ok(Value::Float(y))
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.push(("weight".into(), w.clone()));
            v.push(("bias".into(), b.clone()));
        }
        v
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, eps={}, elementwise_affine={}",
            repr::tuple(&self.normalized_shape),
            repr::float(self.eps),
            repr::boolean(self.weight.is_some())
        )
    }
    training_flag!();
}

/// Normalizes over groups of channels (`nn.GroupNorm`); parameters `weight`, `bias` of `(C)`.
pub struct GroupNorm {
    /// Number of groups.
    pub num_groups: usize,
    /// Number of channels.
    pub num_channels: usize,
    /// Added to the variance.
    pub eps: f64,
    /// Scale (when affine).
    pub weight: Option<Tensor>,
    /// Shift (when affine).
    pub bias: Option<Tensor>,
    training: bool,
}

impl GroupNorm {
    /// `GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)`; channels must divide into groups.
    pub fn new(num_groups: usize, num_channels: usize) -> Result<GroupNorm> {
        GroupNorm::with_options(num_groups, num_channels, 1e-5, true)
    }

    /// With explicit eps and affine flag.
    pub fn with_options(
        num_groups: usize,
        num_channels: usize,
        eps: f64,
        affine: bool,
    ) -> Result<GroupNorm> {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            return Err(NnError::bad_arg(
                "GroupNorm",
                "num_channels must be divisible by num_groups",
            ));
        }
        let p =
            |v: f32| affine.then(|| Tensor::parameter(Tensor::full(&[num_channels], v).to_array()));
        Ok(GroupNorm {
            num_groups,
            num_channels,
            eps,
            weight: p(1.0),
            bias: p(0.0),
            training: true,
        })
    }
}

impl Module for GroupNorm {
    fn type_name(&self) -> &'static str {
        "GroupNorm"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = input.into_float("GroupNorm")?;
        let s = x.shape();
        if s.len() < 2 || s[1] != self.num_channels {
            return Err(NnError::input_shape(
                "GroupNorm",
                format!("(N, {}, *)", self.num_channels),
                &s,
            ));
        }
        let y = F::group_norm(
            &x,
            self.num_groups,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps as f32,
        )
        .map_err(|e| rename("GroupNorm", e))?;
        Ok(Value::Float(y))
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.push(("weight".into(), w.clone()));
            v.push(("bias".into(), b.clone()));
        }
        v
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, {}, eps={}, affine={}",
            self.num_groups,
            self.num_channels,
            repr::float(self.eps),
            repr::boolean(self.weight.is_some())
        )
    }
    training_flag!();
}

/// Normalizes each channel of each sample over `(H, W)` (`nn.InstanceNorm2d`; by default no
/// affine parameters and no running statistics).
pub struct InstanceNorm2d {
    /// Number of channels.
    pub num_features: usize,
    /// Added to the variance.
    pub eps: f64,
    /// Running-average factor for the running statistics.
    pub momentum: f64,
    /// Scale (when affine).
    pub weight: Option<Tensor>,
    /// Shift (when affine).
    pub bias: Option<Tensor>,
    /// Running mean (when tracking).
    pub running_mean: Option<Tensor>,
    /// Running variance (when tracking).
    pub running_var: Option<Tensor>,
    /// Present when tracking, as PyTorch registers it (instance norm never increments it).
    pub num_batches_tracked: Option<IntTensor>,
    training: bool,
}

impl InstanceNorm2d {
    /// `InstanceNorm2d(num_features)`: eps 1e-5, momentum 0.1, no affine, no running stats.
    pub fn new(num_features: usize) -> InstanceNorm2d {
        InstanceNorm2d::with_options(num_features, 1e-5, 0.1, false, false)
    }

    /// With explicit options.
    pub fn with_options(
        num_features: usize,
        eps: f64,
        momentum: f64,
        affine: bool,
        track_running_stats: bool,
    ) -> InstanceNorm2d {
        let c = [num_features];
        let p = |v: f32| affine.then(|| Tensor::parameter(Tensor::full(&c, v).to_array()));
        InstanceNorm2d {
            num_features,
            eps,
            momentum,
            weight: p(1.0),
            bias: p(0.0),
            running_mean: track_running_stats.then(|| Tensor::zeros(&c)),
            running_var: track_running_stats.then(|| Tensor::ones(&c)),
            num_batches_tracked: track_running_stats.then(|| IntTensor::scalar(0)),
            training: true,
        }
    }
}

impl Module for InstanceNorm2d {
    fn type_name(&self) -> &'static str {
        "InstanceNorm2d"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = input.into_float("InstanceNorm2d")?;
        let s = x.shape();
        if !(s.len() == 4 || s.len() == 3) || s[s.len() - 3] != self.num_features {
            return Err(NnError::input_shape(
                "InstanceNorm2d",
                format!("(N, {}, H, W) or ({0}, H, W)", self.num_features),
                &s,
            ));
        }
        let x4 = if s.len() == 3 { x.unsqueeze(0)? } else { x };
        let s4 = x4.shape();
        let (n, c) = (s4[0], s4[1]);
        let hw: usize = s4[2..].iter().product();
        let (y, means, vars) = match (&self.running_mean, &self.running_var, self.training) {
            (Some(rm), Some(rv), false) => {
                let st = F::BatchNormState {
                    running_mean: Some(rm),
                    running_var: Some(rv),
                    weight: self.weight.as_ref(),
                    bias: self.bias.as_ref(),
                };
                let y = F::batch_norm(&x4, st, false, 0.0, self.eps as f32)?;
                (y, Vec::new(), Vec::new())
            }
            _ => {
                if hw <= 1 && self.training {
                    return Err(NnError::input_shape(
                        "InstanceNorm2d",
                        "more than 1 spatial element per channel when training",
                        &s,
                    ));
                }
                let (y, m, v) = F::normalize_rows(&x4, n * c, self.eps as f32);
                (
                    F::channel_affine(y, c, self.weight.as_ref(), self.bias.as_ref())?,
                    m,
                    v,
                )
            }
        };
        if let (Some(rm), Some(rv), true) = (&self.running_mean, &self.running_var, self.training) {
            // As PyTorch: the batch average of the instances' statistics (unbiased variance).
            let mo = self.momentum;
            let unbias = hw as f64 / (hw.max(2) - 1) as f64;
            no_grad(|| {
                rm.update_data(|d| {
                    for (ch, r) in d.iter_mut().enumerate() {
                        let m: f64 = (0..n).map(|i| means[i * c + ch]).sum::<f64>() / n as f64;
                        *r = ((1.0 - mo) * f64::from(*r) + mo * m) as f32;
                    }
                });
                rv.update_data(|d| {
                    for (ch, r) in d.iter_mut().enumerate() {
                        let v: f64 =
                            (0..n).map(|i| vars[i * c + ch] * unbias).sum::<f64>() / n as f64;
                        *r = ((1.0 - mo) * f64::from(*r) + mo * v) as f32;
                    }
                });
            });
        }
        Ok(Value::Float(if s.len() == 3 {
            y.squeeze_dim(0)?
        } else {
            y
        }))
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.push(("weight".into(), w.clone()));
            v.push(("bias".into(), b.clone()));
        }
        v
    }
    fn local_buffers(&self) -> Vec<(String, Buffer)> {
        let mut v = Vec::new();
        if let (Some(m), Some(r)) = (&self.running_mean, &self.running_var) {
            v.push(("running_mean".into(), Buffer::Float(m.clone())));
            v.push(("running_var".into(), Buffer::Float(r.clone())));
        }
        if let Some(n) = &self.num_batches_tracked {
            v.push(("num_batches_tracked".into(), Buffer::Int(n.clone())));
        }
        v
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, eps={}, momentum={}, affine={}, track_running_stats={}",
            self.num_features,
            repr::float(self.eps),
            repr::float(self.momentum),
            repr::boolean(self.weight.is_some()),
            repr::boolean(self.running_mean.is_some())
        )
    }
    training_flag!();
}
