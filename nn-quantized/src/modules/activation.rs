//! Quantized activations: `ReLU6`, `Hardswish`, `ELU`, `LeakyReLU`, `Sigmoid`, `Tanh`.

use nn::{Module, Result, Value};

use super::util::{op_err, py_float, quant_input};
use crate::functional::{self as F, QOpError};
use crate::state::{
    check_local_state, commit_replacement, out_qparams, read_out_qparams, QStateTensor,
    QuantizedState, QuantizedStateDict, StagedState, StateError,
};

/// `QuantizedState` for a module without state.
macro_rules! stateless {
    ($name:ident, $type_name:literal) => {
        /// No state.
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                Vec::new()
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> Result<StagedState, StateError> {
                check_local_state(self, state)?;
                Ok(StagedState::new(self.clone()))
            }

            commit_replacement!($type_name);
        }
    };
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

fn check_out(scale: f64, zero_point: i64) -> Result<(), QOpError> {
    qtensor::check_scale("output scale", scale)?;
    if !(-128..=255).contains(&zero_point) {
        return Err(QOpError::Shape {
            op: "activation",
            msg: format!("output zero_point {zero_point} fits neither quint8 nor qint8"),
        });
    }
    Ok(())
}

/// `min(max(x, 0), 6)` keeping the input's parameters (`QuantizedReLU6`).
#[derive(Debug, Clone)]
pub struct ReLU6 {
    training: bool,
}

impl ReLU6 {
    /// A new ReLU6.
    pub fn new() -> ReLU6 {
        crate::register_quant_ops();
        ReLU6 { training: true }
    }
}

impl Default for ReLU6 {
    fn default() -> Self {
        ReLU6::new()
    }
}

impl Module for ReLU6 {
    fn type_name(&self) -> &'static str {
        "QuantizedReLU6"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = quant_input("QuantizedReLU6", input)?;
        Ok(Value::Quant(
            F::relu6(&x).map_err(op_err("QuantizedReLU6"))?,
        ))
    }
    module_tail!();
}

/// `tanh(x)` with PyTorch's fixed output parameters (scale 2/256, zero point 128 for quint8).
#[derive(Debug, Clone)]
pub struct Tanh {
    training: bool,
}

impl Tanh {
    /// A new Tanh.
    pub fn new() -> Tanh {
        crate::register_quant_ops();
        Tanh { training: true }
    }
}

impl Default for Tanh {
    fn default() -> Self {
        Tanh::new()
    }
}

impl Module for Tanh {
    fn type_name(&self) -> &'static str {
        "Tanh"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = quant_input("Tanh", input)?;
        Ok(Value::Quant(F::tanh(&x).map_err(op_err("Tanh"))?))
    }
    module_tail!();
}

macro_rules! requantizing {
    ($name:ident, $type_name:literal, $op:ident, $doc:literal $(, $extra:ident : $repr:literal)?) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            scale: f64,
            zero_point: i64,
            $($extra: f64,)?
            training: bool,
        }

        impl $name {
            /// The activation with the output's scale and zero point (and its parameter).
            pub fn new(scale: f64, zero_point: i64 $(, $extra: f64)?) -> Result<$name, QOpError> {
                check_out(scale, zero_point)?;
                crate::register_quant_ops();
                Ok($name { scale, zero_point, $($extra,)? training: true })
            }

            /// Output scale.
            pub fn scale(&self) -> f64 {
                self.scale
            }

            /// Output zero point.
            pub fn zero_point(&self) -> i64 {
                self.zero_point
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                $type_name
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                let x = quant_input($type_name, input)?;
                let y = F::$op(&x, $(self.$extra,)? self.scale, self.zero_point)
                    .map_err(op_err($type_name))?;
                Ok(Value::Quant(y))
            }
            $(fn extra_repr(&self) -> String {
                format!(concat!($repr, "={}"), py_float(self.$extra))
            })?
            module_tail!();
        }

        /// `scale` and `zero_point` of the output.
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                out_qparams(self.scale, self.zero_point).into()
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> Result<StagedState, StateError> {
                check_local_state(self, state)?;
                let (scale, zero_point) = read_out_qparams(state, -128..=255)?;
                Ok(StagedState::new($name {
                    scale,
                    zero_point,
                    ..self.clone()
                }))
            }

            commit_replacement!($type_name);
        }
    };
}

stateless!(ReLU6, "QuantizedReLU6");
stateless!(Tanh, "Tanh");

requantizing!(
    Hardswish,
    "QuantizedHardswish",
    hardswish,
    "`x * relu6(x + 3) / 6`, requantized (`QuantizedHardswish`)."
);
requantizing!(
    Sigmoid,
    "Sigmoid",
    sigmoid,
    "`1 / (1 + exp(-x))`, requantized (`torch.ao.nn.quantized.Sigmoid`, printed `Sigmoid`)."
);
requantizing!(
    ELU,
    "QuantizedELU",
    elu,
    "`x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise, requantized (`QuantizedELU`).",
    alpha: "alpha"
);
requantizing!(
    LeakyReLU,
    "QuantizedLeakyReLU",
    leaky_relu,
    "`x` for `x >= 0`, `negative_slope * x` otherwise, requantized (`QuantizedLeakyReLU`).",
    negative_slope: "negative_slope"
);
