//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod fixture;

use qkernels_x86::{available_isas, Isa};

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn u8s(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
    pub fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n)
            .map(|_| (self.next_u64() >> 56) as u8 as i8)
            .collect()
    }
    /// Uniform in [lo, hi).
    pub fn f32_in(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    pub fn f32s(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32_in(lo, hi)).collect()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Every ISA path this CPU runs; prints the ones skipped so a missing path is visible.
pub fn isas() -> Vec<Isa> {
    let avail = available_isas();
    for isa in Isa::ALL {
        if !avail.contains(&isa) {
            eprintln!("skipped: ISA {isa} is not available on this CPU");
        }
    }
    avail
}

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
