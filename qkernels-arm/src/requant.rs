//! The scalar rules that define the numerics (QNNPACK's `requantization.h` and the parameter
//! set-up in PyTorch's `QnnpackUtils.h` / `QuantUtils.h`). Every kernel path must agree with
//! these functions bit for bit.

use qtensor::rounding::{inv_scale, quantize_val};

use crate::{KernelError, U8Quant, WeightQuant};

/// QNNPACK's fp32 requantization of an `int32` accumulator, as its NEON and SSE2 kernels do it:
/// `acc` to `f32` (round to nearest even), times `scale`, round to nearest even with
/// saturation to `int32`, saturate to `int16`, add the zero point with `int16` saturation,
/// saturate to `u8`, then clamp to `[min, max]`.
#[inline]
pub fn requantize(acc: i32, scale: f32, zero_point: u8, min: u8, max: u8) -> u8 {
    // `as i32` saturates and maps NaN to 0, like `vcvtnq_s32_f32`.
    let n = ((acc as f32) * scale).round_ties_even() as i32;
    let n16 = n.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
    let y = n16.saturating_add(zero_point as i16).clamp(0, 255) as u8;
    y.clamp(min, max)
}

/// The lower output limit of a fused ReLU: PyTorch's `activationLimits` quantizes 0.0, which
/// is the zero point.
pub(crate) fn relu_min(quant: U8Quant) -> u8 {
    quant.zero_point
}

/// The per-output-channel requantization scales of PyTorch's `generate_requantization_scales`:
/// `(w_scale as f32 * input_scale as f32) * (1.0f32 / output_scale as f32)`.
///
/// Errors (as PyTorch's `TORCH_CHECK` does) when a scale is not a positive normal `f32`.
pub fn requant_scales(
    weights: &WeightQuant,
    channels: usize,
    input_scale: f64,
    output_scale: f64,
) -> Result<Vec<f32>, KernelError> {
    let input = input_scale as f32;
    let inverse_output = 1.0f32 / output_scale as f32;
    (0..channels)
        .map(|c| {
            let s = (weights.channel(c).0 as f32 * input) * inverse_output;
            if s > 0.0 && s.is_normal() {
                Ok(s)
            } else {
                Err(KernelError::BadScale {
                    arg: "requantization scale (weight * input / output)",
                    value: f64::from(s),
                })
            }
        })
        .collect()
}

/// The bias of output channel `c` quantized to `int32` as PyTorch's `QuantizeBias` does:
/// `quantize_per_tensor(bias, w_scale * input_scale, 0, qint32)` with the product in `f64`.
pub fn quantize_bias(bias: f32, weight_scale: f64, input_scale: f64) -> i32 {
    let scale = weight_scale * input_scale;
    quantize_val(
        bias,
        inv_scale(scale),
        0,
        i64::from(i32::MIN),
        i64::from(i32::MAX),
    ) as i32
}

/// Fixed-point parameters of QNNPACK's `add` (`pytorch_qnnp_compute_add_quantization_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// Multiplier of `a` (below `2^22`).
    pub a_multiplier: i32,
    /// Multiplier of `b` (below `2^22`).
    pub b_multiplier: i32,
    /// Right shift, in `13..=31`.
    pub shift: u32,
    /// Zero point of `a`.
    pub a_zero_point: u8,
    /// Zero point of `b`.
    pub b_zero_point: u8,
    /// Zero point of the sum.
    pub y_zero_point: u8,
    /// Lower output clamp.
    pub y_min: u8,
    /// Upper output clamp.
    pub y_max: u8,
}

impl AddParams {
    /// Parameters for `a + b -> y` as QNNPACK's `pytorch_qnnp_create_add_nc_q8` computes them.
    ///
    /// Errors when a scale ratio is outside `[2^-14, 2^8)` (QNNPACK rejects those).
    pub fn new(a: U8Quant, b: U8Quant, y: U8Quant, relu: bool) -> Result<Self, KernelError> {
        let sum_scale = y.scale as f32;
        let a_output_scale = a.scale as f32 / sum_scale;
        let b_output_scale = b.scale as f32 / sum_scale;
        for ratio in [a_output_scale, b_output_scale] {
            if !(2f32.powi(-14)..2f32.powi(8)).contains(&ratio) {
                return Err(KernelError::Unsupported {
                    op: "add",
                    reason: format!("input-to-output scale ratio {ratio} is outside [2^-14, 2^8)"),
                });
            }
        }
        let max_output_scale = a_output_scale.max(b_output_scale);
        let max_scale_exponent = (max_output_scale.to_bits() >> 23) as i32 - 127;
        let shift = (21 - max_scale_exponent) as u32;
        let scale_multiplier = f32::from_bits(((21 - max_scale_exponent + 127) as u32) << 23);
        // `lrintf`: round to nearest even.
        let a_multiplier = (a_output_scale * scale_multiplier).round_ties_even() as i32;
        let b_multiplier = (b_output_scale * scale_multiplier).round_ties_even() as i32;
        Ok(AddParams {
            a_multiplier,
            b_multiplier,
            shift,
            a_zero_point: a.zero_point,
            b_zero_point: b.zero_point,
            y_zero_point: y.zero_point,
            y_min: if relu { relu_min(y) } else { 0 },
            y_max: 255,
        })
    }

    /// One sum: `a_mult * (a - a_zp) + b_mult * (b - b_zp)`, shifted right with rounding half
    /// away from zero, plus the output zero point, clamped.
    #[inline]
    pub fn apply(&self, a: u8, b: u8) -> u8 {
        let acc = self.a_multiplier * (i32::from(a) - i32::from(self.a_zero_point))
            + self.b_multiplier * (i32::from(b) - i32::from(self.b_zero_point));
        let mask = (1i32 << self.shift) - 1;
        let threshold = mask >> 1;
        let rem = (acc & mask) - i32::from(acc < 0);
        let q = (acc >> self.shift) + i32::from(rem > threshold);
        (q + i32::from(self.y_zero_point)).clamp(i32::from(self.y_min), i32::from(self.y_max)) as u8
    }
}

/// QNNPACK's average-pooling requantization (`pytorch_qnnp_avgpool_quantize`):
/// `clamp(lrintf(acc as f32 * scale) + zero_point, min, max)`.
#[inline]
pub fn avgpool_requantize(acc: i32, scale: f32, zero_point: u8, min: u8, max: u8) -> u8 {
    let n = ((acc as f32) * scale).round_ties_even() as i32;
    n.saturating_add(i32::from(zero_point))
        .clamp(i32::from(min), i32::from(max)) as u8
}

/// PyTorch's `requantize_from_int`: `clamp(zero_point + lrintf(src as f32 * multiplier))`.
#[inline]
pub fn requantize_from_int(src: i64, multiplier: f32, zero_point: u8) -> u8 {
    let n = ((src as f32) * multiplier).round_ties_even() as i64;
    (i64::from(zero_point) + n).clamp(0, 255) as u8
}

/// PyTorch's `quantize_val` for `quint8`.
#[inline]
pub fn quantize_u8(x: f32, quant: U8Quant) -> u8 {
    quantize_val(
        x,
        inv_scale(quant.scale),
        i32::from(quant.zero_point),
        0,
        255,
    ) as u8
}

/// PyTorch's scalar `dequantize_val` for `quint8`: `(q - zero_point) * scale` in `f32`.
#[inline]
pub fn dequantize_u8(q: u8, quant: U8Quant) -> f32 {
    (f32::from(q) - f32::from(quant.zero_point)) * quant.scale as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(scale: f64, zero_point: u8) -> U8Quant {
        U8Quant { scale, zero_point }
    }

    #[test]
    fn requantize_rounds_ties_to_even_and_saturates() {
        assert_eq!(requantize(5, 0.5, 10, 0, 255), 12); // 2.5 -> 2
        assert_eq!(requantize(7, 0.5, 10, 0, 255), 14); // 3.5 -> 4
        assert_eq!(requantize(-7, 0.5, 10, 0, 255), 6); // -3.5 -> -4
        assert_eq!(requantize(i32::MAX, 1e9, 0, 0, 255), 255);
        assert_eq!(requantize(i32::MIN, 1e9, 255, 0, 255), 0);
        assert_eq!(requantize(100, 1.0, 0, 20, 90), 90);
    }

    #[test]
    fn add_matches_a_real_valued_sum() {
        // Against the real-valued sum, the fixed-point result is within one quantum.
        let (a, b, y) = (q(0.0167, 120), q(0.0158, 63), q(0.05, 50));
        let p = AddParams::new(a, b, y, false).unwrap();
        assert!(p.shift >= 13 && p.shift < 32);
        for (qa, qb) in [(0u8, 0u8), (255, 255), (120, 63), (7, 200), (250, 3)] {
            let real = dequantize_u8(qa, a) + dequantize_u8(qb, b);
            let exact = (real / 0.05 + 50.0).clamp(0.0, 255.0);
            let got = f32::from(p.apply(qa, qb));
            assert!(
                (got - exact).abs() <= 0.5 + 1e-3,
                "{qa} {qb}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn add_rejects_extreme_ratios() {
        assert!(AddParams::new(q(1.0, 0), q(1.0, 0), q(1e-4, 0), false).is_err());
        assert!(AddParams::new(q(1e-6, 0), q(1.0, 0), q(1.0, 0), false).is_err());
    }

    #[test]
    fn bias_uses_the_f64_product_scale() {
        assert_eq!(quantize_bias(1.0, 0.5, 0.25), 8);
        assert_eq!(quantize_bias(-0.1875, 0.5, 0.25), -2); // -1.5 -> -2
        assert_eq!(quantize_bias(1e30, 1e-3, 1e-3), i32::MAX);
    }
}
