//! AVX-512 VNNI GEMM tiles over `X16` panels: up to 4 panels (64 channels) by up to 8 rows
//! of `i32` accumulators in registers, one `vpdpbusd` per 4 reduction indices, row and panel,
//! then the zero-point terms and the requantizing (or dequantizing) epilogue with masked
//! stores for ragged channel counts.

use core::arch::x86_64::*;

use super::plan::{Epilogue, Plan};
use super::requant::{mask16, requant16};

/// Runs every tile of group `g`.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL and VNNI, `g` is a group of the plan, `row_sums` is empty or
/// holds one value per row, and the epilogue covers the plan's slots and rows (as
/// [`Plan::run_group`] checks).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn group(p: &Plan, g: usize, row_sums: &[i32], epi: &mut Epilogue) {
    let ppg = p.shape().panels_per_group;
    let mut pan = 0;
    while pan < ppg {
        let nb = (ppg - pan).min(4);
        // SAFETY: the caller's guarantees (see `run_group`) hold for every panel block.
        unsafe {
            match nb {
                4 => block::<4>(p, g, pan, row_sums, epi),
                3 => block::<3>(p, g, pan, row_sums, epi),
                2 => block::<2>(p, g, pan, row_sums, epi),
                _ => block::<1>(p, g, pan, row_sums, epi),
            }
        }
        pan += nb;
    }
}

/// Rows per tile for `nb` panels: at most 24 accumulators plus the weights in 32 registers.
const fn max_rows(nb: usize) -> usize {
    if nb >= 4 {
        6
    } else {
        8
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn block<const NB: usize>(
    p: &Plan,
    g: usize,
    pan: usize,
    row_sums: &[i32],
    epi: &mut Epilogue,
) {
    let mut row0 = 0;
    let rows = p.shape().rows;
    while row0 < rows {
        let mr = (rows - row0).min(max_rows(NB));
        // SAFETY: rows `row0..row0 + mr` exist; the caller's guarantees cover the rest.
        unsafe {
            match mr {
                8 => tile::<8, NB>(p, g, pan, row0, row_sums, epi),
                7 => tile::<7, NB>(p, g, pan, row0, row_sums, epi),
                6 => tile::<6, NB>(p, g, pan, row0, row_sums, epi),
                5 => tile::<5, NB>(p, g, pan, row0, row_sums, epi),
                4 => tile::<4, NB>(p, g, pan, row0, row_sums, epi),
                3 => tile::<3, NB>(p, g, pan, row0, row_sums, epi),
                2 => tile::<2, NB>(p, g, pan, row0, row_sums, epi),
                _ => tile::<1, NB>(p, g, pan, row0, row_sums, epi),
            }
        }
        row0 += mr;
    }
}

/// `sum over k of a[m][k] * w[nb][k]` for `MR` rows from `row0` and `NB` panels from `pan`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dot<const MR: usize, const NB: usize>(
    p: &Plan,
    g: usize,
    pan: usize,
    row0: usize,
) -> [[__m512i; NB]; MR] {
    let s = p.shape();
    let panel_len = p.panel_len();
    let mut acc = [[_mm512_setzero_si512(); NB]; MR];
    let groups_per_step = s.kc_pad / 4;
    // SAFETY: (caller) rows `row0..row0 + MR` and panels `pan..pan + NB` of group `g` exist,
    // `Plan::new` bounds `offset + g * kc + kc_pad` by the input length and the panels by
    // `panels.len()`; weights advance 64 bytes per 4 reduction indices through one panel.
    unsafe {
        let base = s.input.as_ptr().add(g * s.kc);
        let mut w = s
            .panels
            .as_ptr()
            .add((g * s.panels_per_group + pan) * panel_len);
        let offsets = s.offsets.as_ptr().add(row0 * s.ks);
        for step in 0..s.ks {
            let mut a = [base; MR];
            for (m, a) in a.iter_mut().enumerate() {
                *a = base.add(*offsets.add(m * s.ks + step));
            }
            for kk in 0..groups_per_step {
                let mut wv = [_mm512_setzero_si512(); NB];
                for (nb, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm512_loadu_si512(w.add(nb * panel_len).cast());
                }
                for m in 0..MR {
                    let b = _mm512_set1_epi32(a[m].add(4 * kk).cast::<i32>().read_unaligned());
                    for nb in 0..NB {
                        acc[m][nb] = _mm512_dpbusd_epi32(acc[m][nb], b, wv[nb]);
                    }
                }
                w = w.add(64);
            }
        }
    }
    acc
}

// Index loops over the register arrays read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile<const MR: usize, const NB: usize>(
    p: &Plan,
    g: usize,
    pan: usize,
    row0: usize,
    row_sums: &[i32],
    epi: &mut Epilogue,
) {
    let s = p.shape();
    // SAFETY: forwarded from the caller.
    let acc = unsafe { dot::<MR, NB>(p, g, pan, row0) };
    let n_total = s.groups * s.n_per_group;
    let slot0 = (g * s.panels_per_group + pan) * 16;
    let ch0 = g * s.n_per_group + pan * 16;
    // SAFETY: slots `slot0 + 16 * NB` are within every per-slot vector (checked against
    // `slots`); output row `row0 + m < rows` holds `n_total` values and the masked stores
    // write only channels below `n_per_group` of group `g`.
    unsafe {
        for nb in 0..NB {
            let slot = slot0 + 16 * nb;
            let valid = s.n_per_group.saturating_sub((pan + nb) * 16).min(16);
            let mask = mask16(valid);
            let c = _mm512_loadu_si512(s.init.as_ptr().add(slot).cast());
            let zw = _mm512_loadu_si512(s.zw.as_ptr().add(slot).cast());
            let total = |m: usize| -> __m512i {
                let v = _mm512_add_epi32(acc[m][nb], c);
                if row_sums.is_empty() {
                    v
                } else {
                    let r = _mm512_set1_epi32(*row_sums.get_unchecked(row0 + m));
                    _mm512_sub_epi32(v, _mm512_mullo_epi32(zw, r))
                }
            };
            let at = |m: usize| (row0 + m) * n_total + ch0 + 16 * nb;
            match epi {
                Epilogue::Requant {
                    scales,
                    zero_point,
                    min,
                    max,
                    out,
                } => {
                    let scale = _mm512_loadu_ps(scales.as_ptr().add(slot));
                    let zp = _mm512_set1_epi32(i32::from(*zero_point));
                    let lo = _mm512_set1_epi32(i32::from(*min));
                    let hi = _mm512_set1_epi32(i32::from(*max));
                    for m in 0..MR {
                        let y = requant16(total(m), scale, zp, lo, hi);
                        _mm512_mask_cvtepi32_storeu_epi8(
                            out.as_mut_ptr().add(at(m)).cast(),
                            mask,
                            y,
                        );
                    }
                }
                Epilogue::Float {
                    multipliers,
                    bias,
                    out,
                } => {
                    let mult = _mm512_loadu_ps(multipliers.as_ptr().add(slot));
                    let b = _mm512_loadu_ps(bias.as_ptr().add(slot));
                    for m in 0..MR {
                        let x = _mm512_cvt_roundepi32_ps::<{ super::requant::ROUND }>(total(m));
                        let y = _mm512_add_round_ps::<{ super::requant::ROUND }>(
                            _mm512_mul_round_ps::<{ super::requant::ROUND }>(x, mult),
                            b,
                        );
                        _mm512_mask_storeu_ps(out.as_mut_ptr().add(at(m)), mask, y);
                    }
                }
            }
        }
    }
}
