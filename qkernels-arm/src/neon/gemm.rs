//! NEON 8x8 GEMM/convolution micro-kernel over `K1` panels: zero points subtracted in 16 bits
//! (`vsubl_u8`), products accumulated with `vmlal_laneq_s16` (QNNPACK's 8x8 aarch64 scheme).

use core::arch::aarch64::*;

use crate::gemm::tile::{Acc, TileArgs, MR, NR};

/// Accumulates one tile; identical to the portable `accumulate`.
pub(crate) fn accumulate(t: &TileArgs) -> Acc {
    assert!(t.in_bounds());
    // SAFETY: NEON is part of the aarch64 baseline; `in_bounds` bounds every read.
    unsafe { accumulate_neon(t) }
}

/// Loads 8 bytes of each row at `a[m] + off`, or the first `len < 8` of them zero-extended,
/// and subtracts the input zero point.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load_rows(a: &[*const u8; MR], off: usize, len: usize, az: uint8x8_t) -> [int16x8_t; MR] {
    // SAFETY: the caller guarantees `a[m] + off .. + len` is readable for every row.
    unsafe {
        core::array::from_fn(|m| {
            let v = if len == 8 {
                vld1_u8(a[m].add(off))
            } else {
                let mut tmp = [0u8; 8];
                core::ptr::copy_nonoverlapping(a[m].add(off), tmp.as_mut_ptr(), len);
                vld1_u8(tmp.as_ptr())
            };
            vreinterpretq_s16_u16(vsubl_u8(v, az))
        })
    }
}

#[target_feature(enable = "neon")]
unsafe fn accumulate_neon(t: &TileArgs) -> Acc {
    // SAFETY: `in_bounds` guarantees that for every row and step the `kc` bytes at
    // `rows[m][s] + group_off` lie in `input` (full 8-byte loads stay below `kc`, the tail is
    // copied), and that the panel holds `ks * kc_pad * 8` bytes, which the weight pointer walks
    // 64 bytes per 8 reduction indices.
    unsafe {
        let az = vdup_n_u8(t.input_zp);
        let bz = vld1_u8(t.wzp.as_ptr());
        let mut lo = [vld1q_s32(t.init.as_ptr()); MR];
        let mut hi = [vld1q_s32(t.init.as_ptr().add(4)); MR];
        let mut w = t.panel.as_ptr();
        for s in 0..t.ks() {
            let a: [*const u8; MR] =
                core::array::from_fn(|m| t.input.as_ptr().add(t.rows[m][s] + t.group_off));
            let mut c = 0;
            while c < t.kc {
                let va = load_rows(&a, c, (t.kc - c).min(8), az);
                macro_rules! step {
                    ($k:literal) => {
                        let vb = vreinterpretq_s16_u16(vsubl_u8(vld1_u8(w.add(8 * $k)), bz));
                        for m in 0..MR {
                            lo[m] = vmlal_laneq_s16::<$k>(lo[m], vget_low_s16(vb), va[m]);
                            hi[m] = vmlal_high_laneq_s16::<$k>(hi[m], vb, va[m]);
                        }
                    };
                }
                step!(0);
                step!(1);
                step!(2);
                step!(3);
                step!(4);
                step!(5);
                step!(6);
                step!(7);
                w = w.add(8 * NR);
                c += 8;
            }
        }
        let mut acc: Acc = [[0; NR]; MR];
        for m in 0..MR {
            vst1q_s32(acc[m].as_mut_ptr(), lo[m]);
            vst1q_s32(acc[m].as_mut_ptr().add(4), hi[m]);
        }
        acc
    }
}
