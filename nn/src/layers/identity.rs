//! Pass-through modules: `Identity` and the quantization stubs of a float model.

use crate::error::Result;
use crate::layers::training_flag;
use crate::module::{Module, Value};

/// Returns its input unchanged, whatever it is (`nn.Identity`).
#[derive(Debug, Clone)]
pub struct Identity {
    training: bool,
}

impl Identity {
    /// A new identity.
    pub fn new() -> Identity {
        Identity { training: true }
    }
}

impl Default for Identity {
    fn default() -> Self {
        Identity::new()
    }
}

impl Module for Identity {
    fn type_name(&self) -> &'static str {
        "Identity"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        Ok(input)
    }
    training_flag!();
}

/// Marks where a float model's input becomes quantized (`torch.ao.quantization.QuantStub`):
/// the identity in the float model, swapped for a quantize module by convert.
#[derive(Debug, Clone)]
pub struct QuantStub {
    training: bool,
}

impl QuantStub {
    /// A new stub.
    pub fn new() -> QuantStub {
        QuantStub { training: true }
    }
}

impl Default for QuantStub {
    fn default() -> Self {
        QuantStub::new()
    }
}

impl Module for QuantStub {
    fn type_name(&self) -> &'static str {
        "QuantStub"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        Ok(input)
    }
    training_flag!();
}

/// Marks where a quantized model's values return to float
/// (`torch.ao.quantization.DeQuantStub`): the identity in the float model, swapped for a
/// dequantize module by convert.
#[derive(Debug, Clone)]
pub struct DeQuantStub {
    training: bool,
}

impl DeQuantStub {
    /// A new stub.
    pub fn new() -> DeQuantStub {
        DeQuantStub { training: true }
    }
}

impl Default for DeQuantStub {
    fn default() -> Self {
        DeQuantStub::new()
    }
}

impl Module for DeQuantStub {
    fn type_name(&self) -> &'static str {
        "DeQuantStub"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        Ok(input)
    }
    training_flag!();
}
