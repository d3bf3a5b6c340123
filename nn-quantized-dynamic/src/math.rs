//! `sigmoid` and `tanh` over slices, as ATen computes them on CPU (`1 / (1 + exp(-x))`, `tanh`)
//! to within a few ulp of the exact values (ATen's vectorized Sleef versions are within 1 ulp).
//!
//! The element functions are branch-free (Cody-Waite range reduction and Cephes polynomials,
//! rounding by the `1.5 * 2^23` trick, selects instead of branches, no fused multiply-add) so the
//! compiler vectorizes the slice loops at every [`Width`](crate::isa::Width); every width gives
//! the same bits.

use crate::isa::{width, Width};

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split so that `n * LN2_HI` is exact for the `n` that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and subtracting it rounds to the nearest integer (ties to even) for `|x| < 2^22`.
const ROUND: f32 = 12_582_912.0;
/// `exp` is evaluated on `[EXP_LO, EXP_HI]` (results stay normal and finite).
const EXP_LO: f32 = -87.33;
const EXP_HI: f32 = 88.37;
/// Below this magnitude `tanh` uses its odd polynomial.
const TANH_SMALL: f32 = 0.625;
/// Above this magnitude `tanh` rounds to `±1`.
const TANH_BIG: f32 = 9.0;

/// `exp(x)` for `x` clamped to `[EXP_LO, EXP_HI]`.
#[inline(always)]
fn exp_clamped(x: f32) -> f32 {
    let x = x.clamp(EXP_LO, EXP_HI);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let r2 = r * r;
    let mut p = 1.987_569_2e-4;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let e = (p * r2 + r) + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e * scale
}

/// `1 / (1 + exp(-x))`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_clamped(-x))
}

/// `tanh(x)`: an odd polynomial below `0.625`, `1 - 2 / (exp(2|x|) + 1)` above, `±1` beyond 9.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = -5.704_988_7e-3;
    p = p * z + 2.063_909e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 1.333_144_2e-1;
    p = p * z - 3.333_328e-1;
    let small = (p * z) * x + x;
    let big = 1.0 - 2.0 / (exp_clamped(2.0 * a.min(TANH_BIG)) + 1.0);
    let big = if a >= TANH_BIG { 1.0 } else { big };
    let big = if x < 0.0 { -big } else { big };
    if a < TANH_SMALL {
        small
    } else {
        big
    }
}

#[inline(always)]
fn sigmoid_loop(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = sigmoid(*v));
}

#[inline(always)]
fn tanh_loop(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = tanh(*v));
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sigmoid_avx2(x: &mut [f32]) {
        super::sigmoid_loop(x)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tanh_avx2(x: &mut [f32]) {
        super::tanh_loop(x)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sigmoid_avx512(x: &mut [f32]) {
        super::sigmoid_loop(x)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tanh_avx512(x: &mut [f32]) {
        super::tanh_loop(x)
    }
}

fn sigmoid_with(w: Width, x: &mut [f32]) {
    match w {
        Width::Baseline => sigmoid_loop(x),
        // SAFETY: `width()` chose AVX2 only after detecting it on this CPU (tests pass a width
        // they checked the same way).
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { x86::sigmoid_avx2(x) },
        // SAFETY: as above, for AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { x86::sigmoid_avx512(x) },
    }
}

fn tanh_with(w: Width, x: &mut [f32]) {
    match w {
        Width::Baseline => tanh_loop(x),
        // SAFETY: `width()` chose AVX2 only after detecting it on this CPU.
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { x86::tanh_avx2(x) },
        // SAFETY: as above, for AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { x86::tanh_avx512(x) },
    }
}

/// `x <- sigmoid(x)` elementwise.
pub fn sigmoid_in_place(x: &mut [f32]) {
    sigmoid_with(width(), x)
}

/// `x <- tanh(x)` elementwise.
pub fn tanh_in_place(x: &mut [f32]) {
    tanh_with(width(), x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every width this CPU can run.
    fn widths() -> Vec<Width> {
        let v = crate::isa::available();
        if v.len() < 3 {
            eprintln!("skipped: the widths this CPU lacks (ran {v:?})");
        }
        v
    }

    /// The spacing of `f32` values at `v` (normal range).
    fn ulp_of(v: f64) -> f64 {
        let a = (v.abs() as f32).max(f32::MIN_POSITIVE);
        let exponent = ((a.to_bits() >> 23) & 0xff) as i32;
        2f64.powi(exponent - 127 - 23)
    }

    /// The error of `a` against the exact `b`, in units in the last place of `b`.
    fn ulps(a: f32, b: f64) -> f64 {
        (f64::from(a) - b).abs() / ulp_of(b)
    }

    fn sweep() -> Vec<f32> {
        let mut v: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 1e-4).collect();
        v.extend((-300..=300).map(|i| i as f32 * 0.5));
        v.extend([
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            0.624_999_9,
            0.625,
            8.999_999,
            9.0,
            88.0,
            -88.0,
            1e6,
            -1e6,
        ]);
        v
    }

    #[test]
    fn sigmoid_is_within_a_few_ulp_of_the_exact_value() {
        let mut worst = 0.0f64;
        for &x in &sweep() {
            let want = 1.0 / (1.0 + (-f64::from(x)).exp());
            let got = sigmoid(x);
            // Below 1e-30 the clamped exp makes the result a tiny number rather than the exact
            // (even tinier) one; only the absolute error matters there.
            if want < 1e-30 {
                assert!(got < 1e-30, "sigmoid({x}) = {got}");
                continue;
            }
            worst = worst.max(ulps(got, want));
        }
        assert!(worst <= 3.0, "worst sigmoid error {worst} ulp");
    }

    #[test]
    fn tanh_is_within_a_few_ulp_or_1e_8_of_the_exact_value() {
        for &x in &sweep() {
            let want = f64::from(x).tanh();
            let got = tanh(x);
            let err = (f64::from(got) - want).abs();
            assert!(
                ulps(got, want) <= 4.0 || err <= 1e-8,
                "tanh({x}) = {got}, exact {want}"
            );
            assert!(
                got == 0.0 || got.signum() == x.signum(),
                "tanh({x}) = {got}"
            );
        }
    }

    #[test]
    fn every_width_gives_the_same_bits_on_ragged_lengths() {
        let xs = sweep();
        for len in [0usize, 1, 7, 8, 15, 16, 17, 33, 1000] {
            let input = &xs[xs.len() / 2 - len / 2..][..len];
            let mut want_s = input.to_vec();
            let mut want_t = input.to_vec();
            want_s.iter_mut().for_each(|v| *v = sigmoid(*v));
            want_t.iter_mut().for_each(|v| *v = tanh(*v));
            for w in widths() {
                let (mut s, mut t) = (input.to_vec(), input.to_vec());
                sigmoid_with(w, &mut s);
                tanh_with(w, &mut t);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&s), bits(&want_s), "sigmoid {w:?} len {len}");
                assert_eq!(bits(&t), bits(&want_t), "tanh {w:?} len {len}");
            }
        }
    }
}
