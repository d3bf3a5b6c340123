//! Branch-free `exp`, `sigmoid` and `tanh` for f32, written with plain arithmetic and bit
//! operations so that loops over them vectorize. Accurate to a few ulp (tests below measure
//! against f64 on a dense grid); they use no fused multiply-add, so every instruction set
//! gives the same bits.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exact in few bits and the rest (Cody-Waite reduction).
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// `e^x`, clamped to `[e^-87.3, e^88]` (0 and infinity are never returned).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series of e^r to r^7 on |r| <= ln2 / 2: truncation below 6e-9 relative.
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Below this magnitude `tanh` uses its odd Taylor series.
const TANH_SERIES: f32 = 0.4;

/// Hyperbolic tangent: the Taylor series to x^15 near 0, `1 - 2 / (e^2|x| + 1)` elsewhere.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = a * a;
    let mut p = -929_569.0 / 638_512_875.0;
    p = p * z + 21_844.0 / 6_081_075.0;
    p = p * z + -1_382.0 / 155_925.0;
    p = p * z + 62.0 / 2_835.0;
    p = p * z + -17.0 / 315.0;
    p = p * z + 2.0 / 15.0;
    p = p * z + -1.0 / 3.0;
    let small = a + a * (p * z);
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let t = if a < TANH_SERIES { small } else { large };
    t.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest error in ulp of the result (f32 spacing at the true value) over `[lo, hi]`.
    fn worst_ulp(f: fn(f32) -> f32, r: fn(f64) -> f64, lo: f32, hi: f32) -> f64 {
        let steps = 200_000;
        let mut worst = 0.0f64;
        for i in 0..=steps {
            let x = lo + (hi - lo) * i as f32 / steps as f32;
            let want = r(f64::from(x));
            let got = f64::from(f(x));
            let ulp = f64::from(f32::EPSILON) * want.abs().max(f64::from(f32::MIN_POSITIVE));
            worst = worst.max((got - want).abs() / ulp);
        }
        worst
    }

    #[test]
    fn exp_is_within_two_ulp() {
        let w = worst_ulp(exp, f64::exp, -87.0, 87.9);
        assert!(w <= 2.0, "exp: {w} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) > 0.0 && exp(1000.0).is_finite());
    }

    #[test]
    fn sigmoid_is_within_four_ulp() {
        let w = worst_ulp(sigmoid, |x| 1.0 / (1.0 + (-x).exp()), -80.0, 30.0);
        assert!(w <= 4.0, "sigmoid: {w} ulp");
        assert_eq!(sigmoid(200.0), 1.0);
        assert!(sigmoid(-200.0) >= 0.0);
    }

    #[test]
    fn tanh_is_within_eight_ulp_and_odd() {
        let w = worst_ulp(tanh, f64::tanh, -12.0, 12.0);
        assert!(w <= 8.0, "tanh: {w} ulp");
        let w = worst_ulp(tanh, f64::tanh, -0.5, 0.5);
        assert!(w <= 8.0, "tanh near 0: {w} ulp");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(50.0), 1.0);
        assert_eq!(tanh(-50.0), -1.0);
        for x in [1e-30f32, 1e-5, 0.3, 0.4, 0.7, 3.0] {
            assert_eq!(tanh(-x), -tanh(x));
        }
    }
}
