//! `torch.ao.nn.quantized.Dropout`: the identity on quantized tensors (eval-mode dropout).

use nn::{Module, Result, Value};

use super::util::{py_float, quant_input};
use crate::state::{
    check_local_state, commit_replacement, QStateTensor, QuantizedState, QuantizedStateDict,
    StagedState, StateError,
};

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

/// No state (`p` is part of the architecture).
impl QuantizedState for Dropout {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        Vec::new()
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        Ok(StagedState::new(self.clone()))
    }

    commit_replacement!("QuantizedDropout");
}
