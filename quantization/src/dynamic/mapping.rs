//! The float -> dynamic module table (`get_default_dynamic_quant_module_mappings`).

use nn::Module;
use nn_quantized_dynamic::{
    DynamicError, GRUCell, LSTMCell, Linear, LinearReLU, RNNCell, GRU, LSTM,
};

use crate::qconfig::QConfig;

/// Builds the dynamic module for one float module with its qconfig (`from_float`).
pub type DynamicConverter = fn(&dyn Module, &QConfig) -> Result<Box<dyn Module>, DynamicError>;

/// Float module types (by [`Module::type_name`]) and the converter that builds each one's
/// dynamic counterpart.
#[derive(Debug, Clone)]
pub struct DynamicMapping {
    entries: Vec<(String, DynamicConverter)>,
}

fn linear(m: &dyn Module, qc: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
    match m.downcast_ref::<nn::Linear>() {
        Some(l) => Ok(Box::new(Linear::from_float(l, qc)?)),
        None => Err(DynamicError::FromFloat {
            module: "DynamicQuantizedLinear",
            reason: format!("expected nn::Linear, got a {}", m.type_name()),
        }),
    }
}

fn linear_relu(m: &dyn Module, qc: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
    Ok(Box::new(LinearReLU::from_float(m, qc)?))
}

fn lstm(m: &dyn Module, qc: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
    Ok(Box::new(LSTM::from_float(m, qc)?))
}

fn gru(m: &dyn Module, qc: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
    Ok(Box::new(GRU::from_float(m, qc)?))
}

fn lstm_cell(m: &dyn Module, qc: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
    Ok(Box::new(LSTMCell::from_float(m, qc)?))
}

fn gru_cell(m: &dyn Module, qc: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
    Ok(Box::new(GRUCell::from_float(m, qc)?))
}

fn rnn_cell(m: &dyn Module, qc: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
    Ok(Box::new(RNNCell::from_float(m, qc)?))
}

impl Default for DynamicMapping {
    /// `Linear`, fused `LinearReLU`, `LSTM`, `GRU`, `LSTMCell`, `GRUCell`, `RNNCell` to their
    /// dynamic modules.
    fn default() -> Self {
        let entries: [(&str, DynamicConverter); 7] = [
            ("Linear", linear),
            ("LinearReLU", linear_relu),
            ("LSTM", lstm),
            ("GRU", gru),
            ("LSTMCell", lstm_cell),
            ("GRUCell", gru_cell),
            ("RNNCell", rnn_cell),
        ];
        DynamicMapping {
            entries: entries.iter().map(|(t, f)| (t.to_string(), *f)).collect(),
        }
    }
}

impl DynamicMapping {
    /// An empty table.
    pub fn empty() -> DynamicMapping {
        DynamicMapping {
            entries: Vec::new(),
        }
    }

    /// Adds or replaces the converter of `float_type` (a user's own module kinds).
    pub fn insert(&mut self, float_type: impl Into<String>, convert: DynamicConverter) {
        let t = float_type.into();
        self.entries.retain(|(k, _)| *k != t);
        self.entries.push((t, convert));
    }

    /// The converter of `float_type`.
    pub fn get(&self, float_type: &str) -> Option<DynamicConverter> {
        self.entries
            .iter()
            .find(|(k, _)| k == float_type)
            .map(|(_, f)| *f)
    }

    /// The float types it converts.
    pub fn float_types(&self) -> Vec<&str> {
        self.entries.iter().map(|(k, _)| k.as_str()).collect()
    }
}
