//! AVX-512 VNNI GEMM tiles over `X16` panels: up to 4 panels (64 channels) by up to 8 rows
//! of `i32` accumulators in registers, one `vpdpbusd` per 4 reduction indices, row and panel,
//! then the zero-point terms and the requantizing (or dequantizing) epilogue with masked
//! stores for ragged channel counts.

use core::arch::x86_64::*;

use super::gemm::Epilogue;
use crate::gemm::Offsets;

/// The sizes and buffers of one GEMM call, before [`Plan::new`] checks them.
pub(crate) struct Shape<'a> {
    /// Activations; every step reads `kc_pad` bytes at `offset + g * kc`.
    pub input: &'a [u8],
    /// `rows * ks` offsets: row `m`, step `s` at `m * ks + s`.
    pub offsets: &'a Offsets,
    pub rows: usize,
    pub ks: usize,
    pub kc: usize,
    pub kc_pad: usize,
    pub groups: usize,
    pub panels_per_group: usize,
    pub n_per_group: usize,
    /// `groups * panels_per_group` panels of `ks * kc_pad * 16` bytes.
    pub panels: &'a [u8],
    /// Accumulator start values per slot (`[g][p][16]`).
    pub init: &'a [i32],
    /// `qint8` weight zero points per slot.
    pub zw: &'a [i32],
}

/// A [`Shape`] whose every read is known to be in bounds on a CPU with AVX-512 VNNI.
pub(crate) struct Plan<'a> {
    s: Shape<'a>,
    panel_len: usize,
    slots: usize,
}

impl<'a> Plan<'a> {
    /// Checks the CPU and every bound the tiles rely on; `None` if one does not hold.
    pub fn new(s: Shape<'a>) -> Option<Plan<'a>> {
        let panel_len = s.ks.checked_mul(s.kc_pad)?.checked_mul(16)?;
        let slots = s.groups.checked_mul(s.panels_per_group)?.checked_mul(16)?;
        let reach = s
            .offsets
            .max()
            .checked_add(s.groups.saturating_sub(1).checked_mul(s.kc)?)?
            .checked_add(s.kc_pad)?;
        let ok = super::avx512_vnni_detected()
            && s.kc_pad.is_multiple_of(4)
            && s.kc <= s.kc_pad
            && s.n_per_group <= s.panels_per_group * 16
            && s.offsets.len() == s.rows.checked_mul(s.ks)?
            && (s.rows == 0 || reach <= s.input.len())
            && s.panels.len() >= slots / 16 * panel_len
            && s.init.len() >= slots
            && s.zw.len() >= slots;
        ok.then_some(Plan {
            s,
            panel_len,
            slots,
        })
    }

    /// Runs every tile of group `g`; `row_sums` is empty (all weight zero points 0) or holds
    /// one sum per row for this group.
    pub fn run_group(&self, g: usize, row_sums: &[i32], epilogue: &mut Epilogue) {
        let n_total = self.s.groups * self.s.n_per_group;
        let (slots, len) = match epilogue {
            Epilogue::Requant { scales, out, .. } => (scales.len(), out.len()),
            Epilogue::Float {
                multipliers,
                bias,
                out,
            } => (multipliers.len().min(bias.len()), out.len()),
        };
        assert!(g < self.s.groups && slots >= self.slots && len == self.s.rows * n_total);
        assert!(row_sums.is_empty() || row_sums.len() == self.s.rows);
        // SAFETY: `Plan::new` checked the CPU features, that every step's `kc_pad`-byte read
        // lies in `input`, that the panels hold `groups * panels_per_group` panels and that
        // the per-slot vectors cover every slot; the assert above covers the epilogue's
        // slots, the output length and the row sums.
        unsafe { group(self, g, row_sums, epilogue) }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn group(p: &Plan, g: usize, row_sums: &[i32], epi: &mut Epilogue) {
    let ppg = p.s.panels_per_group;
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
    while row0 < p.s.rows {
        let mr = (p.s.rows - row0).min(max_rows(NB));
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
    let s = &p.s;
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
            .add((g * s.panels_per_group + pan) * p.panel_len);
        let offsets = s.offsets.as_ptr().add(row0 * s.ks);
        for step in 0..s.ks {
            let mut a = [base; MR];
            for (m, a) in a.iter_mut().enumerate() {
                *a = base.add(*offsets.add(m * s.ks + step));
            }
            for kk in 0..groups_per_step {
                let mut wv = [_mm512_setzero_si512(); NB];
                for (nb, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm512_loadu_si512(w.add(nb * p.panel_len).cast());
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

const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// QNNPACK's fp32 requantization of 16 accumulators (see [`crate::requant::requantize`]):
/// the product is clamped to the `i16` range before rounding, which equals rounding first and
/// saturating after (the bounds are integers).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) fn requant16(
    v: __m512i,
    scale: __m512,
    zero_point: __m512i,
    min: __m512i,
    max: __m512i,
) -> __m512i {
    let x = _mm512_mul_round_ps::<ROUND>(_mm512_cvt_roundepi32_ps::<ROUND>(v), scale);
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-32768.0)),
        _mm512_set1_ps(32767.0),
    );
    let n = _mm512_add_epi32(_mm512_cvt_roundps_epi32::<ROUND>(x), zero_point);
    _mm512_min_epi32(_mm512_max_epi32(n, min), max)
}

/// Lanes below `valid` (at most 16).
#[inline]
pub(crate) fn mask16(valid: usize) -> __mmask16 {
    if valid >= 16 {
        0xffff
    } else {
        ((1u32 << valid) - 1) as __mmask16
    }
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
    let s = &p.s;
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
                        let x = _mm512_cvt_roundepi32_ps::<ROUND>(total(m));
                        let y =
                            _mm512_add_round_ps::<ROUND>(_mm512_mul_round_ps::<ROUND>(x, mult), b);
                        _mm512_mask_storeu_ps(out.as_mut_ptr().add(at(m)), mask, y);
                    }
                }
            }
        }
    }
}
