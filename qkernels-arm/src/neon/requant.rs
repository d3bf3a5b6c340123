//! NEON fp32 requantization of 8 lanes (QNNPACK's aarch64 epilogue).

use core::arch::aarch64::*;

use crate::gemm::tile::{Acc, Requant, NR};

/// Requantizes 8 `i32` lanes with per-lane scales; identical to `requant::requantize`:
/// `vcvtq_f32_s32`, `vmulq_f32`, `vcvtnq_s32_f32` (nearest even, saturating), `vqmovn`,
/// `vqaddq_s16` with the zero point, `vqmovun`, then the clamp.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn requant8(
    lo: int32x4_t,
    hi: int32x4_t,
    s_lo: float32x4_t,
    s_hi: float32x4_t,
    zp: int16x8_t,
    min: uint8x8_t,
    max: uint8x8_t,
) -> uint8x8_t {
    let lo = vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(lo), s_lo));
    let hi = vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(hi), s_hi));
    let v = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(lo), hi), zp);
    vmin_u8(vmax_u8(vqmovun_s16(v), min), max)
}

/// Requantizes the first `mr` rows and `nr` channels of a tile into `out` (row stride
/// `stride`).
pub(crate) fn requant_tile(
    acc: &Acc,
    q: &Requant,
    mr: usize,
    nr: usize,
    out: &mut [u8],
    stride: usize,
) {
    assert!(mr >= 1 && mr <= acc.len() && nr <= NR && out.len() >= (mr - 1) * stride + nr);
    // SAFETY: NEON is part of the aarch64 baseline; the assert above bounds every store.
    unsafe { requant_tile_neon(acc, q, mr, nr, out, stride) }
}

#[target_feature(enable = "neon")]
unsafe fn requant_tile_neon(
    acc: &Acc,
    q: &Requant,
    mr: usize,
    nr: usize,
    out: &mut [u8],
    stride: usize,
) {
    // SAFETY: loads read the 8-lane arrays `acc[m]` and `q.scales`; stores write `nr` bytes at
    // row `m < mr`, inside `out` by the caller's check (a full 8-byte store only when nr == 8).
    unsafe {
        let s_lo = vld1q_f32(q.scales.as_ptr());
        let s_hi = vld1q_f32(q.scales.as_ptr().add(4));
        let zp = vdupq_n_s16(i16::from(q.zero_point));
        let (min, max) = (vdup_n_u8(q.min), vdup_n_u8(q.max));
        for (m, row) in acc.iter().enumerate().take(mr) {
            let lo = vld1q_s32(row.as_ptr());
            let hi = vld1q_s32(row.as_ptr().add(4));
            let v = requant8(lo, hi, s_lo, s_hi, zp, min, max);
            let dst = out.as_mut_ptr().add(m * stride);
            if nr == NR {
                vst1_u8(dst, v);
            } else {
                let mut tmp = [0u8; NR];
                vst1_u8(tmp.as_mut_ptr(), v);
                core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, nr);
            }
        }
    }
}
