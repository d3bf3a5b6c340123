//! `torch.ao.nn.intrinsic.quantized.dynamic.LinearReLU`: a dynamic linear with the ReLU in its
//! output stage (`quantized::linear_relu_dynamic`, `linear_relu_dynamic_fp16`).

use ndarray::{ArrayD, ArrayViewD};
use nn::{Module, NnError, Value};

use crate::error::{DynamicError, Result};
use crate::input::float_data;
use crate::linear::Linear;
use crate::weight::WeightQuantizer;

const NAME: &str = "DynamicQuantizedLinearReLU";

/// `max(0, x W^T + b)` with dynamically quantized or float16 weights: what `quantize_dynamic`
/// makes of a fused float `LinearReLU`.
#[derive(Debug)]
pub struct LinearReLU {
    pub(crate) inner: Linear,
    pub(crate) training: bool,
}

impl LinearReLU {
    /// Wraps a dynamic linear layer; the ReLU runs on its output.
    pub fn new(inner: Linear) -> LinearReLU {
        LinearReLU {
            inner,
            training: false,
        }
    }

    /// `LinearReLU.from_float(mod)`: a fused float module whose class name is `LinearReLU` and
    /// whose first child is an `nn::Linear` (PyTorch's `mod[0]`).
    pub fn from_float(float: &dyn Module, quantizer: &dyn WeightQuantizer) -> Result<LinearReLU> {
        let fail = |reason: String| DynamicError::FromFloat {
            module: NAME,
            reason,
        };
        if float.type_name() != "LinearReLU" {
            return Err(fail(format!(
                "expected a fused LinearReLU, got {}",
                float.type_name()
            )));
        }
        let first = float.children().into_iter().next().map(|(_, c)| c);
        match first.and_then(|c| c.downcast_ref::<nn::Linear>()) {
            Some(lin) => Ok(LinearReLU::new(Linear::from_float(lin, quantizer)?)),
            None => Err(fail("its first child is not an nn::Linear".into())),
        }
    }

    /// The linear layer inside.
    pub fn linear(&self) -> &Linear {
        &self.inner
    }

    /// `max(0, x W^T + b)` for `x` of shape `(*, in_features)`.
    ///
    /// Errors as [`Linear::run`].
    pub fn run(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        self.inner.run_as(NAME, x, true)
    }
}

impl Module for LinearReLU {
    fn type_name(&self) -> &'static str {
        NAME
    }

    fn forward(&mut self, input: Value) -> Result<Value, NnError> {
        let x = float_data(NAME, input)?;
        Ok(Value::from(self.run(x.view())?))
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }

    fn extra_repr(&self) -> String {
        self.inner.extra_repr()
    }
}
