//! fbgemm's `ChooseQuantizationParams`, which the fused observer + fake-quant kernel uses
//! (not the observers' `_calculate_qparams`): scale rounded to `f32` right away, small scales
//! raised to `6.1e-5`, the zero point from the end with the smaller magnitude sum.

/// fbgemm's `SMALL_SCALE_THRESHOLD` (the smallest normal `f16`).
const SMALL_SCALE_THRESHOLD: f32 = 6.1e-5;

/// Scale and zero point for `[min, max]` over `qmin..=qmax` as fbgemm computes them;
/// `preserve_sparsity` is the symmetric variant (zero point at the middle of the range when the
/// range straddles 0). Infinite inputs give fbgemm's results for them (`min = +inf`,
/// `max = -inf` collapse to `[0, 0]`: scale 0.1). The integer arithmetic is done in `i64`
/// (fbgemm's `int32` would overflow for the full qint32 range).
pub fn choose_qparams_fbgemm(
    min: f32,
    max: f32,
    qmin: i64,
    qmax: i64,
    preserve_sparsity: bool,
) -> (f32, i64) {
    let (mut min, mut max) = (min, max);
    if min < 0.0 && max > 0.0 && preserve_sparsity {
        let sym_qmin = -((qmax - qmin) / 2 + 1);
        let sym_qmax = (qmax - qmin) / 2;
        let max_scale =
            f64::from((min / sym_qmin as f32).abs()).max(f64::from((max / sym_qmax as f32).abs()));
        min = (max_scale * sym_qmin as f64) as f32;
        max = (max_scale * sym_qmax as f64) as f32;
    }
    min = min.min(0.0);
    max = max.max(0.0);
    let mut scale = ((f64::from(max) - f64::from(min)) / (qmax - qmin) as f64) as f32;
    if scale == 0.0 || (1.0f32 / scale).is_infinite() {
        scale = 0.1;
    }
    if scale < SMALL_SCALE_THRESHOLD {
        let org = scale;
        scale = SMALL_SCALE_THRESHOLD;
        if min == 0.0 {
            max = SMALL_SCALE_THRESHOLD * (qmax - qmin) as f32;
        } else if max == 0.0 {
            min = -SMALL_SCALE_THRESHOLD * (qmax - qmin) as f32;
        } else {
            let amplifier = SMALL_SCALE_THRESHOLD / org;
            min *= amplifier;
            max *= amplifier;
        }
    }
    let s = f64::from(scale);
    let from_min = qmin as f64 - f64::from(min) / s;
    let from_max = qmax as f64 - f64::from(max) / s;
    let err_min = qmin.abs() as f64 + (f64::from(min) / s).abs();
    let err_max = qmax.abs() as f64 + (f64::from(max) / s).abs();
    let mut initial = if err_min < err_max {
        from_min
    } else {
        from_max
    };
    if min < 0.0 && max > 0.0 && preserve_sparsity {
        initial = (qmin + qmax) as f64 / 2.0;
    }
    let zp = if initial < qmin as f64 {
        qmin
    } else if initial > qmax as f64 {
        qmax
    } else {
        initial.round_ties_even() as i64
    };
    (scale, zp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_covers_range_and_zero() {
        let (s, z) = choose_qparams_fbgemm(-1.0, 3.0, 0, 255, false);
        assert_eq!(s, (4.0f64 / 255.0) as f32);
        assert_eq!(z, 64);
        let (s, z) = choose_qparams_fbgemm(0.0, 0.0, 0, 127, false);
        assert_eq!((s, z), (0.1, 0));
    }

    #[test]
    fn symmetric_puts_zero_in_the_middle() {
        let (s, z) = choose_qparams_fbgemm(-2.0, 1.0, -128, 127, true);
        assert_eq!(z, 0);
        assert!((f64::from(s) - 2.0 * 255.0 / 128.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn tiny_ranges_get_the_threshold_scale() {
        let (s, _) = choose_qparams_fbgemm(0.0, 1e-6, 0, 255, false);
        assert_eq!(s, SMALL_SCALE_THRESHOLD);
    }
}
