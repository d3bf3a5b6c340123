//! Reading a float recurrent module (`nn.LSTM`, `nn.GRU`, `nn.LSTMCell` ...) through the
//! [`nn::Module`] interface: its parameters by PyTorch name and its options.
//!
//! `nn`'s own modules give their options directly. Any other module with PyTorch's class name
//! and parameter names converts too: the sizes come from the parameter shapes, the layer count
//! and directions from the parameter names, `batch_first` and `nonlinearity` from the printed
//! form (`extra_repr`, as PyTorch prints it).

use std::collections::BTreeMap;

use ndarray::ArrayD;
use nn::Module;

use super::core::param_name;
use super::options::{RnnMode, RnnOptions};
use crate::error::{DynamicError, Result};
use crate::state::module_parameters;

/// The float module's parameters after checking its class name.
pub(crate) fn parameters_of(
    module: &'static str,
    float: &dyn Module,
    expected_type: &str,
) -> Result<BTreeMap<String, ArrayD<f32>>> {
    if float.type_name() != expected_type {
        return Err(DynamicError::FromFloat {
            module,
            reason: format!(
                "expected a float {expected_type}, got {}",
                float.type_name()
            ),
        });
    }
    Ok(module_parameters(float))
}

/// The dimension `dim` of parameter `name`, or a typed error.
pub(crate) fn dim_of(
    module: &'static str,
    params: &BTreeMap<String, ArrayD<f32>>,
    name: &str,
    dim: usize,
) -> Result<usize> {
    let t = params
        .get(name)
        .ok_or_else(|| DynamicError::MissingWeight {
            module,
            name: name.to_string(),
        })?;
    match t.shape() {
        [_, _] => Ok(t.shape()[dim]),
        other => Err(DynamicError::WeightShape {
            module,
            name: name.to_string(),
            expected: vec![0, 0],
            got: other.to_vec(),
        }),
    }
}

/// The options of a float LSTM / GRU, read from its parameters and printed form.
pub(crate) fn rnn_options(
    mode: RnnMode,
    float: &dyn Module,
    params: &BTreeMap<String, ArrayD<f32>>,
) -> Result<RnnOptions> {
    let module = mode.module_name();
    if params.contains_key("weight_hr_l0") {
        return Err(DynamicError::FromFloat {
            module,
            reason: "LSTM with projections (proj_size > 0) is not supported, as in PyTorch".into(),
        });
    }
    let config = match mode {
        RnnMode::Lstm => float.downcast_ref::<nn::LSTM>().map(|m| &m.0.config),
        RnnMode::Gru => float.downcast_ref::<nn::GRU>().map(|m| &m.0.config),
    };
    if let Some(c) = config {
        return Ok(RnnOptions::new(c.input_size, c.hidden_size)
            .num_layers(c.num_layers)
            .bias(c.bias)
            .batch_first(c.batch_first)
            .dropout(c.dropout as f32)
            .bidirectional(c.bidirectional));
    }
    let input_size = dim_of(module, params, "weight_ih_l0", 1)?;
    let hidden_size = dim_of(module, params, "weight_hh_l0", 1)?;
    let num_layers = (0..)
        .take_while(|&l| params.contains_key(&param_name("weight", "ih", l, false)))
        .count();
    let repr = float.extra_repr();
    Ok(RnnOptions::new(input_size, hidden_size)
        .num_layers(num_layers)
        .bias(params.contains_key("bias_ih_l0"))
        .batch_first(repr.contains("batch_first=True"))
        .bidirectional(params.contains_key("weight_ih_l0_reverse")))
}

/// True if a float `RNNCell` uses relu: `nn`'s cell says so directly, others by their printed
/// form (`nonlinearity=relu`).
pub(crate) fn relu_cell(float: &dyn Module) -> bool {
    match float.downcast_ref::<nn::RNNCell>() {
        Some(c) => c.0.kind == nn::functional::CellKind::RnnRelu,
        None => float.extra_repr().contains("nonlinearity=relu"),
    }
}
