//! Kinds `quantize_per_tensor`, `quantize_per_channel`, `quantize_per_tensor_dynamic`.

use qtensor::QDType;

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;

fn dtype(case: &Case) -> Result<QDType, String> {
    let name = case.str("dtype")?;
    QDType::from_name(name).ok_or_else(|| format!("unknown dtype {name}"))
}

fn finish(case: &Case, q: qtensor::QTensor, max_scale: f64) -> Result<Verdict, String> {
    let mut c = Checker::new();
    c.qtensor("q", &q, &case.expected("q")?);
    if case.expected.contains_key("dq") {
        let dq = q.dequantize();
        let want = case.expected("dq")?.to_f32()?;
        c.floats(
            "dq",
            dq.as_slice().unwrap_or_default(),
            want.as_slice().unwrap_or_default(),
            max_scale,
        );
    }
    Ok(c.finish())
}

/// `torch.quantize_per_tensor`.
pub fn quantize_per_tensor(case: &Case) -> Result<Verdict, String> {
    let x = case.input("x")?.to_f32()?;
    let scale = case.f64("scale")?;
    let q = qtensor::quantize_per_tensor(x.view(), scale, case.i64("zero_point")?, dtype(case)?)
        .map_err(|e| e.to_string())?;
    finish(case, q, scale)
}

/// `torch.quantize_per_channel`.
pub fn quantize_per_channel(case: &Case) -> Result<Verdict, String> {
    let x = case.input("x")?.to_f32()?;
    let scales = case.f64s("scales")?;
    let q = qtensor::quantize_per_channel(
        x.view(),
        &scales,
        &case.i64s("zero_points")?,
        case.i64("axis")? as usize,
        dtype(case)?,
    )
    .map_err(|e| e.to_string())?;
    finish(case, q, scales.iter().copied().fold(0.0, f64::max))
}

/// `torch.quantize_per_tensor_dynamic`.
pub fn quantize_per_tensor_dynamic(case: &Case) -> Result<Verdict, String> {
    let x = case.input("x")?.to_f32()?;
    let q = qtensor::quantize_per_tensor_dynamic(
        x.view(),
        dtype(case)?,
        case.bool_or("reduce_range", false),
    )
    .map_err(|e| e.to_string())?;
    let scale = q.q_scale().map_err(|e| e.to_string())?;
    finish(case, q, scale)
}
