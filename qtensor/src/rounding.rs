//! The scalar rules that define PyTorch's quantization numerics.
//!
//! Every fast path elsewhere must agree with these functions.

/// Quantizes one value as PyTorch (fbgemm's `Quantize`) does:
/// `zero_point + round_half_even(x * (1.0f32 / scale as f32))`, computed in `f32`, clamped to
/// `qmin..=qmax`. NaN maps to the zero point (documented choice; PyTorch's result is undefined).
#[inline]
pub fn quantize_val(x: f32, inv_scale: f32, zero_point: i32, qmin: i64, qmax: i64) -> i64 {
    let t = zero_point as f32 + (x * inv_scale).round_ties_even();
    if t.is_nan() {
        return i64::from(zero_point).clamp(qmin, qmax);
    }
    (t as f64).clamp(qmin as f64, qmax as f64) as i64
}

/// `1.0f32 / scale as f32`: the multiplier PyTorch uses instead of dividing by the scale.
#[inline]
pub fn inv_scale(scale: f64) -> f32 {
    1.0f32 / scale as f32
}

/// Dequantizes one value as PyTorch's vectorised path does: `(q - zero_point) * scale`, in `f32`
/// with the scale rounded to `f32` (this matters for qint32, where `q` is large).
#[inline]
pub fn dequantize_val(q: i64, scale: f64, zero_point: i64) -> f32 {
    (q - zero_point) as f32 * scale as f32
}

/// PyTorch's `SMALL_SCALE_THRESHOLD` in `ChooseQuantizationParams`.
pub const SMALL_SCALE_THRESHOLD: f32 = 6.1e-5;

/// Scale and zero point for a range, as PyTorch's `quant_utils::ChooseQuantizationParams`
/// (used by dynamic quantization): the range is widened to include 0, the scale is computed in
/// `f64`, tiny scales are raised to [`SMALL_SCALE_THRESHOLD`], and the zero point comes from the
/// end with the smaller rounding error, nudged into `qmin..=qmax`.
///
/// `reduce_range` halves `qmin` and `qmax` (7-bit activations for fbgemm's AVX2 kernels).
/// The caller guarantees `min <= max`, both finite.
pub fn choose_qparams(
    min: f32,
    max: f32,
    qmin: i32,
    qmax: i32,
    preserve_sparsity: bool,
    reduce_range: bool,
) -> (f64, i32) {
    let (mut qmin, mut qmax) = (qmin, qmax);
    if reduce_range {
        qmin /= 2;
        qmax /= 2;
    }
    let (mut min, mut max) = (min, max);
    if min < 0.0 && max > 0.0 && preserve_sparsity {
        let symmetric_qmin = -((qmax - qmin) / 2 + 1);
        let symmetric_qmax = (qmax - qmin) / 2;
        let max_scale = f64::from((min / symmetric_qmin as f32).abs())
            .max(f64::from((max / symmetric_qmax as f32).abs()));
        min = (max_scale * f64::from(symmetric_qmin)) as f32;
        max = (max_scale * f64::from(symmetric_qmax)) as f32;
    }
    min = min.min(0.0);
    max = max.max(0.0);
    let mut scale = (f64::from(max) - f64::from(min)) / f64::from(qmax - qmin);
    if scale as f32 == 0.0 || (1.0f32 / scale as f32).is_infinite() {
        scale = 0.1;
    }
    if scale < f64::from(SMALL_SCALE_THRESHOLD) {
        let org_scale = scale as f32;
        scale = f64::from(SMALL_SCALE_THRESHOLD);
        if min == 0.0 {
            max = SMALL_SCALE_THRESHOLD * (qmax - qmin) as f32;
        } else if max == 0.0 {
            min = -SMALL_SCALE_THRESHOLD * (qmax - qmin) as f32;
        } else {
            let amplifier = SMALL_SCALE_THRESHOLD / org_scale;
            min *= amplifier;
            max *= amplifier;
        }
    }
    let zp_from_min = f64::from(qmin) - f64::from(min) / scale;
    let zp_from_max = f64::from(qmax) - f64::from(max) / scale;
    let zp_from_min_error = f64::from(qmin.abs()) - (f64::from(min) / scale).abs();
    let zp_from_max_error = f64::from(qmax.abs()) - (f64::from(max) / scale).abs();
    let mut initial = if zp_from_min_error < zp_from_max_error {
        zp_from_min
    } else {
        zp_from_max
    };
    if min < 0.0 && max > 0.0 && preserve_sparsity {
        initial = f64::from(qmin + qmax) / 2.0;
    }
    let zero_point = if initial < f64::from(qmin) {
        qmin
    } else if initial > f64::from(qmax) {
        qmax
    } else {
        initial.round_ties_even() as i32
    };
    (scale, zero_point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_round_to_even() {
        // 0.5 / 1.0 and 2.5 / 1.0 are exact ties.
        assert_eq!(quantize_val(0.5, 1.0, 0, -128, 127), 0);
        assert_eq!(quantize_val(1.5, 1.0, 0, -128, 127), 2);
        assert_eq!(quantize_val(2.5, 1.0, 0, -128, 127), 2);
        assert_eq!(quantize_val(-2.5, 1.0, 0, -128, 127), -2);
    }

    #[test]
    fn clamps_and_maps_nan_to_zero_point() {
        assert_eq!(quantize_val(1e9, 1.0, 3, 0, 255), 255);
        assert_eq!(quantize_val(-1e9, 1.0, 3, 0, 255), 0);
        assert_eq!(quantize_val(f32::NAN, 1.0, 3, 0, 255), 3);
        assert_eq!(quantize_val(f32::INFINITY, 1.0, 3, 0, 255), 255);
    }

    #[test]
    fn choose_qparams_covers_the_range_and_zero() {
        let (scale, zp) = choose_qparams(-1.0, 3.0, 0, 255, false, false);
        assert!((scale - 4.0 / 255.0).abs() < 1e-12);
        assert_eq!(zp, 64); // 0 - (-1)/(4/255) = 63.75 -> 64
        let (scale, zp) = choose_qparams(0.0, 0.0, 0, 255, false, false);
        assert_eq!((scale, zp), (0.1, 0));
        let (_, zp) = choose_qparams(-1.0, 1.0, 0, 255, false, true);
        assert!((0..=127).contains(&zp));
    }
}
