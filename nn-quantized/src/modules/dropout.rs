//! `torch.ao.nn.quantized.Dropout`: the identity on quantized tensors (eval-mode dropout).

use nn::{Module, Result, Value};

use super::util::{py_float, quant_input};

/// Passes quantized tensors through unchanged (`QuantizedDropout`).
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    training: bool,
}

impl Dropout {
    /// A dropout of probability `p` (kept for printing; quantized dropout never drops).
    pub fn new(p: f64) -> Dropout {
        Dropout { p, training: true }
    }
}

impl Module for Dropout {
    fn type_name(&self) -> &'static str {
        "QuantizedDropout"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        Ok(Value::Quant(quant_input("QuantizedDropout", input)?))
    }
    fn extra_repr(&self) -> String {
        format!("p={}, inplace=False", py_float(self.p))
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}
