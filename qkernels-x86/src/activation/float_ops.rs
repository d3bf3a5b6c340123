//! Activations computed as dequantize -> `f32` function -> quantize.

use crate::op_error::OpError;
use crate::quant::{
    dequantize_fma, dequantize_sub_mul, inv_scale_f32, inv_scale_f64, quantize_f32,
    scale_neg_zp_premul, Affine, QInt, QVec, QView,
};

/// How the input is dequantized (PyTorch uses both forms).
#[derive(Clone, Copy)]
enum Dequant {
    /// `fma(scale, q, scale * -zp)` (3-argument `dequantize`).
    Fused,
    /// `(q - zp) * scale` (2-argument `dequantize`, used by sigmoid).
    SubMul,
}

fn check_finite(name: &'static str, value: f64) -> Result<(), OpError> {
    if !value.is_finite() {
        return Err(OpError::InvalidParameter {
            name,
            value,
            reason: "must be finite",
        });
    }
    Ok(())
}

/// Applies `f` to every dequantized value and quantizes with `inv_out`, `zp_out`.
///
/// This is the float sequence of PyTorch's *vectorised* lambdas. Their scalar
/// lambdas, which PyTorch runs on the last `len % (2 * vector width)`
/// elements, dequantize without the fused multiply-add and (sigmoid) divide
/// in double precision; they can differ by one quantum near ties, and the
/// vectorised result is the one used here for every element.
fn map<T: QInt>(
    x: &QView<T>,
    dequant: Dequant,
    inv_out: f32,
    zp_out: i32,
    f: impl Fn(f32) -> f32,
) -> Vec<T> {
    let scale = x.q.scale_f32();
    let premul = scale_neg_zp_premul(scale, x.q.zero_point);
    let zp_f = x.q.zero_point as f32;
    // Every input value maps to one output value: fill a 256-entry table.
    let table: Vec<T> = (T::QMIN..=T::QMAX)
        .map(|q| {
            let v = match dequant {
                Dequant::Fused => dequantize_fma(q, scale, premul),
                Dequant::SubMul => dequantize_sub_mul(q, scale, zp_f),
            };
            quantize_f32(f(v), inv_out, zp_out)
        })
        .collect();
    x.data
        .iter()
        .map(|&v| table[(v.to_i32() - T::QMIN) as usize])
        .collect()
}

/// `quantized::hardswish(x, scale, zero_point)`:
/// `x * min(max(x + 3, 0), 6) / 6` (`qhardswish_kernel`; the inverse output
/// scale is `(float)(1.0 / scale)`).
///
/// Errors: invalid quantization parameters.
pub fn hardswish<T: QInt>(x: QView<T>, out_q: Affine) -> Result<Vec<T>, OpError> {
    x.q.validate::<T>("x")?;
    out_q.validate::<T>("output")?;
    let inv = inv_scale_f64(out_q.scale);
    Ok(map(&x, Dequant::Fused, inv, out_q.zero_point, |v| {
        v * (v + 3.0).clamp(0.0, 6.0) / 6.0
    }))
}

/// `quantized::sigmoid(x, scale, zero_point)`: `1 / (1 + exp(-x))` with the
/// input dequantized as `(q - zp) * scale` (`qsigmoid_kernel`; `torch.sigmoid`
/// on quint8 uses `scale = 1/256`, `zero_point = 0`).
///
/// Errors: invalid quantization parameters.
pub fn sigmoid<T: QInt>(x: QView<T>, out_q: Affine) -> Result<Vec<T>, OpError> {
    x.q.validate::<T>("x")?;
    out_q.validate::<T>("output")?;
    let inv = inv_scale_f64(out_q.scale);
    Ok(map(&x, Dequant::SubMul, inv, out_q.zero_point, |v| {
        let e = (-f64::from(v)).exp() as f32;
        1.0 / (1.0 + e)
    }))
}

/// The fixed output parameters of quantized `tanh`: scale `2/256`, zero point
/// 128 for quint8 and 0 for qint8.
pub fn tanh_output_qparams<T: QInt>() -> Affine {
    Affine::new(0.0078125, if T::QMIN == 0 { 128 } else { 0 })
}

/// `torch.tanh` on a quantized tensor (`qtanh_kernel`); the output parameters
/// are fixed (see [`tanh_output_qparams`]) and returned with the data.
///
/// Errors: invalid quantization parameters.
pub fn tanh<T: QInt>(x: QView<T>) -> Result<QVec<T>, OpError> {
    x.q.validate::<T>("x")?;
    let q = tanh_output_qparams::<T>();
    let data = map(&x, Dequant::Fused, 128.0, q.zero_point, |v| {
        f64::from(v).tanh() as f32
    });
    Ok(QVec { data, q })
}

/// `leaky_relu(x, negative_slope)` into `out_q` (`leaky_qrelu_out_kernel`:
/// `x > 0 ? x : x * slope` with the slope as `f32`, inverse scale
/// `1.0f / scale`).
///
/// Errors: invalid quantization parameters, non-finite slope.
pub fn leaky_relu<T: QInt>(
    x: QView<T>,
    negative_slope: f64,
    out_q: Affine,
) -> Result<Vec<T>, OpError> {
    x.q.validate::<T>("x")?;
    out_q.validate::<T>("output")?;
    check_finite("negative_slope", negative_slope)?;
    let slope = negative_slope as f32;
    let inv = inv_scale_f32(out_q.scale);
    Ok(map(&x, Dequant::Fused, inv, out_q.zero_point, |v| {
        if v > 0.0 {
            v
        } else {
            v * slope
        }
    }))
}

/// `quantized::elu(x, scale, zero_point, alpha)` (`qelu_kernel` with unit
/// `scale` and `input_scale` coefficients): `x > 0 ? x : expm1(x) * alpha`;
/// the inverse output scale is `(float)(1.0 / (float)scale)`.
///
/// Errors: invalid quantization parameters, non-finite alpha.
pub fn elu<T: QInt>(x: QView<T>, alpha: f64, out_q: Affine) -> Result<Vec<T>, OpError> {
    x.q.validate::<T>("x")?;
    out_q.validate::<T>("output")?;
    check_finite("alpha", alpha)?;
    let alpha = alpha as f32;
    let inv = (1.0 / f64::from(out_q.scale_f32())) as f32;
    Ok(map(&x, Dequant::Fused, inv, out_q.zero_point, |v| {
        if v > 0.0 {
            v
        } else {
            (f64::from(v).exp_m1() as f32) * alpha
        }
    }))
}
