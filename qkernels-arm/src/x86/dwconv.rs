//! AVX-512 VNNI depthwise convolution over channels-last pixels: 16 channels per register,
//! up to 64 per pixel at a time, one `vpdpwssd` per kernel position. Each 32-bit lane pairs
//! the zero-extended activation (high half 0) with `w - wz` (its high half then multiplies the
//! 0), so every product and sum is the reference's exact `i32` arithmetic.

use core::arch::x86_64::*;

use super::gemm_kernel::{mask16, requant16};
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

/// Runs the convolution into `out` (`pixels * channels` bytes).
///
/// Panics if a buffer is too small for the sizes (callers build them; a mismatch is a bug).
pub(crate) fn run(d: &Depthwise, out: &mut [u8]) {
    let blocks = d.channels.div_ceil(16);
    assert!(super::avx512_vnni_detected());
    assert_eq!(d.indirection.len(), d.pixels * d.ks);
    assert_eq!(out.len(), d.pixels * d.channels);
    assert!(d.diff16.len() >= blocks * d.ks * 16);
    assert!(d.init16.len() >= blocks * 16 && d.scales.len() >= blocks * 16);
    assert!(d.pixels == 0 || d.indirection.max() + blocks * 16 <= d.input.len());
    // SAFETY: the CPU features and every bound the body relies on are asserted above.
    unsafe { run_avx512(d, out) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn run_avx512(d: &Depthwise, out: &mut [u8]) {
    let blocks = d.channels.div_ceil(16);
    for p in 0..d.pixels {
        let mut b0 = 0;
        while b0 < blocks {
            let nb = (blocks - b0).min(4);
            // SAFETY: forwarded from `run`'s assertions; blocks `b0..b0 + nb` exist.
            unsafe {
                match nb {
                    4 => pixel_blocks::<4>(d, p, b0, out),
                    3 => pixel_blocks::<3>(d, p, b0, out),
                    2 => pixel_blocks::<2>(d, p, b0, out),
                    _ => pixel_blocks::<1>(d, p, b0, out),
                }
            }
            b0 += nb;
        }
    }
}

// Index loops over the register array read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn pixel_blocks<const NB: usize>(d: &Depthwise, p: usize, b0: usize, out: &mut [u8]) {
    // SAFETY: (caller) pixel `p` and blocks `b0..b0 + NB` exist; every offset plus
    // `blocks * 16` lies in `input`, the weights, start values and scales cover every block,
    // and the masked stores write only channels below `channels` of pixel `p`.
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
            let mask = mask16(d.channels - c0);
            let dst = out.as_mut_ptr().add(p * d.channels + c0);
            _mm512_mask_cvtepi32_storeu_epi8(dst.cast(), mask, y);
        }
    }
}
