//! `torch.ao.nn.quantized.LayerNorm`, `GroupNorm`, `InstanceNorm1d/2d/3d`.

use nn::{Module, NnError, Result, Value};

use super::util::{op_err, py_bool, py_float, py_tuple, quant_input};
use crate::functional::{self as F, NormParams, QOpError};
use crate::state::{
    check_local_state, commit_replacement, out_qparams, read_out_qparams, rejected, QStateTensor,
    QuantizedState, QuantizedStateDict, StagedState, StateError,
};

/// Float affine parameters and the output's quantization, shared by the modules below.
#[derive(Debug, Clone)]
struct Affine {
    weight: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    eps: f64,
    scale: f64,
    zero_point: i64,
}

impl Affine {
    fn new(
        weight: Option<Vec<f32>>,
        bias: Option<Vec<f32>>,
        eps: f64,
        scale: f64,
        zero_point: i64,
        len: usize,
    ) -> Result<Affine, QOpError> {
        qtensor::check_scale("output scale", scale)?;
        if !(-128..=255).contains(&zero_point) {
            return Err(QOpError::Shape {
                op: "norm",
                msg: format!("output zero_point {zero_point} fits neither quint8 nor qint8"),
            });
        }
        for (what, v) in [("weight", &weight), ("bias", &bias)] {
            if let Some(v) = v.as_ref().filter(|v| v.len() != len) {
                return Err(QOpError::Shape {
                    op: "norm",
                    msg: format!("{what} has {} values, expected {len}", v.len()),
                });
            }
        }
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(QOpError::Shape {
                op: "norm",
                msg: format!("eps must be finite and non-negative, got {eps}"),
            });
        }
        Ok(Affine {
            weight,
            bias,
            eps,
            scale,
            zero_point,
        })
    }

    /// `weight` and `bias` (when affine, shaped `shape`), `scale`, `zero_point`.
    fn entries(&self, shape: &[usize]) -> Vec<(String, QStateTensor)> {
        let mut out = Vec::new();
        for (name, v) in [("weight", &self.weight), ("bias", &self.bias)] {
            if let Some(t) = v
                .as_ref()
                .and_then(|v| QStateTensor::f32_with_shape(v, shape))
            {
                out.push((name.to_string(), t));
            }
        }
        out.extend(out_qparams(self.scale, self.zero_point));
        out
    }

    /// The same configuration with the values of `state`.
    fn staged(&self, state: &QuantizedStateDict, len: usize) -> Result<Affine, StateError> {
        let (scale, zero_point) = read_out_qparams(state, -128..=255)?;
        let read = |name: &str, present: bool| present.then(|| state.f32_values(name)).transpose();
        let weight = read("weight", self.weight.is_some())?;
        let bias = read("bias", self.bias.is_some())?;
        Affine::new(weight, bias, self.eps, scale, zero_point, len).map_err(rejected("weight"))
    }

    fn params(&self) -> NormParams<'_> {
        NormParams {
            weight: self.weight.as_deref(),
            bias: self.bias.as_deref(),
            eps: self.eps,
            scale: self.scale,
            zero_point: self.zero_point,
        }
    }
}

macro_rules! module_tail {
    () => {
        fn is_training(&self) -> bool {
            self.training
        }
        fn set_training_flag(&mut self, training: bool) {
            self.training = training;
        }
    };
}

/// Quantized layer norm over the trailing `normalized_shape` dimensions (`QuantizedLayerNorm`).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    normalized_shape: Vec<usize>,
    affine: Affine,
    training: bool,
}

impl LayerNorm {
    /// A layer norm with optional elementwise `weight` / `bias` (`prod(normalized_shape)` values
    /// each) and the output parameters.
    pub fn new(
        normalized_shape: &[usize],
        weight: Option<Vec<f32>>,
        bias: Option<Vec<f32>>,
        eps: f64,
        scale: f64,
        zero_point: i64,
    ) -> Result<LayerNorm, QOpError> {
        let n = normalized_shape.iter().product();
        Ok(LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            affine: Affine::new(weight, bias, eps, scale, zero_point, n)?,
            training: true,
        })
    }
}

/// `weight`, `bias` (when affine, shaped `normalized_shape`), `scale`, `zero_point`.
impl QuantizedState for LayerNorm {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        self.affine.entries(&self.normalized_shape)
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        let n = self.normalized_shape.iter().product();
        Ok(StagedState::new(LayerNorm {
            affine: self.affine.staged(state, n)?,
            ..self.clone()
        }))
    }

    commit_replacement!("QuantizedLayerNorm");
}

impl Module for LayerNorm {
    fn type_name(&self) -> &'static str {
        "QuantizedLayerNorm"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = quant_input("QuantizedLayerNorm", input)?;
        let y = F::layer_norm(&x, &self.normalized_shape, &self.affine.params())
            .map_err(op_err("QuantizedLayerNorm"))?;
        Ok(Value::Quant(y))
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, eps={}, elementwise_affine={}",
            py_tuple(&self.normalized_shape),
            py_float(self.affine.eps),
            py_bool(self.affine.weight.is_some())
        )
    }
    module_tail!();
}

/// Quantized group norm over `(N, C, *)` (`QuantizedGroupNorm`).
#[derive(Debug, Clone)]
pub struct GroupNorm {
    num_groups: usize,
    num_channels: usize,
    affine: Affine,
    training: bool,
}

impl GroupNorm {
    /// A group norm with optional per-channel `weight` / `bias` and the output parameters;
    /// errors unless `num_groups` divides `num_channels`.
    pub fn new(
        num_groups: usize,
        num_channels: usize,
        weight: Option<Vec<f32>>,
        bias: Option<Vec<f32>>,
        eps: f64,
        scale: f64,
        zero_point: i64,
    ) -> Result<GroupNorm, QOpError> {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            return Err(QOpError::Shape {
                op: "group_norm",
                msg: format!(
                    "num_channels {num_channels} must be divisible by num_groups {num_groups}"
                ),
            });
        }
        Ok(GroupNorm {
            num_groups,
            num_channels,
            affine: Affine::new(weight, bias, eps, scale, zero_point, num_channels)?,
            training: true,
        })
    }
}

/// `weight`, `bias` (when affine, one per channel), `scale`, `zero_point`.
impl QuantizedState for GroupNorm {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        self.affine.entries(&[self.num_channels])
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        Ok(StagedState::new(GroupNorm {
            affine: self.affine.staged(state, self.num_channels)?,
            ..self.clone()
        }))
    }

    commit_replacement!("QuantizedGroupNorm");
}

impl Module for GroupNorm {
    fn type_name(&self) -> &'static str {
        "QuantizedGroupNorm"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = quant_input("QuantizedGroupNorm", input)?;
        if x.ndim() < 2 || x.shape()[1] != self.num_channels {
            return Err(NnError::input_shape(
                "QuantizedGroupNorm",
                format!("(N, {}, *)", self.num_channels),
                x.shape(),
            ));
        }
        let y = F::group_norm(&x, self.num_groups, &self.affine.params())
            .map_err(op_err("QuantizedGroupNorm"))?;
        Ok(Value::Quant(y))
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, {}, eps={}, affine={}",
            self.num_groups,
            self.num_channels,
            py_float(self.affine.eps),
            py_bool(self.affine.weight.is_some())
        )
    }
    module_tail!();
}

macro_rules! instance_norm {
    ($name:ident, $type_name:literal, $rank:expr, $shape:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            num_features: usize,
            affine: Affine,
            training: bool,
        }

        impl $name {
            /// An instance norm over `num_features` channels with optional per-channel
            /// `weight` / `bias` and the output parameters.
            pub fn new(
                num_features: usize,
                weight: Option<Vec<f32>>,
                bias: Option<Vec<f32>>,
                eps: f64,
                scale: f64,
                zero_point: i64,
            ) -> Result<$name, QOpError> {
                Ok($name {
                    num_features,
                    affine: Affine::new(weight, bias, eps, scale, zero_point, num_features)?,
                    training: true,
                })
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                $type_name
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                let x = quant_input($type_name, input)?;
                if x.ndim() != $rank || x.shape()[1] != self.num_features {
                    return Err(NnError::input_shape(
                        $type_name,
                        format!($shape, self.num_features),
                        x.shape(),
                    ));
                }
                let y = F::instance_norm(&x, &self.affine.params()).map_err(op_err($type_name))?;
                Ok(Value::Quant(y))
            }
            fn extra_repr(&self) -> String {
                format!(
                    "{}, eps={}, momentum=0.1, affine={}, track_running_stats=False",
                    self.num_features,
                    py_float(self.affine.eps),
                    py_bool(self.affine.weight.is_some())
                )
            }
            module_tail!();
        }

        /// `weight`, `bias` (when affine, one per channel), `scale`, `zero_point`.
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                self.affine.entries(&[self.num_features])
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> Result<StagedState, StateError> {
                check_local_state(self, state)?;
                Ok(StagedState::new($name {
                    affine: self.affine.staged(state, self.num_features)?,
                    ..self.clone()
                }))
            }

            commit_replacement!($type_name);
        }
    };
}

instance_norm!(
    InstanceNorm1d,
    "QuantizedInstanceNorm1d",
    3,
    "(N, {}, L)",
    "Quantized instance norm over `(N, C, L)` (`QuantizedInstanceNorm1d`)."
);
instance_norm!(
    InstanceNorm2d,
    "QuantizedInstanceNorm2d",
    4,
    "(N, {}, H, W)",
    "Quantized instance norm over `(N, C, H, W)` (`QuantizedInstanceNorm2d`)."
);
instance_norm!(
    InstanceNorm3d,
    "QuantizedInstanceNorm3d",
    5,
    "(N, {}, D, H, W)",
    "Quantized instance norm over `(N, C, D, H, W)` (`QuantizedInstanceNorm3d`)."
);
