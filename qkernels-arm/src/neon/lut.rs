//! NEON table lookup (QNNPACK's `x8lut`): four 64-byte `tbl`/`tbx` lookups per 16 bytes.

use core::arch::aarch64::*;

use crate::lut::Lut;

/// `y[i] = lut[x[i]]`.
pub(crate) fn apply(lut: &Lut, x: &[u8], y: &mut [u8]) {
    assert_eq!(x.len(), y.len());
    // SAFETY: NEON is part of the aarch64 baseline; the assert makes both slices equal.
    unsafe { apply_neon(lut, x, y) }
}

#[target_feature(enable = "neon")]
unsafe fn apply_neon(lut: &Lut, x: &[u8], y: &mut [u8]) {
    // SAFETY: the table is 256 bytes (four 64-byte loads); 16-byte loads and stores use the
    // slices only when 16 bytes remain, else stack buffers.
    unsafe {
        let t: [uint8x16x4_t; 4] = core::array::from_fn(|j| vld1q_u8_x4(lut.as_ptr().add(64 * j)));
        let step = vdupq_n_u8(64);
        let mut i = 0;
        while i < x.len() {
            let len = (x.len() - i).min(16);
            let mut tmp = [0u8; 16];
            let v = if len == 16 {
                vld1q_u8(x.as_ptr().add(i))
            } else {
                core::ptr::copy_nonoverlapping(x.as_ptr().add(i), tmp.as_mut_ptr(), len);
                vld1q_u8(tmp.as_ptr())
            };
            let mut r = vqtbl4q_u8(t[0], v);
            let mut idx = vsubq_u8(v, step);
            r = vqtbx4q_u8(r, t[1], idx);
            idx = vsubq_u8(idx, step);
            r = vqtbx4q_u8(r, t[2], idx);
            idx = vsubq_u8(idx, step);
            r = vqtbx4q_u8(r, t[3], idx);
            if len == 16 {
                vst1q_u8(y.as_mut_ptr().add(i), r);
            } else {
                vst1q_u8(tmp.as_mut_ptr(), r);
                core::ptr::copy_nonoverlapping(tmp.as_ptr(), y.as_mut_ptr().add(i), len);
            }
            i += len;
        }
    }
}
