//! Kinds `fake_quantize_per_tensor_affine`, `fake_quantize_per_channel_affine`,
//! `learnable_fake_quantize_per_tensor_affine`: forward values and gradients.

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;

fn slice(a: &ndarray::ArrayD<f32>) -> &[f32] {
    a.as_slice().unwrap_or_default()
}

/// Compares `y` within one quantum and `grad_x` (a pure float result) within 1e-5 relative.
fn compare(
    case: &Case,
    y: &ndarray::ArrayD<f32>,
    grad_x: &ndarray::ArrayD<f32>,
    quantum: f64,
) -> Result<Checker, String> {
    let mut c = Checker::new();
    c.floats(
        "y",
        slice(y),
        slice(&case.expected("y")?.to_f32()?),
        quantum,
    );
    c.floats_rel(
        "grad_x",
        slice(grad_x),
        slice(&case.expected("grad_x")?.to_f32()?),
    );
    Ok(c)
}

/// `torch.fake_quantize_per_tensor_affine` forward and backward.
pub fn per_tensor(case: &Case) -> Result<Verdict, String> {
    let x = case.input("x")?.to_f32()?;
    let grad_y = case.input("grad_y")?.to_f32()?;
    let scale = case.f64("scale")? as f32;
    let fq = qtensor::fake_quantize_per_tensor_affine(
        x.view(),
        scale,
        case.i64("zero_point")?,
        case.i64("quant_min")?,
        case.i64("quant_max")?,
    )
    .map_err(|e| e.to_string())?;
    let grad_x = fq.backward(grad_y.view()).map_err(|e| e.to_string())?;
    Ok(compare(case, &fq.y, &grad_x, f64::from(scale))?.finish())
}

/// `torch.fake_quantize_per_channel_affine` forward and backward.
pub fn per_channel(case: &Case) -> Result<Verdict, String> {
    let x = case.input("x")?.to_f32()?;
    let grad_y = case.input("grad_y")?.to_f32()?;
    let scales: Vec<f32> = case.f64s("scales")?.into_iter().map(|s| s as f32).collect();
    let fq = qtensor::fake_quantize_per_channel_affine(
        x.view(),
        &scales,
        &case.i64s("zero_points")?,
        case.i64("axis")? as usize,
        case.i64("quant_min")?,
        case.i64("quant_max")?,
    )
    .map_err(|e| e.to_string())?;
    let grad_x = fq.backward(grad_y.view()).map_err(|e| e.to_string())?;
    let quantum = scales.iter().copied().fold(0.0f32, f32::max);
    Ok(compare(case, &fq.y, &grad_x, f64::from(quantum))?.finish())
}

/// `torch._fake_quantize_learnable_per_tensor_affine` forward and backward (x, scale, zero point).
pub fn learnable_per_tensor(case: &Case) -> Result<Verdict, String> {
    let x = case.input("x")?.to_f32()?;
    let grad_y = case.input("grad_y")?.to_f32()?;
    let scale = case.f64("scale")? as f32;
    let zero_point = case.f64("zero_point")? as f32;
    let (qmin, qmax) = (case.i64("quant_min")?, case.i64("quant_max")?);
    let grad_factor = case.f64("grad_factor")? as f32;
    let y =
        qtensor::learnable_fake_quantize_per_tensor_affine(x.view(), scale, zero_point, qmin, qmax)
            .map_err(|e| e.to_string())?;
    let g = qtensor::learnable_fake_quantize_per_tensor_affine_backward(
        grad_y.view(),
        x.view(),
        scale,
        zero_point,
        qmin,
        qmax,
        grad_factor,
    )
    .map_err(|e| e.to_string())?;
    let mut c = compare(case, &y, &g.grad_x, f64::from(scale))?;
    c.scalar(
        "grad_scale",
        f64::from(g.grad_scale),
        case.expected_f64("grad_scale")?,
    );
    c.scalar(
        "grad_zero_point",
        f64::from(g.grad_zero_point),
        case.expected_f64("grad_zero_point")?,
    );
    Ok(c.finish())
}
