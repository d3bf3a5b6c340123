//! NEON QNNPACK add (`q8vadd`): 16 elements at a time, rounding shift with `vrshlq_s32` after
//! the negative-value adjustment, as QNNPACK's NEON kernel does.

use core::arch::aarch64::*;

use crate::requant::AddParams;

/// `y[i] = p.apply(a[i], b[i])`.
pub(crate) fn add(p: &AddParams, a: &[u8], b: &[u8], y: &mut [u8]) {
    assert!(a.len() == y.len() && b.len() == y.len());
    // SAFETY: NEON is part of the aarch64 baseline; the assert makes all three slices equal.
    unsafe { add_neon(p, a, b, y) }
}

#[target_feature(enable = "neon")]
unsafe fn add_neon(p: &AddParams, a: &[u8], b: &[u8], y: &mut [u8]) {
    let az = vdupq_n_u8(p.a_zero_point);
    let bz = vdupq_n_u8(p.b_zero_point);
    let am = vdupq_n_s32(p.a_multiplier);
    let bm = vdupq_n_s32(p.b_multiplier);
    let shift = vdupq_n_s32(-(p.shift as i32));
    let yz = vdupq_n_s16(i16::from(p.y_zero_point));
    let (ymin, ymax) = (vdupq_n_u8(p.y_min), vdupq_n_u8(p.y_max));
    let quad = |acc: int32x4_t| -> int32x4_t {
        // acc - (acc < 0), then a rounding (half up) shift: rounds half away from zero.
        vrshlq_s32(vsraq_n_s32::<31>(acc, acc), shift)
    };
    let mut i = 0;
    while i < y.len() {
        let len = (y.len() - i).min(16);
        let (mut ta, mut tb) = ([0u8; 16], [0u8; 16]);
        // SAFETY: `i + len <= len()` of all three slices; loads and stores of 16 bytes use
        // either the slices (when 16 remain) or the stack buffers.
        unsafe {
            let (va, vb) = if len == 16 {
                (vld1q_u8(a.as_ptr().add(i)), vld1q_u8(b.as_ptr().add(i)))
            } else {
                core::ptr::copy_nonoverlapping(a.as_ptr().add(i), ta.as_mut_ptr(), len);
                core::ptr::copy_nonoverlapping(b.as_ptr().add(i), tb.as_mut_ptr(), len);
                (vld1q_u8(ta.as_ptr()), vld1q_u8(tb.as_ptr()))
            };
            let xa_lo = vreinterpretq_s16_u16(vsubl_u8(vget_low_u8(va), vget_low_u8(az)));
            let xa_hi = vreinterpretq_s16_u16(vsubl_high_u8(va, az));
            let xb_lo = vreinterpretq_s16_u16(vsubl_u8(vget_low_u8(vb), vget_low_u8(bz)));
            let xb_hi = vreinterpretq_s16_u16(vsubl_high_u8(vb, bz));
            let acc = |xa: int16x8_t, xb: int16x8_t| -> int16x8_t {
                let lo = vmlaq_s32(
                    vmulq_s32(vmovl_s16(vget_low_s16(xa)), am),
                    vmovl_s16(vget_low_s16(xb)),
                    bm,
                );
                let hi = vmlaq_s32(vmulq_s32(vmovl_high_s16(xa), am), vmovl_high_s16(xb), bm);
                vqaddq_s16(vqmovn_high_s32(vqmovn_s32(quad(lo)), quad(hi)), yz)
            };
            let v = vcombine_u8(
                vqmovun_s16(acc(xa_lo, xb_lo)),
                vqmovun_s16(acc(xa_hi, xb_hi)),
            );
            let v = vminq_u8(vmaxq_u8(v, ymin), ymax);
            if len == 16 {
                vst1q_u8(y.as_mut_ptr().add(i), v);
            } else {
                vst1q_u8(ta.as_mut_ptr(), v);
                core::ptr::copy_nonoverlapping(ta.as_ptr(), y.as_mut_ptr().add(i), len);
            }
        }
        i += len;
    }
}
