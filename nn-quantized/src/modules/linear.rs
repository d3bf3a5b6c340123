//! `torch.ao.nn.quantized.Linear`: a packed int8 weight, a float bias and the output's
//! quantization parameters.

use nn::{Module, NnError, Result, Value};
use qtensor::{Engine, QTensor};

use super::util::{op_err, py_float, quant_input};
use crate::functional::{self as F, PackedWeight, QOpError};
use crate::state::{
    check_local_state, commit_replacement, out_qparams, read_out_qparams, read_weight, rejected,
    weight_entries, QStateTensor, QuantizedState, QuantizedStateDict, StagedState, StateError,
};

/// Quantized `y = x W^T + b` (`QuantizedLinear`): quint8 `(*, in_features)` in, quint8
/// `(*, out_features)` out with this module's scale and zero point. The weight is packed once,
/// for the engine current at construction, which it keeps using.
#[derive(Debug)]
pub struct Linear {
    packed: PackedWeight,
    in_features: usize,
    out_features: usize,
    scale: f64,
    zero_point: i64,
    training: bool,
}

impl Linear {
    /// A layer from a qint8 weight `(out_features, in_features)` (per-tensor or per-channel
    /// along axis 0), an optional float bias and the output parameters; packs the weight.
    pub fn new(
        weight: &QTensor,
        bias: Option<&[f32]>,
        scale: f64,
        zero_point: i64,
    ) -> Result<Linear, QOpError> {
        qtensor::check_scale("output scale", scale)?;
        qtensor::check_zero_point("output zero_point", zero_point, qtensor::QDType::QUInt8)?;
        let packed = F::linear_prepack(weight, bias)?;
        crate::register_quant_ops();
        Ok(Linear {
            in_features: weight.shape()[1],
            out_features: weight.shape()[0],
            packed,
            scale,
            zero_point,
            training: true,
        })
    }

    /// The quantized weight (`weight()`).
    pub fn weight(&self) -> &QTensor {
        self.packed.weight()
    }

    /// The float bias (`bias()`).
    pub fn bias(&self) -> Option<&[f32]> {
        self.packed.bias()
    }

    /// Output scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Output zero point.
    pub fn zero_point(&self) -> i64 {
        self.zero_point
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The engine the weight was packed for.
    pub fn engine(&self) -> Engine {
        self.packed.engine()
    }

    /// Runs the layer on a quantized input, with a fused ReLU when `relu` (the entry of the
    /// fused `LinearReLU`); `name` is the module reported in errors.
    pub fn run(&self, name: &'static str, input: Value, relu: bool) -> Result<Value> {
        let x = quant_input(name, input)?;
        if x.shape().last() != Some(&self.in_features) {
            return Err(NnError::input_shape(
                name,
                format!("(*, {})", self.in_features),
                x.shape(),
            ));
        }
        let y =
            F::linear(&x, &self.packed, self.scale, self.zero_point, relu).map_err(op_err(name))?;
        Ok(Value::Quant(y))
    }

    /// The text inside the printed parentheses.
    pub fn repr_fields(&self) -> String {
        format!(
            "in_features={}, out_features={}, scale={}, zero_point={}, qscheme=torch.{}",
            self.in_features,
            self.out_features,
            py_float(self.scale),
            self.zero_point,
            self.weight().qscheme().name()
        )
    }
}

impl Module for Linear {
    fn type_name(&self) -> &'static str {
        "QuantizedLinear"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        self.run("QuantizedLinear", input, false)
    }

    fn extra_repr(&self) -> String {
        self.repr_fields()
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// `weight`, `bias` (when present), `scale`, `zero_point`; staging repacks the weight.
impl QuantizedState for Linear {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        let mut out = weight_entries(self.weight(), self.bias());
        out.extend(out_qparams(self.scale, self.zero_point));
        out
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        let (w, bias) = read_weight(state, self.bias().is_some())?;
        let (scale, zero_point) = read_out_qparams(state, 0..=255)?;
        let mut new =
            Linear::new(w, bias.as_deref(), scale, zero_point).map_err(rejected("weight"))?;
        new.training = self.training;
        Ok(StagedState::new(new))
    }

    commit_replacement!("QuantizedLinear");
}
