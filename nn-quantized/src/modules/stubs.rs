//! `Quantize` and `DeQuantize` (`torch.ao.nn.quantized.Quantize` / `DeQuantize`): where values
//! enter and leave the quantized part of a converted model.

use nn::{Module, NnError, Result, Tensor, Value};
use qtensor::{quantize_per_tensor, QDType, QError};

use super::util::{py_tensor1, quant_input};
use crate::state::{
    check_local_state, commit_replacement, out_qparams, read_out_qparams, QStateTensor,
    QuantizedState, QuantizedStateDict, StagedState, StateError,
};

/// Quantizes a float tensor with fixed parameters (what convert puts in place of a `QuantStub`).
#[derive(Debug, Clone)]
pub struct Quantize {
    scale: f64,
    zero_point: i64,
    dtype: QDType,
    training: bool,
}

impl Quantize {
    /// A quantize step to `dtype` with `scale` / `zero_point`; errors if they are invalid.
    pub fn new(scale: f64, zero_point: i64, dtype: QDType) -> Result<Quantize, QError> {
        qtensor::check_scale("scale", scale)?;
        qtensor::check_zero_point("zero_point", zero_point, dtype)?;
        crate::register_quant_ops();
        Ok(Quantize {
            scale,
            zero_point,
            dtype,
            training: true,
        })
    }

    /// The output scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The output zero point.
    pub fn zero_point(&self) -> i64 {
        self.zero_point
    }

    /// The output dtype.
    pub fn dtype(&self) -> QDType {
        self.dtype
    }
}

const FIX_TWICE: &str = "the tensor is quantized already; remove the second QuantStub";

impl Module for Quantize {
    fn type_name(&self) -> &'static str {
        "Quantize"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = input.into_float_with_fix("Quantize", FIX_TWICE)?;
        let data = x.data();
        Ok(Value::Quant(quantize_per_tensor(
            data.view(),
            self.scale,
            self.zero_point,
            self.dtype,
        )?))
    }

    fn extra_repr(&self) -> String {
        format!(
            "scale={}, zero_point=tensor([{}]), dtype=torch.{}",
            py_tensor1(self.scale as f32),
            self.zero_point,
            self.dtype.name()
        )
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// Dequantizes a quantized tensor (what convert puts in place of a `DeQuantStub`).
#[derive(Debug, Clone, Default)]
pub struct DeQuantize {
    training: bool,
}

impl DeQuantize {
    /// A dequantize step.
    pub fn new() -> DeQuantize {
        DeQuantize { training: true }
    }
}

impl Module for DeQuantize {
    fn type_name(&self) -> &'static str {
        "DeQuantize"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        match input {
            Value::Float(_) => Err(NnError::FloatInput {
                module: "DeQuantize".into(),
                fix: "the tensor is float already; remove this DeQuantStub or insert a QuantStub before it",
            }),
            other => {
                let q = quant_input("DeQuantize", other)?;
                Ok(Value::Float(Tensor::new(q.dequantize())))
            }
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// `scale` and `zero_point` (the dtype is part of the architecture, as in PyTorch).
impl QuantizedState for Quantize {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        out_qparams(self.scale, self.zero_point).into()
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        let (scale, zero_point) = read_out_qparams(state, self.dtype.min()..=self.dtype.max())?;
        Ok(StagedState::new(Quantize {
            scale,
            zero_point,
            ..self.clone()
        }))
    }

    commit_replacement!("Quantize");
}

/// No state.
impl QuantizedState for DeQuantize {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        Vec::new()
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        Ok(StagedState::new(self.clone()))
    }

    commit_replacement!("DeQuantize");
}
