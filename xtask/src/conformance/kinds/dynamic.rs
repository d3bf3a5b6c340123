//! Kinds `dynamic_rnn`, `dynamic_rnn_cell` and `e2e_dynamic`: dynamically quantized recurrent
//! modules and a dynamically quantized MLP, checked within 1e-4 of each output's range.

use std::collections::BTreeMap;

use ndarray::{ArrayD, Ix2, Ix3};
use nn::{Module, Value};
use nn_quantized_dynamic::{
    GRUCell, LSTMCell, Nonlinearity, RNNCell, RnnOptions, WeightDType, GRU, LSTM,
};
use quantization::dynamic::{quantize_dynamic, DynamicSpec};
use quantization::qconfig::{self, QConfig};

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::{Case, Tensor};
use crate::conformance::kinds::{select_engine, UNSUPPORTED};

/// The weight dtype and qconfig of a case: `dtype` (`qint8`, default, or `float16`) and an
/// optional `qconfig` name (`per_channel_dynamic`).
fn qconfig_of(case: &Case) -> Result<(WeightDType, QConfig), String> {
    let dtype = case
        .params
        .get("dtype")
        .and_then(|v| v.as_str())
        .unwrap_or("qint8");
    let named = case.params.get("qconfig").and_then(|v| v.as_str());
    match (dtype, named) {
        ("qint8", None | Some("default_dynamic")) => {
            Ok((WeightDType::QInt8, qconfig::default_dynamic_qconfig()))
        }
        ("qint8", Some("per_channel_dynamic")) => {
            Ok((WeightDType::QInt8, qconfig::per_channel_dynamic_qconfig()))
        }
        ("float16", None | Some("float16_dynamic")) => {
            Ok((WeightDType::Float16, qconfig::float16_dynamic_qconfig()))
        }
        (d, q) => Err(format!("{UNSUPPORTED}dtype {d} with qconfig {q:?}")),
    }
}

/// The `state_dict` input: PyTorch names to float arrays.
fn state_dict(case: &Case) -> Result<BTreeMap<String, ArrayD<f32>>, String> {
    let obj = case
        .inputs
        .get("state_dict")
        .and_then(|v| v.as_object())
        .ok_or("missing input 'state_dict' (an object of tensors)")?;
    obj.iter()
        .map(|(k, v)| {
            let t: Tensor =
                serde::Deserialize::deserialize(v).map_err(|e| format!("state_dict '{k}': {e}"))?;
            Ok((k.clone(), t.to_f32()?))
        })
        .collect()
}

/// An optional float input under any of `keys`.
fn optional(case: &Case, keys: &[&str]) -> Result<Option<ArrayD<f32>>, String> {
    match keys.iter().find(|k| case.inputs.contains_key(**k)) {
        Some(k) => Ok(Some(case.input(k)?.to_f32()?)),
        None => Ok(None),
    }
}

/// A module error as a handler error: an engine this build cannot run yet is "unsupported".
fn dyn_err(e: nn_quantized_dynamic::DynamicError) -> String {
    match &e {
        nn_quantized_dynamic::DynamicError::Op {
            source: nn_quantized::QOpError::EngineUnavailable { .. },
            ..
        } => format!("{UNSUPPORTED}{e}"),
        _ => e.to_string(),
    }
}

fn usize_param(case: &Case, key: &str) -> Result<usize, String> {
    usize::try_from(case.i64(key)?).map_err(|_| format!("param '{key}' must be >= 0"))
}

/// Compares `got` with the expected tensor `key`: shape, then values within 1e-4 of the
/// expected tensor's largest magnitude.
fn compare(c: &mut Checker, case: &Case, key: &str, got: &ArrayD<f32>) -> Result<(), String> {
    let want = case.expected(key)?.to_f32()?;
    if got.shape() != want.shape() {
        c.fail(format!(
            "{key}: shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
        return Ok(());
    }
    let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    let got = got.as_standard_layout();
    c.floats(
        key,
        got.as_slice().unwrap_or_default(),
        want.as_slice().unwrap_or_default(),
        1e-4 * range,
    );
    Ok(())
}

fn as3<'a>(a: &'a ArrayD<f32>, what: &str) -> Result<ndarray::ArrayView3<'a, f32>, String> {
    a.view()
        .into_dimensionality::<Ix3>()
        .map_err(|_| format!("{what} must be 3-D, got {:?}", a.shape()))
}

fn as2<'a>(a: &'a ArrayD<f32>, what: &str) -> Result<ndarray::ArrayView2<'a, f32>, String> {
    a.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| format!("{what} must be 2-D, got {:?}", a.shape()))
}

/// `dynamic_rnn`: a dynamic LSTM / GRU built from the float state dict, run on `x`.
pub fn rnn(case: &Case) -> Result<Verdict, String> {
    select_engine(case)?;
    let (_, qc) = qconfig_of(case)?;
    let options = RnnOptions::new(
        usize_param(case, "input_size")?,
        usize_param(case, "hidden_size")?,
    )
    .num_layers(usize_param(case, "num_layers")?)
    .bidirectional(case.bool_or("bidirectional", false))
    .batch_first(case.bool_or("batch_first", false));
    let sd = state_dict(case)?;
    let x = case.input("x")?.to_f32()?;
    let h0 = optional(case, &["h0", "h_0"])?;
    let c0 = optional(case, &["c0", "c_0"])?;
    let e = dyn_err;
    let mut c = Checker::new();
    match case.str("cell")? {
        "LSTM" => {
            let m = LSTM::from_state_dict(options, &sd, &qc).map_err(e)?;
            let state = match (&h0, &c0) {
                (Some(h), Some(cc)) => Some((as3(h, "h0")?, as3(cc, "c0")?)),
                (None, None) => None,
                _ => return Err("an LSTM case needs both h0 and c0, or neither".into()),
            };
            let out = m.run(as3(&x, "x")?, state).map_err(e)?;
            compare(&mut c, case, "y", &out.output.into_dyn())?;
            compare(&mut c, case, "h_n", &out.h_n.into_dyn())?;
            compare(&mut c, case, "c_n", &out.c_n.into_dyn())?;
        }
        "GRU" => {
            let m = GRU::from_state_dict(options, &sd, &qc).map_err(e)?;
            let h = h0.as_ref().map(|h| as3(h, "h0")).transpose()?;
            let out = m.run(as3(&x, "x")?, h).map_err(e)?;
            compare(&mut c, case, "y", &out.output.into_dyn())?;
            compare(&mut c, case, "h_n", &out.h_n.into_dyn())?;
        }
        other => return Err(format!("{UNSUPPORTED}cell {other}")),
    }
    Ok(c.finish())
}

/// `dynamic_rnn_cell`: one step of a dynamic LSTMCell / GRUCell / RNNCell.
pub fn rnn_cell(case: &Case) -> Result<Verdict, String> {
    select_engine(case)?;
    let (_, qc) = qconfig_of(case)?;
    let (input, hidden) = (
        usize_param(case, "input_size")?,
        usize_param(case, "hidden_size")?,
    );
    let sd = state_dict(case)?;
    let bias = sd.contains_key("bias_ih");
    let x = case.input("x")?.to_f32()?;
    let x = as2(&x, "x")?;
    let hx = optional(case, &["hx", "h0", "h"])?;
    let cx = optional(case, &["cx", "c0", "c"])?;
    let hxv = hx.as_ref().map(|h| as2(h, "hx")).transpose()?;
    let e = dyn_err;
    let mut c = Checker::new();
    match case.str("cell")? {
        "LSTMCell" => {
            let m = LSTMCell::from_state_dict(input, hidden, bias, &sd, &qc).map_err(e)?;
            let state = match (hxv, &cx) {
                (Some(h), Some(cc)) => Some((h, as2(cc, "cx")?)),
                (None, None) => None,
                _ => return Err("an LSTMCell case needs both hx and cx, or neither".into()),
            };
            let (h, cc) = m.run(x, state).map_err(e)?;
            compare(&mut c, case, "h", &h.into_dyn())?;
            compare(&mut c, case, "c", &cc.into_dyn())?;
        }
        "GRUCell" => {
            let m = GRUCell::from_state_dict(input, hidden, bias, &sd, &qc).map_err(e)?;
            compare(&mut c, case, "h", &m.run(x, hxv).map_err(e)?.into_dyn())?;
        }
        "RNNCell" => {
            let act = match case.params.get("nonlinearity").and_then(|v| v.as_str()) {
                None | Some("tanh") => Nonlinearity::Tanh,
                Some("relu") => Nonlinearity::Relu,
                Some(other) => return Err(format!("unknown nonlinearity {other}")),
            };
            let m = RNNCell::from_state_dict(input, hidden, bias, act, &sd, &qc).map_err(e)?;
            compare(&mut c, case, "h", &m.run(x, hxv).map_err(e)?.into_dyn())?;
        }
        other => return Err(format!("{UNSUPPORTED}cell {other}")),
    }
    Ok(c.finish())
}

/// Loads the fixture's state dict into the model (`load_state_dict(sd, strict=True)`).
fn load(model: &mut dyn Module, sd: &BTreeMap<String, ArrayD<f32>>) -> Result<(), String> {
    let mut dict = nn::StateDict::new();
    for (k, v) in sd {
        dict.insert(k.clone(), nn::StateTensor::F32(v.clone()));
    }
    model
        .load_state_dict(&dict, true)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `e2e_dynamic`: the MLP `Linear(s0, s1), ReLU, Linear(s1, s2)`; its float output, then
/// `quantize_dynamic(model, {Linear}, qint8)` and the quantized output.
pub fn e2e(case: &Case) -> Result<Verdict, String> {
    if case.str("model")? != "MLP" {
        return Err(format!("{UNSUPPORTED}model {}", case.str("model")?));
    }
    select_engine(case)?;
    let sizes = case.i64s("sizes")?;
    let [s0, s1, s2] = sizes[..] else {
        return Err(format!("MLP needs three sizes, got {sizes:?}"));
    };
    let (s0, s1, s2) = (s0 as usize, s1 as usize, s2 as usize);
    let mut model = nn::Sequential::new()
        .with(nn::Linear::new(s0, s1, true))
        .with(nn::ReLU::new())
        .with(nn::Linear::new(s1, s2, true));
    load(&mut model, &state_dict(case)?)?;
    model.eval();
    let x = case.input("x")?.to_f32()?;
    let run = |m: &mut nn::Sequential| -> Result<ArrayD<f32>, String> {
        let y = m
            .forward(Value::from(x.clone()))
            .map_err(|e| e.to_string())?;
        Ok(y.into_float("MLP").map_err(|e| e.to_string())?.to_array())
    };
    let mut c = Checker::new();
    let float_y = run(&mut model)?;
    let want = case.expected("float_y")?.to_f32()?;
    c.floats_rel(
        "float_y",
        float_y.as_slice().unwrap_or_default(),
        want.as_slice().unwrap_or_default(),
    );
    let (dtype, _) = qconfig_of(case)?;
    quantize_dynamic(&mut model, &DynamicSpec::types(["Linear"]), dtype).map_err(|e| match e {
        quantization::dynamic::QuantizeDynamicError::Convert { source, .. } => dyn_err(*source),
        other => other.to_string(),
    })?;
    let y = run(&mut model)?;
    compare(&mut c, case, "y", &y)?;
    Ok(c.finish())
}
