//! `nn.Dropout`: random zeroing in training; the identity (passing quantized tensors) in eval.

use crate::error::{NnError, Result};
use crate::functional;
use crate::layers::{repr, training_flag};
use crate::module::{Module, Value};

/// Zeroes elements with probability `p` in training (`nn.Dropout`); the identity in eval,
/// where it also passes quantized tensors.
#[derive(Debug, Clone)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f64,
    training: bool,
}

impl Dropout {
    /// `Dropout(p)`; errors unless `0 <= p <= 1`.
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(NnError::bad_arg(
                "Dropout",
                format!("dropout probability has to be between 0 and 1, but got {p}"),
            ));
        }
        Ok(Dropout { p, training: true })
    }
}

impl Module for Dropout {
    fn type_name(&self) -> &'static str {
        "Dropout"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        if !self.training {
            return Ok(input);
        }
        let x = input.into_float("Dropout")?;
        Ok(Value::Float(functional::dropout(&x, self.p as f32, true)?))
    }
    fn extra_repr(&self) -> String {
        format!("p={}, inplace=False", repr::float(self.p))
    }
    training_flag!();
}
