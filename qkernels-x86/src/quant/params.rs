//! Quantization parameters and PyTorch's qparam choice for dynamic activations.

use crate::error::{KernelError, Result};

/// Per-tensor affine quantization parameters: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// Scale (stored as `f64` like PyTorch; kernels use it as `f32`).
    pub scale: f64,
    /// Zero point.
    pub zero_point: i32,
}

impl QParams {
    /// Builds quantization parameters (not validated until used).
    pub fn new(scale: f64, zero_point: i32) -> Self {
        QParams { scale, zero_point }
    }

    /// Checks a quint8 tensor's parameters: scale finite > 0, zero point in 0..=255.
    pub(crate) fn validate_u8(&self, what: &'static str) -> Result<()> {
        validate_scale(self.scale, what)?;
        validate_zero_point(self.zero_point, what, 0, 255)
    }
}

/// How an int8 weight is quantized: one scale/zero point, or one per output channel.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightQuant {
    /// `per_tensor_affine`.
    PerTensor {
        /// Scale.
        scale: f64,
        /// Zero point (-128..=127).
        zero_point: i32,
    },
    /// `per_channel_affine` along the output-channel axis.
    PerChannel {
        /// One scale per output channel.
        scales: Vec<f64>,
        /// One zero point per output channel (-128..=127).
        zero_points: Vec<i32>,
    },
}

impl WeightQuant {
    /// Checks scales and zero points and, for per-channel, that there are `n` of each.
    pub(crate) fn validate(&self, n: usize) -> Result<()> {
        match self {
            WeightQuant::PerTensor { scale, zero_point } => {
                validate_scale(*scale, "weight scale")?;
                validate_zero_point(*zero_point, "weight", -128, 127)
            }
            WeightQuant::PerChannel {
                scales,
                zero_points,
            } => {
                if scales.len() != n {
                    return Err(KernelError::LengthMismatch {
                        what: "per-channel weight scales",
                        expected: n,
                        got: scales.len(),
                    });
                }
                if zero_points.len() != n {
                    return Err(KernelError::LengthMismatch {
                        what: "per-channel weight zero points",
                        expected: n,
                        got: zero_points.len(),
                    });
                }
                for &s in scales {
                    validate_scale(s, "weight scale")?;
                }
                for &z in zero_points {
                    validate_zero_point(z, "weight", -128, 127)?;
                }
                Ok(())
            }
        }
    }

    /// The weight zero point of output channel `j`.
    pub fn zero_point(&self, j: usize) -> i32 {
        match self {
            WeightQuant::PerTensor { zero_point, .. } => *zero_point,
            WeightQuant::PerChannel { zero_points, .. } => zero_points[j],
        }
    }

    /// The weight scale of output channel `j`, as the `f32` the kernels use.
    pub fn scale_f32(&self, j: usize) -> f32 {
        match self {
            WeightQuant::PerTensor { scale, .. } => *scale as f32,
            WeightQuant::PerChannel { scales, .. } => scales[j] as f32,
        }
    }

    /// Whether this is per-channel quantization.
    pub fn is_per_channel(&self) -> bool {
        matches!(self, WeightQuant::PerChannel { .. })
    }
}

/// Rejects zero, negative, non-finite scales and those whose `f32` reciprocal overflows.
pub(crate) fn validate_scale(scale: f64, what: &'static str) -> Result<()> {
    let s32 = scale as f32;
    if !(scale.is_finite() && scale > 0.0 && s32 > 0.0 && (1.0f32 / s32).is_finite()) {
        return Err(KernelError::InvalidScale { what, value: scale });
    }
    Ok(())
}

pub(crate) fn validate_zero_point(zp: i32, what: &'static str, min: i32, max: i32) -> Result<()> {
    if zp < min || zp > max {
        return Err(KernelError::InvalidZeroPoint {
            what,
            value: zp as i64,
            min: min as i64,
            max: max as i64,
        });
    }
    Ok(())
}

/// x86 `cvtps2dq` semantics: round to nearest, ties to even; NaN or out of
/// `i32` range gives `i32::MIN` (the "integer indefinite" value).
#[inline(always)]
pub(crate) fn cvt_f32_i32_nearest(x: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&x) {
        x.round_ties_even() as i32
    } else {
        i32::MIN
    }
}

/// Min and max of a float slice as fbgemm's `FindMinMax` (0, 0 for an empty slice).
pub fn find_min_max(x: &[f32]) -> (f32, f32) {
    let Some(&first) = x.first() else {
        return (0.0, 0.0);
    };
    let (lo, hi, _) = lanes_min_max(x, first);
    (lo, hi)
}

/// Min and max of `x`, `None` if any element is NaN or infinite; (0, 0) for an empty slice.
/// Long slices are split across the crate's threads (min and max do not depend on the order).
pub(crate) fn finite_min_max(x: &[f32]) -> Option<(f32, f32)> {
    const PART: usize = 1 << 16;
    let Some(&first) = x.first() else {
        return Some((0.0, 0.0));
    };
    let parts = if x.len() >= 4 * PART {
        x.len().div_ceil(PART)
    } else {
        1
    };
    let mut found = vec![(first, first, true); parts];
    let scan = |i: usize, out: &mut [(f32, f32, bool)]| {
        out[0] = lanes_min_max(&x[i * PART..x.len().min((i + 1) * PART)], first);
    };
    if parts == 1 {
        scan(0, &mut found);
    } else {
        qtensor::threads::for_each_chunk_mut(&mut found, 1, scan);
    }
    found
        .into_iter()
        .try_fold((first, first), |(lo, hi), (l, h, ok)| {
            ok.then_some((if l < lo { l } else { lo }, if h > hi { h } else { hi }))
        })
}

/// Min, max (NaN ignored, as fbgemm's comparisons do) and whether every element is finite,
/// in 16 independent lanes the compiler vectorises; `init` must be an element of `x`.
fn lanes_min_max(x: &[f32], init: f32) -> (f32, f32, bool) {
    const L: usize = 16;
    let (mut lo, mut hi, mut nan) = ([init; L], [init; L], [0.0f32; L]);
    let mut step = |c: &[f32]| {
        for j in 0..c.len() {
            let v = c[j];
            lo[j] = if v < lo[j] { v } else { lo[j] };
            hi[j] = if v > hi[j] { v } else { hi[j] };
            // `0 * v` is 0 for finite `v` and NaN for NaN or infinite `v`.
            nan[j] += 0.0 * v;
        }
    };
    let chunks = x.chunks_exact(L);
    let rest = chunks.remainder();
    chunks.for_each(&mut step);
    step(rest);
    let lo = lo.into_iter().fold(init, |a, v| if v < a { v } else { a });
    let hi = hi.into_iter().fold(init, |a, v| if v > a { v } else { a });
    (lo, hi, nan.iter().all(|v| *v == 0.0))
}

/// PyTorch's `quant_utils::ChooseQuantizationParams` (no sparsity preservation,
/// no power-of-two scale): the scale (as `f64`) and zero point for `[min, max]`.
pub fn choose_qparams(
    min: f32,
    max: f32,
    qmin: i32,
    qmax: i32,
    reduce_range: bool,
) -> Result<QParams> {
    if !(min.is_finite() && max.is_finite()) {
        return Err(KernelError::NonFinite("range for qparams"));
    }
    if min > max {
        return Err(KernelError::Shape(format!(
            "choose_qparams: min {min} > max {max}"
        )));
    }
    let (qmin, qmax) = if reduce_range {
        (qmin / 2, qmax / 2)
    } else {
        (qmin, qmax)
    };
    if qmin >= qmax {
        return Err(KernelError::Shape(format!(
            "choose_qparams: qmin {qmin} >= qmax {qmax}"
        )));
    }
    // std::min(min, 0.f) / std::max(max, 0.f), keeping C++'s operand order.
    let mut min = if 0.0 < min { 0.0 } else { min };
    let mut max = if max < 0.0 { 0.0 } else { max };
    let qrange = qmax - qmin;
    let mut scale = (max as f64 - min as f64) / qrange as f64;
    if (scale as f32) == 0.0 || (1.0f32 / scale as f32).is_infinite() {
        scale = 0.1;
    }
    const SMALL_SCALE_THRESHOLD: f32 = 6.1e-5;
    if scale < SMALL_SCALE_THRESHOLD as f64 {
        let org_scale = scale as f32;
        scale = SMALL_SCALE_THRESHOLD as f64;
        if min == 0.0 {
            max = SMALL_SCALE_THRESHOLD * qrange as f32;
        } else if max == 0.0 {
            min = -SMALL_SCALE_THRESHOLD * qrange as f32;
        } else {
            let amplifier = SMALL_SCALE_THRESHOLD / org_scale;
            min *= amplifier;
            max *= amplifier;
        }
    }
    let zp_from_min = qmin as f64 - min as f64 / scale;
    let zp_from_max = qmax as f64 - max as f64 / scale;
    let zp_from_min_error = qmin.abs() as f64 - (min as f64 / scale).abs();
    let zp_from_max_error = qmax.abs() as f64 - (max as f64 / scale).abs();
    let initial = if zp_from_min_error < zp_from_max_error {
        zp_from_min
    } else {
        zp_from_max
    };
    let zero_point = if initial < qmin as f64 {
        qmin
    } else if initial > qmax as f64 {
        qmax
    } else {
        initial.round_ties_even() as i32
    };
    Ok(QParams { scale, zero_point })
}

/// fbgemm's (legacy) `Quantize` of one value to u8: `fma(x, 1/scale, zp)`, rounded
/// to nearest even, clamped to 0..=255. `inv_scale` is `1.0f32 / scale as f32`.
#[inline(always)]
pub(crate) fn quantize_u8_one(x: f32, inv_scale: f32, zero_point: f32) -> u8 {
    let t = x.mul_add(inv_scale, zero_point);
    // _mm256_min_ps(t, c) returns c when t is NaN.
    let t = if t < 2_147_483_520.0 {
        t
    } else {
        2_147_483_520.0
    };
    cvt_f32_i32_nearest(t).clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain definition: NaN and infinities make it `None`.
    fn naive(x: &[f32]) -> Option<(f32, f32)> {
        if x.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        Some(if x.is_empty() { (0.0, 0.0) } else { (lo, hi) })
    }

    proptest! {
        #[test]
        fn finite_min_max_matches_the_definition(
            x in prop::collection::vec(-1e6f32..1e6, 0..200),
            poison in prop::option::of((0usize..200, prop::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY]))),
        ) {
            let mut x = x;
            if let Some((at, v)) = poison {
                if !x.is_empty() {
                    let at = at % x.len();
                    x[at] = v;
                }
            }
            prop_assert_eq!(finite_min_max(&x), naive(&x));
        }
    }

    #[test]
    fn finite_min_max_of_long_slices_split_across_threads() {
        let n = (1 << 18) + 77;
        let mut x: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 10007) as f32 - 5000.0)
            .collect();
        x[n - 1] = 9000.0;
        x[(1 << 16) + 3] = -7000.0;
        assert_eq!(finite_min_max(&x), naive(&x));
        assert_eq!(find_min_max(&x), (-7000.0, 9000.0));
        x[200_000] = f32::NAN;
        assert_eq!(finite_min_max(&x), None);
    }

    #[test]
    fn cvt_matches_x86_semantics() {
        assert_eq!(cvt_f32_i32_nearest(2.5), 2);
        assert_eq!(cvt_f32_i32_nearest(3.5), 4);
        assert_eq!(cvt_f32_i32_nearest(-2.5), -2);
        assert_eq!(cvt_f32_i32_nearest(f32::NAN), i32::MIN);
        assert_eq!(cvt_f32_i32_nearest(3.0e9), i32::MIN);
        assert_eq!(cvt_f32_i32_nearest(-2_147_483_648.0), i32::MIN);
        assert_eq!(cvt_f32_i32_nearest(2_147_483_520.0), 2_147_483_520);
    }

    #[test]
    fn qparams_cover_zero_and_range() {
        let q = choose_qparams(-1.0, 3.0, 0, 255, false).unwrap();
        assert!((q.scale - 4.0 / 255.0).abs() < 1e-12);
        assert_eq!(q.zero_point, 64);
        let q = choose_qparams(-1.0, 3.0, 0, 255, true).unwrap();
        assert!((q.scale - 4.0 / 127.0).abs() < 1e-12);
        assert_eq!(q.zero_point, 32);
        let q = choose_qparams(0.0, 0.0, 0, 255, false).unwrap();
        assert_eq!(q.scale, 0.1);
        assert_eq!(q.zero_point, 0);
        assert!(choose_qparams(f32::NAN, 0.0, 0, 255, false).is_err());
    }

    #[test]
    fn small_ranges_use_the_scale_floor() {
        let q = choose_qparams(0.0, 1e-3, 0, 255, false).unwrap();
        assert_eq!(q.scale, 6.1e-5f32 as f64);
        assert_eq!(q.zero_point, 0);
    }

    #[test]
    fn quantize_rounds_half_to_even_and_clamps() {
        assert_eq!(quantize_u8_one(0.5, 1.0, 0.0), 0);
        assert_eq!(quantize_u8_one(1.5, 1.0, 0.0), 2);
        assert_eq!(quantize_u8_one(-7.0, 1.0, 3.0), 0);
        assert_eq!(quantize_u8_one(1e30, 1.0, 3.0), 255);
    }
}
