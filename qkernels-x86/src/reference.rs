//! Slow, obviously-correct implementations that define the numerics.
//!
//! They work on the original (unpacked) int8 weights with zero points
//! subtracted directly (`sum (a - a_zp) * (w - w_zp)`, reduced modulo 2^32
//! like the wrapping i32 kernels) and apply the same per-element output
//! formula as the kernels. Every kernel path is tested against them.

use crate::output::{bias_terms, float_one, requant_one, FloatPipeline, OutputPipeline};

/// `C[i, j] = sum_k a[i, k] * w[j, k]`, wrapping to i32. `a` is `[m, k]`, `w` is `[n, k]`.
pub fn gemm_i32(a: &[u8], m: usize, k: usize, w: &[i8], n: usize) -> Vec<i32> {
    let mut out = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let s: i64 = (0..k)
                .map(|kk| a[i * k + kk] as i64 * w[j * k + kk] as i64)
                .sum();
            out[i * n + j] = s as i32;
        }
    }
    out
}

/// Zero-point corrected accumulators `sum_k (a - a_zp) (w - w_zp[j])`, wrapping to i32.
pub fn gemm_corrected(
    a: &[u8],
    m: usize,
    k: usize,
    a_zp: i32,
    w: &[i8],
    n: usize,
    w_zp: &[i32],
) -> Vec<i32> {
    let mut out = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let s: i64 = (0..k)
                .map(|kk| {
                    (a[i * k + kk] as i64 - a_zp as i64) * (w[j * k + kk] as i64 - w_zp[j] as i64)
                })
                .sum();
            out[i * n + j] = s as i32;
        }
    }
    out
}

/// Requantizes corrected accumulators `[m, n]` through `p`.
pub fn requantize(x: &[i32], n: usize, p: &OutputPipeline) -> Vec<u8> {
    let lo = p.clamp_min as i32;
    let hi = p.clamp_max as i32;
    let (b, s) = bias_terms(p.bias.as_ref(), n);
    x.iter()
        .enumerate()
        .map(|(idx, &v)| {
            let j = idx % n;
            requant_one(v, b[j], s[j], p.multiplier.get(j), p.zero_point, lo, hi)
        })
        .collect()
}

/// Dequantizes corrected accumulators `[m, n]` through `p`.
pub fn dequantize(x: &[i32], n: usize, p: &FloatPipeline) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(idx, &v)| {
            let j = idx % n;
            let bias = p.bias.as_ref().map_or(0.0, |b| b[j]);
            float_one(v, p.scale.get(j), bias, p.relu)
        })
        .collect()
}
