//! NEON depthwise micro-kernel: 8 channels at a time, `vmlal_s16` on zero-point-subtracted
//! 16-bit values (QNNPACK's `q8dwconv` scheme).

use core::arch::aarch64::*;

use super::requant::requant8;
use crate::dwconv::{DwArgs, CR};

/// One output pixel, every channel; identical to the portable `pixel`.
pub(crate) fn pixel(t: &DwArgs, out: &mut [u8]) {
    assert!(t.in_bounds() && out.len() >= t.channels);
    // SAFETY: NEON is part of the aarch64 baseline; the assert bounds every access.
    unsafe { pixel_neon(t, out) }
}

#[target_feature(enable = "neon")]
unsafe fn pixel_neon(t: &DwArgs, out: &mut [u8]) {
    let ks = t.offsets.len();
    // SAFETY: `in_bounds` guarantees `offsets[s] + channels <= input.len()` and that weights,
    // zero points, start values and scales cover every 8-channel block; full 8-byte loads and
    // stores stay below `channels`, the last partial block goes through stack buffers.
    unsafe {
        let az = vdup_n_u8(t.input_zp);
        let zp = vdupq_n_s16(i16::from(t.output_zp));
        let (min, max) = (vdup_n_u8(t.min), vdup_n_u8(t.max));
        for blk in 0..t.channels.div_ceil(CR) {
            let c0 = blk * CR;
            let len = (t.channels - c0).min(CR);
            let kz = vld1_u8(t.wzp.as_ptr().add(c0));
            let mut lo = vld1q_s32(t.init.as_ptr().add(c0));
            let mut hi = vld1q_s32(t.init.as_ptr().add(c0 + 4));
            for (s, &off) in t.offsets.iter().enumerate() {
                let src = t.input.as_ptr().add(off + c0);
                let vi = if len == CR {
                    vld1_u8(src)
                } else {
                    let mut tmp = [0u8; CR];
                    core::ptr::copy_nonoverlapping(src, tmp.as_mut_ptr(), len);
                    vld1_u8(tmp.as_ptr())
                };
                let vk = vld1_u8(t.weights.as_ptr().add((blk * ks + s) * CR));
                let xi = vreinterpretq_s16_u16(vsubl_u8(vi, az));
                let xk = vreinterpretq_s16_u16(vsubl_u8(vk, kz));
                lo = vmlal_s16(lo, vget_low_s16(xk), vget_low_s16(xi));
                hi = vmlal_high_s16(hi, xk, xi);
            }
            let s_lo = vld1q_f32(t.scales.as_ptr().add(c0));
            let s_hi = vld1q_f32(t.scales.as_ptr().add(c0 + 4));
            let v = requant8(lo, hi, s_lo, s_hi, zp, min, max);
            let dst = out.as_mut_ptr().add(c0);
            if len == CR {
                vst1_u8(dst, v);
            } else {
                let mut tmp = [0u8; CR];
                vst1_u8(tmp.as_mut_ptr(), v);
                core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, len);
            }
        }
    }
}
