//! Activation modules.

use crate::error::Result;
use crate::layers::training_flag;
use crate::module::{Module, Value};
use crate::quant_ops::quantized_relu;

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
