//! Model inputs and outputs shared by the whole-model kinds: state dicts, float values.

use nn::{Module, StateDict, StateTensor, Value};

use crate::conformance::fixture::{Case, Tensor as FTensor};

/// Loads the case's `state_dict` input into `model`, strictly (every key on both sides, same
/// shapes).
pub fn load_state_dict(model: &mut dyn Module, case: &Case) -> Result<(), String> {
    let entries = case
        .inputs
        .get("state_dict")
        .and_then(|v| v.as_object())
        .ok_or("missing state_dict")?;
    let mut sd = StateDict::new();
    for (name, v) in entries {
        let t: FTensor = serde_json::from_value(v.clone()).map_err(|e| format!("{name}: {e}"))?;
        let value = if t.dtype == "i64" {
            let ints = t.data.iter().map(|&v| v as i64).collect();
            StateTensor::I64(
                ndarray::ArrayD::from_shape_vec(t.shape.clone(), ints)
                    .map_err(|e| format!("{name}: {e}"))?,
            )
        } else {
            StateTensor::F32(t.to_f32()?)
        };
        sd.insert(name.clone(), value);
    }
    model
        .load_state_dict(&sd, true)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A fixture tensor as a float `Value`.
pub fn float(t: &FTensor) -> Result<Value, String> {
    Ok(Value::Float(nn::Tensor::new(t.to_f32()?)))
}

/// The values of a model's float output.
pub fn out_values(v: Value) -> Result<Vec<f32>, String> {
    v.as_float()
        .map(nn::Tensor::to_vec)
        .ok_or_else(|| format!("the model returned {}, expected a float tensor", v.kind()))
}

/// The backend of a case's `qconfig` (`default_fbgemm`, `default_qnnpack`).
pub fn default_qconfig_backend(case: &Case) -> Result<quantization::Backend, String> {
    match case.str("qconfig")? {
        "default_fbgemm" => Ok(quantization::Backend::Fbgemm),
        "default_qnnpack" => Ok(quantization::Backend::Qnnpack),
        other => Err(format!("{}qconfig {other}", super::UNSUPPORTED)),
    }
}
