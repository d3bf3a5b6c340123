//! NEON dot-product 8x8 GEMM/convolution micro-kernel over `K4` panels: raw `u8` products
//! with `udot` (4 per lane), then the zero-point terms from row sums and the folded column
//! sums: `sum((a - az)(w - wz)) = sum(a w) - wz sum(a) - az sum(w) + K az wz`.

use core::arch::aarch64::*;

use crate::gemm::tile::{Acc, TileArgs, MR, NR};

/// Accumulates one tile; identical to the portable `accumulate` (wrapping arithmetic).
pub(crate) fn accumulate(t: &TileArgs) -> Acc {
    assert!(t.in_bounds());
    assert!(std::arch::is_aarch64_feature_detected!("dotprod"));
    // SAFETY: the CPU has NEON and `dotprod` (checked above); `in_bounds` bounds every read.
    unsafe { accumulate_dot(t) }
}

/// `acc.4s += b.16b . a.4b[LANE]` (`udot`, by element).
macro_rules! udot {
    ($acc:expr, $b:expr, $a:expr, $lane:literal) => {
        // Used only inside the kernel's `unsafe` block: a register-only instruction whose
        // `dotprod` feature the enclosing function enables.
        core::arch::asm!(
            "udot {acc:v}.4s, {b:v}.16b, {a:v}.4b[{lane}]",
            acc = inout(vreg) $acc,
            b = in(vreg) $b,
            a = in(vreg) $a,
            lane = const $lane,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn accumulate_dot(t: &TileArgs) -> Acc {
    let mut dot = [[vdupq_n_u32(0); 2]; MR];
    let mut sums = [vdupq_n_u32(0); MR / 2];
    let ones = vdupq_n_u8(1);
    // SAFETY: `in_bounds` guarantees that the `kc` bytes at `rows[m][s] + group_off` lie in
    // `input` (8-byte loads stay below `kc`, the tail is copied into a zeroed buffer) and that
    // the panel holds `ks * kc_pad * 8` bytes, read 64 per 8 reduction indices.
    unsafe {
        let mut w = t.panel.as_ptr();
        for s in 0..t.ks() {
            let a: [*const u8; MR] =
                core::array::from_fn(|m| t.input.as_ptr().add(t.rows[m][s] + t.group_off));
            let mut c = 0;
            while c < t.kc {
                let len = (t.kc - c).min(8);
                let row = |m: usize| -> uint8x8_t {
                    if len == 8 {
                        vld1_u8(a[m].add(c))
                    } else {
                        let mut tmp = [0u8; 8];
                        core::ptr::copy_nonoverlapping(a[m].add(c), tmp.as_mut_ptr(), len);
                        vld1_u8(tmp.as_ptr())
                    }
                };
                // Two rows per register: lanes 0-1 hold row 2j, lanes 2-3 row 2j + 1.
                let pairs: [uint8x16_t; MR / 2] =
                    core::array::from_fn(|j| vcombine_u8(row(2 * j), row(2 * j + 1)));
                let b0lo = vld1q_u8(w);
                let b0hi = vld1q_u8(w.add(16));
                let b1lo = vld1q_u8(w.add(32));
                let b1hi = vld1q_u8(w.add(48));
                macro_rules! rows {
                    ($j:literal) => {
                        let p = pairs[$j];
                        udot!(dot[2 * $j][0], b0lo, p, 0);
                        udot!(dot[2 * $j][0], b1lo, p, 1);
                        udot!(dot[2 * $j][1], b0hi, p, 0);
                        udot!(dot[2 * $j][1], b1hi, p, 1);
                        udot!(dot[2 * $j + 1][0], b0lo, p, 2);
                        udot!(dot[2 * $j + 1][0], b1lo, p, 3);
                        udot!(dot[2 * $j + 1][1], b0hi, p, 2);
                        udot!(dot[2 * $j + 1][1], b1hi, p, 3);
                        let mut rs = sums[$j];
                        core::arch::asm!(
                            "udot {acc:v}.4s, {a:v}.16b, {o:v}.16b",
                            acc = inout(vreg) rs,
                            a = in(vreg) p,
                            o = in(vreg) ones,
                            options(pure, nomem, nostack, preserves_flags)
                        );
                        sums[$j] = rs;
                    };
                }
                rows!(0);
                rows!(1);
                rows!(2);
                rows!(3);
                w = w.add(8 * NR);
                c += 8;
            }
        }
        // Row sums: lanes (0 + 1) and (2 + 3) of each pair register.
        let mut row_sum = [0u32; MR];
        for j in 0..MR / 2 {
            let mut l = [0u32; 4];
            vst1q_u32(l.as_mut_ptr(), sums[j]);
            row_sum[2 * j] = l[0].wrapping_add(l[1]);
            row_sum[2 * j + 1] = l[2].wrapping_add(l[3]);
        }
        let init_lo = vld1q_s32(t.init.as_ptr());
        let init_hi = vld1q_s32(t.init.as_ptr().add(4));
        let bz = vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(t.wzp.as_ptr()))));
        let bz_hi = vmovl_high_u16(vmovl_u8(vld1_u8(t.wzp.as_ptr())));
        let (bz_lo, bz_hi) = (vreinterpretq_s32_u32(bz), vreinterpretq_s32_u32(bz_hi));
        let mut acc: Acc = [[0; NR]; MR];
        for m in 0..MR {
            let rs = row_sum[m] as i32;
            let lo = vmlsq_n_s32(
                vaddq_s32(init_lo, vreinterpretq_s32_u32(dot[m][0])),
                bz_lo,
                rs,
            );
            let hi = vmlsq_n_s32(
                vaddq_s32(init_hi, vreinterpretq_s32_u32(dot[m][1])),
                bz_hi,
                rs,
            );
            vst1q_s32(acc[m].as_mut_ptr(), lo);
            vst1q_s32(acc[m].as_mut_ptr().add(4), hi);
        }
        acc
    }
}
