//! Checks and conversions shared by the modules' forwards: float tensors out of [`Value`]s,
//! finiteness, shapes.

use std::sync::Arc;

use ndarray::ArrayD;
use nn::{NnError, Value};

use crate::error::{DynamicError, Result};

/// Errors unless every value is finite.
pub(crate) fn check_finite(module: &'static str, arg: &str, values: &[f32]) -> Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(DynamicError::NonFinite {
            module,
            arg: arg.to_string(),
        })
    }
}

/// The float tensor of a value (a quantized tensor or tuple is the typed [`NnError`]).
pub(crate) fn float_data(module: &'static str, v: Value) -> Result<Arc<ArrayD<f32>>, NnError> {
    Ok(v.into_float(module)?.data())
}

/// `forward`'s argument split into the input and an optional state: `x` alone, or the tuple
/// `(x, state)` (PyTorch's `forward(input, hx)`).
pub(crate) fn split_input(
    module: &'static str,
    v: Value,
) -> Result<(Value, Option<Value>), NnError> {
    match v {
        Value::Tuple(items) => match <[Value; 2]>::try_from(items) {
            Ok([x, state]) => Ok((x, Some(state))),
            Err(items) => Err(NnError::bad_arg(
                module,
                format!(
                    "expected the input alone or a tuple (input, hx), got a tuple of {} values",
                    items.len()
                ),
            )),
        },
        x => Ok((x, None)),
    }
}

/// The two tensors of an LSTM state tuple `(h, c)`.
pub(crate) fn split_pair(module: &'static str, v: Value) -> Result<(Value, Value), NnError> {
    match <[Value; 2]>::try_from(v.into_tuple(module)?) {
        Ok([h, c]) => Ok((h, c)),
        Err(items) => Err(NnError::bad_arg(
            module,
            format!(
                "the state must be a tuple (h, c), got a tuple of {} values",
                items.len()
            ),
        )),
    }
}
