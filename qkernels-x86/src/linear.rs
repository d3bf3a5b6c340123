//! GEMM and linear entry points (static quantized, dynamic, raw accumulators).

use crate::error::{KernelError, Result};
use crate::gemm::{self, check_isa, DenseA, PackedWeight};
use crate::isa::{active_isa, Isa};
use crate::output::{Activation, Epilogue, FloatPipeline, OutputPipeline};
use crate::quant::{choose_qparams, finite_min_max, validate_zero_point, QParams};
use crate::quantize;

/// A row-major quantized (quint8) matrix `[rows, cols]`.
#[derive(Debug, Clone, Copy)]
pub struct QuantizedMatrix<'a> {
    /// `rows * cols` values.
    pub data: &'a [u8],
    /// Number of rows (`M`, the batch).
    pub rows: usize,
    /// Number of columns (`K`, in_features).
    pub cols: usize,
    /// Scale and zero point.
    pub qparams: QParams,
}

/// Options of the dynamic linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DynamicOptions {
    /// Quantize activations to 7 bits (0..=127), as PyTorch's `reduce_range`.
    pub reduce_range: bool,
    /// Apply ReLU to the float output.
    pub relu: bool,
}

fn check_a(a: &[u8], m: usize, w: &PackedWeight) -> Result<()> {
    let expected = m
        .checked_mul(w.k())
        .ok_or(KernelError::Overflow("activation m * k"))?;
    if a.len() != expected {
        return Err(KernelError::LengthMismatch {
            what: "activation",
            expected,
            got: a.len(),
        });
    }
    m.checked_mul(w.n())
        .ok_or(KernelError::Overflow("output m * n"))?;
    Ok(())
}

/// Runs the GEMM into a freshly allocated output of `m * n` elements.
fn run<T: Copy + Default>(isa: Isa, a: &[u8], m: usize, w: &PackedWeight, ep: &Epilogue) -> Vec<T> {
    gemm::gemm_to_vec(
        isa,
        &DenseA {
            data: a,
            rows: m,
            k: w.k(),
        },
        w,
        ep,
    )
}

/// Raw accumulators `C[i, j] = sum_k a[i, k] * w[j, k]` (wrapping i32, no zero points).
pub fn gemm_u8s8_i32(a: &[u8], m: usize, w: &PackedWeight) -> Result<Vec<i32>> {
    gemm_u8s8_i32_with_isa(active_isa(), a, m, w)
}

/// [`gemm_u8s8_i32`] on a given ISA (errors if this CPU cannot run it).
pub fn gemm_u8s8_i32_with_isa(isa: Isa, a: &[u8], m: usize, w: &PackedWeight) -> Result<Vec<i32>> {
    check_isa(isa)?;
    check_a(a, m, w)?;
    Ok(run(isa, a, m, w, &Epilogue::raw(w.n())))
}

/// u8 GEMM through an [`OutputPipeline`]: `a` is `[m, K]` with zero point
/// `a_zero_point`; returns `[m, N]` u8.
pub fn gemm_u8s8_requant(
    a: &[u8],
    m: usize,
    a_zero_point: i32,
    w: &PackedWeight,
    pipeline: &OutputPipeline,
) -> Result<Vec<u8>> {
    gemm_u8s8_requant_with_isa(active_isa(), a, m, a_zero_point, w, pipeline)
}

/// [`gemm_u8s8_requant`] on a given ISA.
pub fn gemm_u8s8_requant_with_isa(
    isa: Isa,
    a: &[u8],
    m: usize,
    a_zero_point: i32,
    w: &PackedWeight,
    pipeline: &OutputPipeline,
) -> Result<Vec<u8>> {
    check_isa(isa)?;
    check_a(a, m, w)?;
    validate_zero_point(a_zero_point, "activation", 0, 255)?;
    pipeline.validate(w.n())?;
    let ep = Epilogue::requant(a_zero_point, w.col_offsets(), w.zero_points(), pipeline);
    Ok(run(isa, a, m, w, &ep))
}

/// f32 GEMM output through a [`FloatPipeline`] (fbgemm `ReQuantizeForFloat`).
pub fn gemm_u8s8_f32(
    a: &[u8],
    m: usize,
    a_zero_point: i32,
    w: &PackedWeight,
    pipeline: &FloatPipeline,
) -> Result<Vec<f32>> {
    gemm_u8s8_f32_with_isa(active_isa(), a, m, a_zero_point, w, pipeline)
}

/// [`gemm_u8s8_f32`] on a given ISA.
pub fn gemm_u8s8_f32_with_isa(
    isa: Isa,
    a: &[u8],
    m: usize,
    a_zero_point: i32,
    w: &PackedWeight,
    pipeline: &FloatPipeline,
) -> Result<Vec<f32>> {
    check_isa(isa)?;
    check_a(a, m, w)?;
    validate_zero_point(a_zero_point, "activation", 0, 255)?;
    pipeline.validate(w.n())?;
    let ep = Epilogue::float(a_zero_point, w.col_offsets(), w.zero_points(), pipeline);
    Ok(run(isa, a, m, w, &ep))
}

/// PyTorch's `quantized::linear` / `linear_relu` (fbgemm): u8 `[M, K]` in,
/// u8 `[M, N]` out with `out` scale/zero point; `bias` is float, one per output.
pub fn quantized_linear(
    x: QuantizedMatrix<'_>,
    w: &PackedWeight,
    bias: Option<&[f32]>,
    out: QParams,
    activation: Activation,
) -> Result<Vec<u8>> {
    quantized_linear_with_isa(active_isa(), x, w, bias, out, activation)
}

/// [`quantized_linear`] on a given ISA.
pub fn quantized_linear_with_isa(
    isa: Isa,
    x: QuantizedMatrix<'_>,
    w: &PackedWeight,
    bias: Option<&[f32]>,
    out: QParams,
    activation: Activation,
) -> Result<Vec<u8>> {
    if x.cols != w.k() {
        return Err(KernelError::Shape(format!(
            "linear: input has {} columns, weight expects {}",
            x.cols,
            w.k()
        )));
    }
    x.qparams.validate_u8("input")?;
    let pipeline =
        OutputPipeline::requantize(x.qparams.scale, w.quant(), bias, out, activation, w.n())?;
    gemm_u8s8_requant_with_isa(isa, x.data, x.rows, x.qparams.zero_point, w, &pipeline)
}

/// Dynamic quantization of an activation matrix as fbgemm's dynamic linear does:
/// min/max of all of `x`, `ChooseQuantizationParams(min, max, 0, 255, reduce_range)`,
/// then fbgemm's `Quantize` with the scale as `f32`.
pub fn quantize_dynamic(x: &[f32], reduce_range: bool) -> Result<(Vec<u8>, QParams)> {
    quantize_dynamic_with_isa(active_isa(), x, reduce_range)
}

/// [`quantize_dynamic`] on a given ISA.
pub fn quantize_dynamic_with_isa(
    isa: Isa,
    x: &[f32],
    reduce_range: bool,
) -> Result<(Vec<u8>, QParams)> {
    check_isa(isa)?;
    let qp = dynamic_qparams(x, reduce_range)?;
    let mut q = vec![0u8; x.len()];
    quantize::quantize_u8_parallel(isa, x, &mut q, qp.scale as f32, qp.zero_point);
    Ok((q, qp))
}

/// fbgemm's dynamic activation qparams: `ChooseQuantizationParams(min, max, 0, 255,
/// reduce_range)` over all of `x` (NaN or infinite values are an error).
fn dynamic_qparams(x: &[f32], reduce_range: bool) -> Result<QParams> {
    let (lo, hi) = finite_min_max(x).ok_or(KernelError::NonFinite("dynamic activation"))?;
    choose_qparams(lo, hi, 0, 255, reduce_range)
}

/// PyTorch's `quantized::linear_dynamic` (fbgemm, int8 weight): f32 `[rows, K]`
/// in, f32 `[rows, N]` out.
pub fn dynamic_linear(
    x: &[f32],
    rows: usize,
    w: &PackedWeight,
    bias: Option<&[f32]>,
    options: DynamicOptions,
) -> Result<Vec<f32>> {
    dynamic_linear_with_isa(active_isa(), x, rows, w, bias, options)
}

/// [`dynamic_linear`] on a given ISA.
pub fn dynamic_linear_with_isa(
    isa: Isa,
    x: &[f32],
    rows: usize,
    w: &PackedWeight,
    bias: Option<&[f32]>,
    options: DynamicOptions,
) -> Result<Vec<f32>> {
    check_isa(isa)?;
    let expected = rows
        .checked_mul(w.k())
        .ok_or(KernelError::Overflow("input rows * k"))?;
    if x.len() != expected {
        return Err(KernelError::LengthMismatch {
            what: "input",
            expected,
            got: x.len(),
        });
    }
    let qp = dynamic_qparams(x, options.reduce_range)?;
    let pipeline =
        FloatPipeline::dequantize(qp.scale as f32, w.quant(), bias, options.relu, w.n())?;
    pipeline.validate(w.n())?;
    let ep = Epilogue::float(qp.zero_point, w.col_offsets(), w.zero_points(), &pipeline);
    // Quantized once up front (in parallel): GEMM tasks that share rows then copy them
    // instead of quantizing them again.
    let mut q = vec![0u8; x.len()];
    quantize::quantize_u8_parallel(isa, x, &mut q, qp.scale as f32, qp.zero_point);
    Ok(run(isa, &q, rows, w, &ep))
}
