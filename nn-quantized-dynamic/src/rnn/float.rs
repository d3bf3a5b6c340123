//! Reading a float recurrent module (`nn.LSTM`, `nn.GRU`, `nn.LSTMCell` ...) through the
//! [`nn::Module`] interface: its parameters by PyTorch name and its printed options.
//!
//! The sizes come from the parameter shapes, the layer count and directions from the parameter
//! names, `batch_first` and `nonlinearity` from the module's printed form (`extra_repr`, as
//! PyTorch prints it). Any module with PyTorch's class name, parameter names and printed form
//! converts.

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
