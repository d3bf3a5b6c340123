//! AVX2 GEMM tiles over `X16` panels: 2 rows by one 16-channel panel. Per 4 reduction
//! indices, each 4-channel quarter of the panel is sign-extended to 16 bits (lanes hold the
//! index pairs `(k0, k1)` and `(k2, k3)` of one channel), the row's 4 activations are
//! zero-extended and broadcast as the matching pairs, and `vpmaddwd` adds each pair's two
//! exact products; the two halves of every channel are added once per tile (`vphaddd`).

use core::arch::x86_64::*;

use super::plan::{Epilogue, Plan};
use super::requant::{pack16, requant8};

/// Rows per tile: 2 rows x 4 quarters of accumulators, 4 weight registers and the
/// activations fit the 16 `ymm` registers.
const MR: usize = 2;

/// Runs every tile of group `g`.
///
/// # Safety
/// The CPU has AVX2, `g` is a group of the plan, `row_sums` is empty or holds one value per
/// row, and the epilogue covers the plan's slots and rows (as [`Plan::run_group`] checks).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn group(p: &Plan, g: usize, row_sums: &[i32], epi: &mut Epilogue) {
    let rows = p.shape().rows;
    for pan in 0..p.shape().panels_per_group {
        let mut row0 = 0;
        while row0 < rows {
            let mr = (rows - row0).min(MR);
            // SAFETY: rows `row0..row0 + mr` and panel `pan` exist; the caller's guarantees
            // cover the rest.
            unsafe {
                if mr == 2 {
                    tile::<2>(p, g, pan, row0, row_sums, epi);
                } else {
                    tile::<1>(p, g, pan, row0, row_sums, epi);
                }
            }
            row0 += mr;
        }
    }
}

/// Per row, the 16 channel sums of one panel as two vectors of 8 (channels 0-7, 8-15).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn dot<const R: usize>(p: &Plan, g: usize, pan: usize, row0: usize) -> [[__m256i; 2]; R] {
    let s = p.shape();
    let mut acc = [[_mm256_setzero_si256(); 4]; R];
    // SAFETY: (caller) rows `row0..row0 + R` and panel `pan` of group `g` exist; `Plan::new`
    // bounds `offset + g * kc + kc_pad` by the input length and the panels by their length;
    // the weights advance 64 bytes per 4 reduction indices through the panel.
    unsafe {
        let base = s.input.as_ptr().add(g * s.kc);
        let mut w = s
            .panels
            .as_ptr()
            .add((g * s.panels_per_group + pan) * p.panel_len());
        let offsets = s.offsets.as_ptr().add(row0 * s.ks);
        for step in 0..s.ks {
            let mut a = [base; R];
            for (m, a) in a.iter_mut().enumerate() {
                *a = base.add(*offsets.add(m * s.ks + step));
            }
            for kk in 0..s.kc_pad / 4 {
                let mut wq = [_mm256_setzero_si256(); 4];
                for (q, wq) in wq.iter_mut().enumerate() {
                    *wq = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(16 * q).cast()));
                }
                for (m, acc) in acc.iter_mut().enumerate() {
                    let four = a[m].add(4 * kk).cast::<i32>().read_unaligned();
                    let pairs = _mm_cvtepu8_epi16(_mm_cvtsi32_si128(four));
                    let b = _mm256_broadcastq_epi64(pairs);
                    for (acc, &wq) in acc.iter_mut().zip(&wq) {
                        *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(b, wq));
                    }
                }
                w = w.add(64);
            }
        }
    }
    // Quarter q holds (channel 4q + i, half h) in lane 2i + h; add the halves and restore
    // the channel order: hadd gives [c0 c1 c4 c5 | c2 c3 c6 c7] for quarters 0 and 1.
    let mut out = [[_mm256_setzero_si256(); 2]; R];
    for (o, acc) in out.iter_mut().zip(&acc) {
        for (h, o) in o.iter_mut().enumerate() {
            let sum = _mm256_hadd_epi32(acc[2 * h], acc[2 * h + 1]);
            *o = _mm256_permute4x64_epi64::<0xD8>(sum);
        }
    }
    out
}

// Index loops over the register arrays read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tile<const R: usize>(
    p: &Plan,
    g: usize,
    pan: usize,
    row0: usize,
    row_sums: &[i32],
    epi: &mut Epilogue,
) {
    let s = p.shape();
    // SAFETY: forwarded from the caller.
    let acc = unsafe { dot::<R>(p, g, pan, row0) };
    let n_total = s.groups * s.n_per_group;
    let slot = (g * s.panels_per_group + pan) * 16;
    let valid = s.n_per_group.saturating_sub(pan * 16).min(16);
    let at = |m: usize| (row0 + m) * n_total + g * s.n_per_group + pan * 16;
    // SAFETY: the 16 slots from `slot` lie within every per-slot vector (checked against the
    // plan's slots); output row `row0 + m < rows` holds `n_total` values and only the
    // `valid` channels of this panel (below `n_per_group` of group `g`) are written.
    unsafe {
        let mut total = [[_mm256_setzero_si256(); 2]; R];
        for h in 0..2 {
            let c = _mm256_loadu_si256(s.init.as_ptr().add(slot + 8 * h).cast());
            let zw = _mm256_loadu_si256(s.zw.as_ptr().add(slot + 8 * h).cast());
            for m in 0..R {
                let v = _mm256_add_epi32(acc[m][h], c);
                total[m][h] = if row_sums.is_empty() {
                    v
                } else {
                    let r = _mm256_set1_epi32(*row_sums.get_unchecked(row0 + m));
                    _mm256_sub_epi32(v, _mm256_mullo_epi32(zw, r))
                };
            }
        }
        match epi {
            Epilogue::Requant {
                scales,
                zero_point,
                min,
                max,
                out,
            } => {
                let zp = _mm256_set1_epi32(i32::from(*zero_point));
                let lo = _mm256_set1_epi32(i32::from(*min));
                let hi = _mm256_set1_epi32(i32::from(*max));
                let s0 = _mm256_loadu_ps(scales.as_ptr().add(slot));
                let s1 = _mm256_loadu_ps(scales.as_ptr().add(slot + 8));
                for m in 0..R {
                    let y0 = requant8(total[m][0], s0, zp, lo, hi);
                    let y1 = requant8(total[m][1], s1, zp, lo, hi);
                    let bytes = pack16(y0, y1);
                    let dst = out.as_mut_ptr().add(at(m));
                    if valid == 16 {
                        _mm_storeu_si128(dst.cast(), bytes);
                    } else {
                        let mut tmp = [0u8; 16];
                        _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes);
                        core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, valid);
                    }
                }
            }
            Epilogue::Float {
                multipliers,
                bias,
                out,
            } => {
                for h in 0..2 {
                    let lanes = valid.saturating_sub(8 * h).min(8) as i32;
                    if lanes == 0 {
                        continue;
                    }
                    let mask = _mm256_cmpgt_epi32(
                        _mm256_set1_epi32(lanes),
                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                    );
                    let mult = _mm256_loadu_ps(multipliers.as_ptr().add(slot + 8 * h));
                    let b = _mm256_loadu_ps(bias.as_ptr().add(slot + 8 * h));
                    for m in 0..R {
                        let x = _mm256_cvtepi32_ps(total[m][h]);
                        let y = _mm256_add_ps(_mm256_mul_ps(x, mult), b);
                        _mm256_maskstore_ps(out.as_mut_ptr().add(at(m) + 8 * h), mask, y);
                    }
                }
            }
        }
    }
}
