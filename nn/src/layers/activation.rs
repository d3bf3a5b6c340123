//! Activation modules.

use crate::error::Result;
use crate::layers::training_flag;
use crate::module::{Module, Value};
use crate::quant_ops::quantized_relu;
use crate::tensor::Tensor;

/// `max(x, 0)` (`nn.ReLU`); also takes quantized tensors (`max(q, zero_point)`), as PyTorch.
#[derive(Debug, Clone)]
pub struct ReLU {
    training: bool,
}

impl ReLU {
    /// A new ReLU.
    pub fn new() -> ReLU {
        ReLU { training: true }
    }
}

impl Default for ReLU {
    fn default() -> Self {
        ReLU::new()
    }
}

impl Module for ReLU {
    fn type_name(&self) -> &'static str {
        "ReLU"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        match input {
            Value::Quant(q) => Ok(Value::Quant(quantized_relu(&q)?)),
            other => Ok(Value::Float(other.into_float("ReLU")?.relu())),
        }
    }
    training_flag!();
}

use crate::functional::{self as F, GeluApproximate};
use crate::layers::repr;
use crate::quant_ops::{quant_ops, QuantUnary};

/// Runs a float activation, or the registered quantized kernel on a quantized input.
fn activate(
    name: &str,
    input: Value,
    q: QuantUnary,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Value> {
    match input {
        Value::Quant(x) => Ok(Value::Quant(quant_ops(name)?.unary(&x, q)?)),
        other => Ok(Value::Float(f(&other.into_float(name)?)?)),
    }
}

macro_rules! simple_activation {
    ($name:ident, $doc:literal, $q:expr, $f:expr) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            training: bool,
        }

        impl $name {
            /// A new module.
            pub fn new() -> $name {
                $name { training: true }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                activate(stringify!($name), input, $q, |x| Ok($f(x)))
            }
            training_flag!();
        }
    };
}

simple_activation!(
    ReLU6,
    "`min(max(x, 0), 6)` (`nn.ReLU6`).",
    QuantUnary::ReLU6,
    F::relu6
);
simple_activation!(
    Hardswish,
    "`x * relu6(x + 3) / 6` (`nn.Hardswish`).",
    QuantUnary::Hardswish,
    F::hardswish
);
simple_activation!(
    Hardsigmoid,
    "`relu6(x + 3) / 6` (`nn.Hardsigmoid`).",
    QuantUnary::Hardsigmoid,
    F::hardsigmoid
);
simple_activation!(
    Sigmoid,
    "`1 / (1 + exp(-x))` (`nn.Sigmoid`).",
    QuantUnary::Sigmoid,
    F::sigmoid
);
simple_activation!(Tanh, "`tanh(x)` (`nn.Tanh`).", QuantUnary::Tanh, F::tanh);
simple_activation!(
    SiLU,
    "`x * sigmoid(x)` (`nn.SiLU`).",
    QuantUnary::SiLU,
    F::silu
);

/// `x` for `x > 0`, else `negative_slope * x` (`nn.LeakyReLU`, default slope 0.01).
#[derive(Debug, Clone)]
pub struct LeakyReLU {
    /// Slope for negative inputs.
    pub negative_slope: f64,
    training: bool,
}

impl LeakyReLU {
    /// `LeakyReLU(negative_slope)`.
    pub fn new(negative_slope: f64) -> LeakyReLU {
        LeakyReLU {
            negative_slope,
            training: true,
        }
    }
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU::new(0.01)
    }
}

impl Module for LeakyReLU {
    fn type_name(&self) -> &'static str {
        "LeakyReLU"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let s = self.negative_slope as f32;
        activate("LeakyReLU", input, QuantUnary::LeakyReLU(s), |x| {
            Ok(F::leaky_relu(x, s))
        })
    }
    fn extra_repr(&self) -> String {
        format!("negative_slope={}", repr::float(self.negative_slope))
    }
    training_flag!();
}

/// `x` for `x > 0`, else `alpha * (exp(x) - 1)` (`nn.ELU`, default alpha 1).
#[derive(Debug, Clone)]
pub struct ELU {
    /// Scale of the negative part.
    pub alpha: f64,
    training: bool,
}

impl ELU {
    /// `ELU(alpha)`.
    pub fn new(alpha: f64) -> ELU {
        ELU {
            alpha,
            training: true,
        }
    }
}

impl Default for ELU {
    fn default() -> Self {
        ELU::new(1.0)
    }
}

impl Module for ELU {
    fn type_name(&self) -> &'static str {
        "ELU"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let a = self.alpha as f32;
        activate("ELU", input, QuantUnary::ELU(a), |x| Ok(F::elu(x, a)))
    }
    fn extra_repr(&self) -> String {
        format!("alpha={}", repr::float(self.alpha))
    }
    training_flag!();
}

/// `x * Phi(x)` (`nn.GELU`), exact or with the tanh approximation.
#[derive(Debug, Clone)]
pub struct GELU {
    /// How the Gaussian CDF is computed.
    pub approximate: GeluApproximate,
    training: bool,
}

impl GELU {
    /// `GELU(approximate)`.
    pub fn new(approximate: GeluApproximate) -> GELU {
        GELU {
            approximate,
            training: true,
        }
    }
}

impl Default for GELU {
    fn default() -> Self {
        GELU::new(GeluApproximate::None)
    }
}

impl Module for GELU {
    fn type_name(&self) -> &'static str {
        "GELU"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let a = self.approximate;
        activate("GELU", input, QuantUnary::GELU, |x| Ok(F::gelu(x, a)))
    }
    fn extra_repr(&self) -> String {
        match self.approximate {
            GeluApproximate::None => "approximate='none'".into(),
            GeluApproximate::Tanh => "approximate='tanh'".into(),
        }
    }
    training_flag!();
}

/// Softmax along `dim` (`nn.Softmax(dim)`).
#[derive(Debug, Clone)]
pub struct Softmax {
    /// The dimension normalized.
    pub dim: isize,
    training: bool,
}

impl Softmax {
    /// `Softmax(dim)`.
    pub fn new(dim: isize) -> Softmax {
        Softmax {
            dim,
            training: true,
        }
    }
}

impl Module for Softmax {
    fn type_name(&self) -> &'static str {
        "Softmax"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let d = self.dim;
        activate("Softmax", input, QuantUnary::Softmax(d), |x| {
            F::softmax(x, d)
        })
    }
    fn extra_repr(&self) -> String {
        format!("dim={}", self.dim)
    }
    training_flag!();
}
