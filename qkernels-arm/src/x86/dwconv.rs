//! Depthwise convolution over channels-last pixels, for both x86 instruction sets:
//!
//! - AVX-512 VNNI (`dwconv_avx512`): `vpdpbusd` on 64 raw channel bytes per load against
//!   one-hot weight vectors, with the zero-point terms restored exactly afterwards.
//! - AVX2 (here): 16 channels per block, up to 4 blocks per pixel at a time, one `vpmaddwd` +
//!   `vpaddd` per kernel position. Each 32-bit lane pairs the zero-extended activation (high
//!   half 0) with `w - wz` (whose high half then multiplies the 0), so every product and sum
//!   is the reference's exact `i32` arithmetic.

use core::arch::x86_64::*;

use super::dwconv_avx512;
use super::requant::{pack16, requant8};
use super::Isa;
use crate::gemm::Offsets;

/// The per-channel data of one instruction set's kernel.
pub(crate) enum DwWeights<'a> {
    /// For AVX2, per channel `c` of block `b = c / 16`, lane `c % 16`.
    Diff16 {
        /// `w - wz` per `[block of 16][step][16]`.
        diff16: &'a [i32],
        /// Start values (`blocks * 16`): bias minus `az * sum(w - wz)`.
        init16: &'a [i32],
        /// Requantization scales (`blocks * 16`).
        scales16: &'a [f32],
    },
    /// For AVX-512, per channel `c = 64 b + 4 j + r`, in `[b][r][j]` order (`j < 16`).
    OneHot {
        /// `[block of 64][step][r][64]` raw `qint8` bytes: byte `4 j + r` of vector `r` is
        /// channel `64 b + 4 j + r`'s weight, the other bytes 0.
        onehot: &'a [u8],
        /// Start values: bias `+ ks az zw - az sum(w)`.
        init64: &'a [i32],
        /// Requantization scales.
        scales64: &'a [f32],
        /// `qint8` weight zero points, or `None` when all are 0.
        zw64: Option<&'a [i32]>,
    },
}

/// One depthwise call: `out[p * channels + c]` for every output pixel `p`.
pub(crate) struct Depthwise<'a> {
    /// NHWC activations; pixel reads cover `channels` rounded up to 64.
    pub input: &'a [u8],
    /// `pixels * ks` pixel offsets into `input`.
    pub indirection: &'a Offsets,
    pub pixels: usize,
    pub ks: usize,
    pub channels: usize,
    pub weights: DwWeights<'a>,
    pub output_zp: u8,
    pub min: u8,
    pub max: u8,
}

/// Runs the convolution into `out` (`pixels * channels` bytes) with `isa`'s kernel.
///
/// Panics if the CPU lacks `isa`, the weights are not `isa`'s kind or a buffer is too small
/// for the sizes (callers build them; a mismatch is a bug).
pub(crate) fn run(isa: Isa, d: &Depthwise, out: &mut [u8]) {
    assert!(isa.detected());
    assert_eq!(d.indirection.len(), d.pixels * d.ks);
    assert_eq!(out.len(), d.pixels * d.channels);
    match (isa, &d.weights) {
        (Isa::Avx512Vnni, DwWeights::OneHot { .. }) => dwconv_avx512::run(d, out),
        (Isa::Avx2, DwWeights::Diff16 { .. }) => run_avx2(d, out),
        _ => panic!("depthwise weights prepared for another instruction set"),
    }
}

fn run_avx2(d: &Depthwise, out: &mut [u8]) {
    let DwWeights::Diff16 {
        diff16,
        init16,
        scales16,
    } = d.weights
    else {
        unreachable!("checked by run")
    };
    let blocks = d.channels.div_ceil(16);
    assert!(diff16.len() >= blocks * d.ks * 16);
    assert!(init16.len() >= blocks * 16 && scales16.len() >= blocks * 16);
    assert!(d.pixels == 0 || d.indirection.max() + blocks * 16 <= d.input.len());
    for p in 0..d.pixels {
        let mut b0 = 0;
        while b0 < blocks {
            let nb = (blocks - b0).min(4);
            // SAFETY: `run` asserted AVX2, the indirection and output lengths; the asserts
            // above bound every read; pixel `p` and blocks `b0..b0 + nb` exist.
            unsafe {
                match nb {
                    4 => blocks_avx2::<4>(d, (diff16, init16, scales16), p, b0, out),
                    3 => blocks_avx2::<3>(d, (diff16, init16, scales16), p, b0, out),
                    2 => blocks_avx2::<2>(d, (diff16, init16, scales16), p, b0, out),
                    _ => blocks_avx2::<1>(d, (diff16, init16, scales16), p, b0, out),
                }
            }
            b0 += nb;
        }
    }
}

/// # Safety
/// The CPU has AVX2; pixel `p` and blocks `b0..b0 + NB` of 16 channels exist; every offset
/// plus `blocks * 16` lies in `input`; weights, start values and scales cover every block;
/// `out` holds `pixels * channels` bytes.
// Index loops over the register array read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2")]
unsafe fn blocks_avx2<const NB: usize>(
    d: &Depthwise,
    (diff16, init16, scales16): (&[i32], &[i32], &[f32]),
    p: usize,
    b0: usize,
    out: &mut [u8],
) {
    // SAFETY: see the function's contract; only channels below `channels` of pixel `p` are
    // written (a partial block goes through a stack buffer).
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); 2]; NB];
        for j in 0..NB {
            for h in 0..2 {
                let init = init16.as_ptr().add((b0 + j) * 16 + 8 * h);
                acc[j][h] = _mm256_loadu_si256(init.cast());
            }
        }
        let offsets = d.indirection.as_ptr().add(p * d.ks);
        for s in 0..d.ks {
            let src = d.input.as_ptr().add(*offsets.add(s) + b0 * 16);
            for j in 0..NB {
                let w = diff16.as_ptr().add(((b0 + j) * d.ks + s) * 16);
                for h in 0..2 {
                    let bytes = src.add(16 * j + 8 * h).cast::<i64>().read_unaligned();
                    let x = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes));
                    let wv = _mm256_loadu_si256(w.add(8 * h).cast());
                    acc[j][h] = _mm256_add_epi32(acc[j][h], _mm256_madd_epi16(x, wv));
                }
            }
        }
        let zp = _mm256_set1_epi32(i32::from(d.output_zp));
        let lo = _mm256_set1_epi32(i32::from(d.min));
        let hi = _mm256_set1_epi32(i32::from(d.max));
        for j in 0..NB {
            let c0 = (b0 + j) * 16;
            let s0 = _mm256_loadu_ps(scales16.as_ptr().add(c0));
            let s1 = _mm256_loadu_ps(scales16.as_ptr().add(c0 + 8));
            let y0 = requant8(acc[j][0], s0, zp, lo, hi);
            let y1 = requant8(acc[j][1], s1, zp, lo, hi);
            let bytes = pack16(y0, y1);
            let dst = out.as_mut_ptr().add(p * d.channels + c0);
            let valid = (d.channels - c0).min(16);
            if valid == 16 {
                _mm_storeu_si128(dst.cast(), bytes);
            } else {
                let mut tmp = [0u8; 16];
                _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes);
                core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, valid);
            }
        }
    }
}
