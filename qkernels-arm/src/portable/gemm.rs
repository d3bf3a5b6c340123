//! Portable 8x8 GEMM/convolution micro-kernel over `K1`-packed panels: the reference.

use crate::gemm::tile::{Acc, Requant, TileArgs, MR, NR};
use crate::requant::requantize;

/// Accumulates one tile: `init[n] + sum((a - input_zp) * (w - wzp[n]))`, wrapping `i32`.
pub(crate) fn accumulate(t: &TileArgs) -> Acc {
    debug_assert!(t.in_bounds());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above); the body is the same safe Rust code.
        return unsafe { accumulate_avx2(t) };
    }
    accumulate_body(t)
}

/// The same code compiled with AVX2 enabled (integer arithmetic: identical results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_avx2(t: &TileArgs) -> Acc {
    accumulate_body(t)
}

#[inline(always)]
fn accumulate_body(t: &TileArgs) -> Acc {
    let mut acc: Acc = [t.init; MR];
    let az = i32::from(t.input_zp);
    let wz: [i32; NR] = t.wzp.map(i32::from);
    for s in 0..t.ks() {
        let panel = &t.panel[s * t.kc_pad * NR..][..t.kc * NR];
        let bases: [usize; MR] = std::array::from_fn(|m| t.rows[m][s] + t.group_off);
        for (c, w) in panel.chunks_exact(NR).enumerate() {
            let w: [i32; NR] = std::array::from_fn(|n| i32::from(w[n]) - wz[n]);
            for (m, row) in acc.iter_mut().enumerate() {
                let a = i32::from(t.input[bases[m] + c]) - az;
                for (r, &wn) in row.iter_mut().zip(&w) {
                    *r = r.wrapping_add(a * wn);
                }
            }
        }
    }
    acc
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
    for (m, row) in acc.iter().enumerate().take(mr) {
        let dst = &mut out[m * stride..][..nr];
        for (n, d) in dst.iter_mut().enumerate() {
            *d = requantize(row[n], q.scales[n], q.zero_point, q.min, q.max);
        }
    }
}
