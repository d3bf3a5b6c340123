//! Depthwise convolution over channels-last pixels, 16 channels per block, up to 4 blocks per
//! pixel at a time, one multiply-add per kernel position: `vpdpwssd` (AVX-512 VNNI) or
//! `vpmaddwd` + `vpaddd` (AVX2). Each 32-bit lane pairs the zero-extended activation (high
//! half 0) with `w - wz` (whose high half then multiplies the 0), so every product and sum is
//! the reference's exact `i32` arithmetic.

use core::arch::x86_64::*;

use super::requant::{mask16, pack16, requant16, requant8};
use super::Isa;
use crate::gemm::Offsets;

/// One depthwise call: `out[p * channels + c]` for every output pixel `p`.
pub(crate) struct Depthwise<'a> {
    /// NHWC activations; pixel reads cover `channels` rounded up to 16.
    pub input: &'a [u8],
    /// `pixels * ks` pixel offsets into `input`.
    pub indirection: &'a Offsets,
    pub pixels: usize,
    pub ks: usize,
    pub channels: usize,
    /// `w - wz` per `[block of 16][step][16]`.
    pub diff16: &'a [i32],
    /// Start values per channel (`blocks * 16`): bias minus `az * sum(w - wz)`.
    pub init16: &'a [i32],
    /// Requantization scale per channel (`blocks * 16`).
    pub scales: &'a [f32],
    pub output_zp: u8,
    pub min: u8,
    pub max: u8,
}

/// Runs the convolution into `out` (`pixels * channels` bytes) with `isa`'s kernel.
///
/// Panics if the CPU lacks `isa` or a buffer is too small for the sizes (callers build them; a
/// mismatch is a bug).
pub(crate) fn run(isa: Isa, d: &Depthwise, out: &mut [u8]) {
    let blocks = d.channels.div_ceil(16);
    assert!(isa.detected());
    assert_eq!(d.indirection.len(), d.pixels * d.ks);
    assert_eq!(out.len(), d.pixels * d.channels);
    assert!(d.diff16.len() >= blocks * d.ks * 16);
    assert!(d.init16.len() >= blocks * 16 && d.scales.len() >= blocks * 16);
    assert!(d.pixels == 0 || d.indirection.max() + blocks * 16 <= d.input.len());
    for p in 0..d.pixels {
        let mut b0 = 0;
        while b0 < blocks {
            let nb = (blocks - b0).min(4);
            // SAFETY: the CPU features and every bound the bodies rely on are asserted above;
            // pixel `p` and blocks `b0..b0 + nb` exist.
            unsafe {
                match (isa, nb) {
                    (Isa::Avx512Vnni, 4) => blocks_avx512::<4>(d, p, b0, out),
                    (Isa::Avx512Vnni, 3) => blocks_avx512::<3>(d, p, b0, out),
                    (Isa::Avx512Vnni, 2) => blocks_avx512::<2>(d, p, b0, out),
                    (Isa::Avx512Vnni, _) => blocks_avx512::<1>(d, p, b0, out),
                    (Isa::Avx2, 4) => blocks_avx2::<4>(d, p, b0, out),
                    (Isa::Avx2, 3) => blocks_avx2::<3>(d, p, b0, out),
                    (Isa::Avx2, 2) => blocks_avx2::<2>(d, p, b0, out),
                    (Isa::Avx2, _) => blocks_avx2::<1>(d, p, b0, out),
                }
            }
            b0 += nb;
        }
    }
}

/// # Safety
/// The CPU has AVX-512 F/BW/VL and VNNI; pixel `p` and blocks `b0..b0 + NB` exist; every
/// offset plus `blocks * 16` lies in `input`; weights, start values and scales cover every
/// block; `out` holds `pixels * channels` bytes.
// Index loops over the register array read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn blocks_avx512<const NB: usize>(d: &Depthwise, p: usize, b0: usize, out: &mut [u8]) {
    // SAFETY: see the function's contract; the masked stores write only channels below
    // `channels` of pixel `p`.
    unsafe {
        let mut acc = [_mm512_setzero_si512(); NB];
        for j in 0..NB {
            acc[j] = _mm512_loadu_si512(d.init16.as_ptr().add((b0 + j) * 16).cast());
        }
        let offsets = d.indirection.as_ptr().add(p * d.ks);
        for s in 0..d.ks {
            let src = d.input.as_ptr().add(*offsets.add(s) + b0 * 16);
            for j in 0..NB {
                let x = _mm512_cvtepu8_epi32(_mm_loadu_si128(src.add(16 * j).cast()));
                let w = d.diff16.as_ptr().add(((b0 + j) * d.ks + s) * 16);
                acc[j] = _mm512_dpwssd_epi32(acc[j], x, _mm512_loadu_si512(w.cast()));
            }
        }
        let zp = _mm512_set1_epi32(i32::from(d.output_zp));
        let lo = _mm512_set1_epi32(i32::from(d.min));
        let hi = _mm512_set1_epi32(i32::from(d.max));
        for j in 0..NB {
            let c0 = (b0 + j) * 16;
            let scale = _mm512_loadu_ps(d.scales.as_ptr().add(c0));
            let y = requant16(acc[j], scale, zp, lo, hi);
            let dst = out.as_mut_ptr().add(p * d.channels + c0);
            _mm512_mask_cvtepi32_storeu_epi8(dst.cast(), mask16(d.channels - c0), y);
        }
    }
}

/// # Safety
/// As [`blocks_avx512`], with AVX2 instead.
// Index loops over the register array read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2")]
unsafe fn blocks_avx2<const NB: usize>(d: &Depthwise, p: usize, b0: usize, out: &mut [u8]) {
    // SAFETY: see the function's contract; only channels below `channels` of pixel `p` are
    // written (a partial block goes through a stack buffer).
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); 2]; NB];
        for j in 0..NB {
            for h in 0..2 {
                let init = d.init16.as_ptr().add((b0 + j) * 16 + 8 * h);
                acc[j][h] = _mm256_loadu_si256(init.cast());
            }
        }
        let offsets = d.indirection.as_ptr().add(p * d.ks);
        for s in 0..d.ks {
            let src = d.input.as_ptr().add(*offsets.add(s) + b0 * 16);
            for j in 0..NB {
                let w = d.diff16.as_ptr().add(((b0 + j) * d.ks + s) * 16);
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
            let s0 = _mm256_loadu_ps(d.scales.as_ptr().add(c0));
            let s1 = _mm256_loadu_ps(d.scales.as_ptr().add(c0 + 8));
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
