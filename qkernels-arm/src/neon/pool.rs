//! NEON pooling: `vmaxq_u8` over window rows, and QNNPACK's average with `i32` sums and fp32
//! requantization.

use core::arch::aarch64::*;

/// Reads `len <= N` bytes at `p` into a zero-filled `N`-byte buffer.
///
/// # Safety
/// `p .. p + len` must be readable.
#[inline]
unsafe fn partial<const N: usize>(p: *const u8, len: usize) -> [u8; N] {
    let mut tmp = [0u8; N];
    // SAFETY: the caller guarantees `len` readable bytes; `len <= N` by every call site.
    unsafe { core::ptr::copy_nonoverlapping(p, tmp.as_mut_ptr(), len) };
    tmp
}

fn rows_in_bounds(input: &[u8], offsets: &[usize], channels: usize) -> bool {
    offsets
        .iter()
        .all(|&o| o.checked_add(channels).is_some_and(|e| e <= input.len()))
}

/// `dst[c] = max over rows of input[offset + c]`; identical to the portable `max`.
pub(crate) fn max(input: &[u8], offsets: &[usize], dst: &mut [u8]) {
    assert!(rows_in_bounds(input, offsets, dst.len()));
    // SAFETY: NEON is part of the aarch64 baseline; the assert bounds every read.
    unsafe { max_neon(input, offsets, dst) }
}

#[target_feature(enable = "neon")]
unsafe fn max_neon(input: &[u8], offsets: &[usize], dst: &mut [u8]) {
    let mut c = 0;
    while c < dst.len() {
        let len = (dst.len() - c).min(16);
        let mut acc = vdupq_n_u8(0);
        // SAFETY: every row holds `dst.len()` bytes at its offset (checked by the caller), so
        // `c + len` bytes are readable; the store writes `len` bytes inside `dst`.
        unsafe {
            for &o in offsets {
                let p = input.as_ptr().add(o + c);
                let v = if len == 16 {
                    vld1q_u8(p)
                } else {
                    vld1q_u8(partial::<16>(p, len).as_ptr())
                };
                acc = vmaxq_u8(acc, v);
            }
            let mut out = [0u8; 16];
            vst1q_u8(out.as_mut_ptr(), acc);
            core::ptr::copy_nonoverlapping(out.as_ptr(), dst.as_mut_ptr().add(c), len);
        }
        c += len;
    }
}

/// `dst[c] = avgpool_requantize(bias + sum of rows)`; identical to the portable `avg`.
pub(crate) fn avg(input: &[u8], offsets: &[usize], bias: i32, scale: f32, zp: u8, dst: &mut [u8]) {
    assert!(rows_in_bounds(input, offsets, dst.len()));
    // SAFETY: NEON is part of the aarch64 baseline; the assert bounds every read.
    unsafe { avg_neon(input, offsets, bias, scale, zp, dst) }
}

#[target_feature(enable = "neon")]
unsafe fn avg_neon(input: &[u8], offsets: &[usize], bias: i32, scale: f32, zp: u8, dst: &mut [u8]) {
    let vscale = vdupq_n_f32(scale);
    let vzp = vdupq_n_s32(i32::from(zp));
    let mut c = 0;
    while c < dst.len() {
        let len = (dst.len() - c).min(8);
        let (mut lo, mut hi) = (vdupq_n_s32(bias), vdupq_n_s32(bias));
        // SAFETY: as in `max_neon`, with 8-byte loads and stores.
        unsafe {
            for &o in offsets {
                let p = input.as_ptr().add(o + c);
                let v = if len == 8 {
                    vld1_u8(p)
                } else {
                    vld1_u8(partial::<8>(p, len).as_ptr())
                };
                let v = vreinterpretq_s16_u16(vmovl_u8(v));
                lo = vaddw_s16(lo, vget_low_s16(v));
                hi = vaddw_high_s16(hi, v);
            }
            let q = |acc: int32x4_t| {
                vqaddq_s32(vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(acc), vscale)), vzp)
            };
            let v = vqmovun_s16(vqmovn_high_s32(vqmovn_s32(q(lo)), q(hi)));
            let mut out = [0u8; 8];
            vst1_u8(out.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(out.as_ptr(), dst.as_mut_ptr().add(c), len);
        }
        c += len;
    }
}
