//! Kind `fake_quantize_module`: a fake-quantize module from a named QAT qconfig, fed batches in
//! training mode; compares each output (within one quantum of the module's scale) and, after the
//! last batch, `calculate_qparams()` (the observer's rule on the running min / max: that is what
//! the fixtures record; the fused module's forward itself uses fbgemm's rule, and its outputs
//! match PyTorch's bit for bit).

use quantization::{get_default_qat_qconfig, Backend, PostProcess};

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;

fn numbers(case: &Case, key: &str) -> Result<Vec<f64>, String> {
    case.expected
        .get(key)
        .and_then(|v| v.as_array())
        .ok_or_else(|| format!("missing expected list '{key}'"))?
        .iter()
        .map(|v| v.as_f64().ok_or_else(|| format!("'{key}': not a number")))
        .collect()
}

/// Runs one case.
pub fn fake_quantize_module(case: &Case) -> Result<Verdict, String> {
    let backend = match case.str("qconfig")? {
        "default_qat_fbgemm" => Backend::Fbgemm,
        "default_qat_qnnpack" => Backend::Qnnpack,
        other => return Err(format!("unknown qconfig {other}")),
    };
    let qconfig = get_default_qat_qconfig(backend);
    let entry = match case.str("role")? {
        "activation" => qconfig.activation,
        "weight" => qconfig.weight,
        other => return Err(format!("unknown role {other}")),
    };
    let PostProcess::FakeQuantize(mut fq) = entry.build().map_err(|e| e.to_string())? else {
        return Err("the qconfig entry is not a fake-quantize module".into());
    };
    let batches = case.input_list("batches")?;
    let outputs = case.expected_list("outputs")?;
    if batches.len() != outputs.len() {
        return Err(format!(
            "{} batches but {} expected outputs",
            batches.len(),
            outputs.len()
        ));
    }
    let mut c = Checker::new();
    for (i, (b, want)) in batches.iter().zip(&outputs).enumerate() {
        let out = fq.forward(b.to_f32()?.view()).map_err(|e| e.to_string())?;
        let quantum = fq.scale().iter().copied().fold(0.0f32, f32::max);
        c.floats(
            &format!("outputs[{i}]"),
            out.y.as_slice().unwrap_or_default(),
            want.to_f32()?.as_slice().unwrap_or_default(),
            f64::from(quantum),
        );
    }
    let q = fq.calculate_qparams().map_err(|e| e.to_string())?;
    let scales: Vec<f64> = q.scales.iter().map(|&s| f64::from(s)).collect();
    c.scales("scale", &scales, &numbers(case, "scale")?);
    let zps: Vec<i64> = q.zero_points.to_f64().iter().map(|&z| z as i64).collect();
    let want: Vec<i64> = numbers(case, "zero_point")?
        .iter()
        .map(|&z| z as i64)
        .collect();
    c.zero_points("zero_point", &zps, &want);
    Ok(c.finish())
}
