//! Slow, obviously-correct references shared by the integration tests:
//! dequantize -> float operation -> quantize with PyTorch's quantize rule.

#![allow(dead_code)]

use qkernels_x86::quant::{Affine, QInt};

/// `scale * (q - zp)` in `f64` (exact for 8-bit values).
pub fn deq<T: QInt>(v: T, q: Affine) -> f64 {
    q.scale * f64::from(v.to_i32() - q.zero_point)
}

/// PyTorch's quantize rule: `zp + round_half_even(x * (1.0f32 / scale as f32))`,
/// clamped to `T`.
pub fn quant<T: QInt>(x: f64, q: Affine) -> T {
    let inv = 1.0f32 / q.scale as f32;
    let r = (x as f32 * inv).round_ties_even();
    let v = (f64::from(r) + f64::from(q.zero_point)).clamp(f64::from(T::QMIN), f64::from(T::QMAX));
    T::from_i32_sat(v as i32)
}

/// Checks `got` against `want`: every element within one quantum; returns
/// how many differ by one.
pub fn assert_within_one<T: QInt>(what: &str, got: &[T], want: &[T]) -> usize {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut off = 0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g.to_i32() - w.to_i32()).abs();
        assert!(d <= 1, "{what}: element {i}: got {g:?}, reference {w:?}");
        off += usize::from(d == 1);
    }
    off
}

/// A deterministic pseudo-random byte sequence (SplitMix-style).
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
