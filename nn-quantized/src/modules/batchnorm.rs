//! `torch.ao.nn.quantized.BatchNorm2d` / `BatchNorm3d`: eval-mode batch norm on quantized
//! activations, requantized to the module's output parameters.

use nn::{Module, NnError, Result, Value};
use qtensor::QTensor;

use super::util::{op_err, py_float, quant_input};
use crate::functional::{self as F, BatchNormParams, QOpError};
use crate::state::{
    check_local_state, commit_replacement, out_qparams, read_out_qparams, rejected, QStateTensor,
    QuantizedState, QuantizedStateDict, StagedState, StateError,
};

/// The statistics and output parameters of a quantized batch norm; shared with the fused
/// `BNReLU*d` modules.
#[derive(Debug, Clone)]
pub struct BatchNormCore {
    weight: Vec<f32>,
    bias: Vec<f32>,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    eps: f64,
    scale: f64,
    zero_point: i64,
}

/// The per-channel values of a batch norm (what `from_float` copies from the float module).
#[derive(Debug, Clone)]
pub struct BatchNormStats {
    /// gamma.
    pub weight: Vec<f32>,
    /// beta.
    pub bias: Vec<f32>,
    /// Running mean.
    pub running_mean: Vec<f32>,
    /// Running variance.
    pub running_var: Vec<f32>,
    /// Added to the variance.
    pub eps: f64,
}

impl BatchNormCore {
    /// Checks the channel counts and the output parameters.
    pub fn new(stats: BatchNormStats, scale: f64, zero_point: i64) -> Result<Self, QOpError> {
        qtensor::check_scale("output scale", scale)?;
        qtensor::check_zero_point("output zero_point", zero_point, qtensor::QDType::QUInt8)?;
        let c = stats.running_mean.len();
        if [&stats.weight, &stats.bias, &stats.running_var]
            .iter()
            .any(|v| v.len() != c)
        {
            return Err(QOpError::Shape {
                op: "batch_norm",
                msg: "weight, bias, running_mean and running_var need one value per channel".into(),
            });
        }
        crate::register_quant_ops();
        Ok(BatchNormCore {
            weight: stats.weight,
            bias: stats.bias,
            running_mean: stats.running_mean,
            running_var: stats.running_var,
            eps: stats.eps,
            scale,
            zero_point,
        })
    }

    /// Channels.
    pub fn num_features(&self) -> usize {
        self.running_mean.len()
    }

    /// Output scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Output zero point.
    pub fn zero_point(&self) -> i64 {
        self.zero_point
    }

    /// Runs on a `(N, C, H, W)` (`rank` 4) or `(N, C, D, H, W)` (`rank` 5) input, ReLU fused
    /// when `relu`.
    pub fn run(&self, name: &'static str, input: Value, rank: usize, relu: bool) -> Result<Value> {
        let x = quant_input(name, input)?;
        let c = self.num_features();
        if x.ndim() != rank || x.shape()[1] != c {
            let dims = if rank == 4 { "H, W" } else { "D, H, W" };
            return Err(NnError::input_shape(
                name,
                format!("(N, {c}, {dims})"),
                x.shape(),
            ));
        }
        // A 3-d input is the same per-channel computation on (N, C, D * H, W).
        let s = x.shape().to_vec();
        let x4: QTensor = if rank == 5 {
            x.reshape(&[s[0], s[1], s[2] * s[3], s[4]])?
        } else {
            x
        };
        let params = BatchNormParams {
            weight: &self.weight,
            bias: &self.bias,
            running_mean: &self.running_mean,
            running_var: &self.running_var,
            eps: self.eps,
        };
        let y = F::batch_norm2d(&x4, &params, self.scale, self.zero_point, relu)
            .map_err(op_err(name))?;
        Ok(Value::Quant(if rank == 5 { y.reshape(&s)? } else { y }))
    }

    /// PyTorch's `extra_repr` (that of the float batch norm: quantized ones keep momentum 0.1,
    /// affine and running statistics).
    pub fn repr_fields(&self) -> String {
        format!(
            "{}, eps={}, momentum=0.1, affine=True, track_running_stats=True",
            self.num_features(),
            py_float(self.eps)
        )
    }
}

/// `weight`, `bias`, `running_mean`, `running_var` (float32, one per channel), `scale`,
/// `zero_point` (`eps` is part of the architecture). The batch norms and the fused `BNReLU*d`
/// delegate to it.
impl QuantizedState for BatchNormCore {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        let mut out = vec![
            ("weight".to_string(), QStateTensor::vector_f32(&self.weight)),
            ("bias".into(), QStateTensor::vector_f32(&self.bias)),
            (
                "running_mean".into(),
                QStateTensor::vector_f32(&self.running_mean),
            ),
            (
                "running_var".into(),
                QStateTensor::vector_f32(&self.running_var),
            ),
        ];
        out.extend(out_qparams(self.scale, self.zero_point));
        out
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        let (scale, zero_point) = read_out_qparams(state, 0..=255)?;
        let stats = BatchNormStats {
            weight: state.f32_values("weight")?,
            bias: state.f32_values("bias")?,
            running_mean: state.f32_values("running_mean")?,
            running_var: state.f32_values("running_var")?,
            eps: self.eps,
        };
        let core = BatchNormCore::new(stats, scale, zero_point).map_err(rejected("running_var"))?;
        Ok(StagedState::new(core))
    }

    commit_replacement!("BatchNormCore");
}

macro_rules! quantized_bn {
    ($name:ident, $type_name:literal, $rank:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            core: BatchNormCore,
            training: bool,
        }

        impl $name {
            /// A batch norm from its statistics and output parameters.
            pub fn new(
                stats: BatchNormStats,
                scale: f64,
                zero_point: i64,
            ) -> Result<Self, QOpError> {
                Ok($name {
                    core: BatchNormCore::new(stats, scale, zero_point)?,
                    training: true,
                })
            }

            /// The shared state.
            pub fn core(&self) -> &BatchNormCore {
                &self.core
            }

            /// The state, giving up the wrapper (for the fused `BNReLU` forms).
            pub fn into_core(self) -> BatchNormCore {
                self.core
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                $type_name
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                self.core.run($type_name, input, $rank, false)
            }
            fn extra_repr(&self) -> String {
                self.core.repr_fields()
            }
            fn is_training(&self) -> bool {
                self.training
            }
            fn set_training_flag(&mut self, training: bool) {
                self.training = training;
            }
        }

        /// The batch norm's state (see [`BatchNormCore`]'s).
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                self.core.quantized_state()
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> Result<StagedState, StateError> {
                let core = self
                    .core
                    .stage_quantized_state(state)?
                    .downcast::<BatchNormCore>($type_name)?;
                Ok(StagedState::new($name {
                    core,
                    training: self.training,
                }))
            }

            commit_replacement!($type_name);
        }
    };
}

quantized_bn!(
    BatchNorm2d,
    "QuantizedBatchNorm2d",
    4,
    "Quantized batch norm over `(N, C, H, W)` (`QuantizedBatchNorm2d`)."
);
quantized_bn!(
    BatchNorm3d,
    "QuantizedBatchNorm3d",
    5,
    "Quantized batch norm over `(N, C, D, H, W)` (`QuantizedBatchNorm3d`)."
);
