//! `nn.Flatten`: float or quantized.

use crate::error::{NnError, Result};
use crate::layers::training_flag;
use crate::module::{Module, Value};

/// Merges dimensions `start_dim..=end_dim` (`nn.Flatten`, defaults 1 and -1); float or quantized.
#[derive(Debug, Clone)]
pub struct Flatten {
    /// First dimension merged.
    pub start_dim: isize,
    /// Last dimension merged.
    pub end_dim: isize,
    training: bool,
}

impl Flatten {
    /// `Flatten(start_dim=1, end_dim=-1)`.
    pub fn new() -> Flatten {
        Flatten::with_dims(1, -1)
    }

    /// Explicit dimensions.
    pub fn with_dims(start_dim: isize, end_dim: isize) -> Flatten {
        Flatten {
            start_dim,
            end_dim,
            training: true,
        }
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Module for Flatten {
    fn type_name(&self) -> &'static str {
        "Flatten"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        match input {
            Value::Float(t) => Ok(Value::Float(t.flatten(self.start_dim, self.end_dim)?)),
            Value::Quant(q) => {
                let n = q.ndim();
                let s = crate::tensor::resolve_dim("Flatten", self.start_dim, n)?;
                let e = crate::tensor::resolve_dim("Flatten", self.end_dim, n)?;
                Ok(Value::Quant(q.flatten(s, e)?))
            }
            other => Err(NnError::WrongValue {
                module: "Flatten".into(),
                expected: "a tensor",
                got: other.kind(),
            }),
        }
    }
    fn extra_repr(&self) -> String {
        format!("start_dim={}, end_dim={}", self.start_dim, self.end_dim)
    }
    training_flag!();
}
