//! `torch.ao.nn.quantized.dynamic.Linear`.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use nn::{Module, NnError, Value};
use qtensor::Engine;

use crate::error::{DynamicError, Result};
use crate::input::{check_finite, float_data};
use crate::packed::LinearOp;
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

const NAME: &str = "DynamicQuantizedLinear";

/// A linear layer with qint8 (per-tensor or per-channel) or float16 weights and float input and
/// output (`nn.quantized.dynamic.Linear`). qint8: each call quantizes its input from the input's
/// own min / max (`reduce_range=True`, as PyTorch's module passes it; the fbgemm engine then
/// uses 0..=127, qnnpack ignores it), multiplies in int32 and returns float plus the float bias.
#[derive(Debug)]
pub struct Linear {
    pub(crate) op: LinearOp,
    pub(crate) training: bool,
}

impl Linear {
    /// A layer from a stored weight `(out, in)` and bias `(out)`, packed for the current engine.
    ///
    /// Errors if the weight is not 2-D, the bias length differs from `out`, the bias is not
    /// finite, or the current engine cannot pack it.
    pub fn new(weight: DynamicWeight, bias: Option<Vec<f32>>) -> Result<Linear> {
        Ok(Linear {
            op: LinearOp::new(NAME, "weight", weight, bias)?,
            training: false,
        })
    }

    /// A layer from float weights, quantized with `quantizer` (the qconfig's weight observer).
    ///
    /// Errors as [`Linear::new`], and if the weight is not finite or the quantizer fails.
    pub fn from_float_weights(
        weight: ArrayViewD<'_, f32>,
        bias: Option<&[f32]>,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<Linear> {
        if weight.ndim() != 2 {
            return Err(DynamicError::WeightShape {
                module: NAME,
                name: "weight".into(),
                expected: vec![0, 0],
                got: weight.shape().to_vec(),
            });
        }
        let w = DynamicWeight::from_float(NAME, "weight", weight, quantizer)?;
        Linear::new(w, bias.map(<[f32]>::to_vec))
    }

    /// `Linear.from_float(mod)`: the float layer's weight and bias, quantized with `quantizer`.
    pub fn from_float(float: &nn::Linear, quantizer: &dyn WeightQuantizer) -> Result<Linear> {
        let w = float.weight.data();
        let b = float.bias.as_ref().map(|b| b.to_vec());
        Linear::from_float_weights(w.view(), b.as_deref(), quantizer)
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.op.in_features()
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.op.out_features()
    }

    /// The stored weight (`weight()`).
    pub fn weight(&self) -> &DynamicWeight {
        self.op.weight()
    }

    /// The float bias (`bias()`).
    pub fn bias(&self) -> Option<&[f32]> {
        self.op.bias()
    }

    /// The weight dtype.
    pub fn dtype(&self) -> WeightDType {
        self.op.weight().dtype()
    }

    /// The engine the qint8 weight was packed for and runs on (`None` for float16).
    pub fn engine(&self) -> Option<Engine> {
        self.op.engine()
    }

    /// `y = x W^T + b` for `x` of shape `(*, in_features)`; an input with no rows gives an
    /// output with no rows, as in PyTorch.
    ///
    /// Errors if the last dimension is not `in_features`, or on NaN / infinite input.
    pub fn run(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        self.run_as(NAME, x, false)
    }

    /// [`Linear::run`] for `module`, with `max(0, .)` on the output if `relu`.
    pub(crate) fn run_as(
        &self,
        module: &'static str,
        x: ArrayViewD<'_, f32>,
        relu: bool,
    ) -> Result<ArrayD<f32>> {
        let k = self.in_features();
        if x.shape().last() != Some(&k) {
            return Err(DynamicError::InputShape {
                module,
                expected: format!("(*, {k})"),
                got: x.shape().to_vec(),
            });
        }
        let x = x.as_standard_layout();
        let data = x.as_slice().unwrap_or_default();
        check_finite(module, "the input", data)?;
        let rows = data.len() / k.max(1);
        let y = self.op.apply(module, data, rows, true, relu)?;
        let mut shape = x.shape().to_vec();
        *shape.last_mut().unwrap_or(&mut 0) = self.out_features();
        ArrayD::from_shape_vec(IxDyn(&shape), y).map_err(|e| DynamicError::InputShape {
            module,
            expected: e.to_string(),
            got: x.shape().to_vec(),
        })
    }
}

impl Module for Linear {
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
        let mut s = format!(
            "in_features={}, out_features={}, dtype={}",
            self.in_features(),
            self.out_features(),
            self.dtype().torch_name()
        );
        if let Some(q) = self.weight().qscheme() {
            s.push_str(&format!(", qscheme={q}"));
        }
        s
    }
}
