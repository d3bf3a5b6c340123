//! The elementwise half of a recurrent step for inference: gate nonlinearities and the state
//! update on a block of `u` hidden units, fused in one loop per gate row (see
//! `layers::rnn_fused` for the layout). Compiled for AVX-512 or AVX2 where the CPU has them
//! (chosen once); the arithmetic has no fused multiply-add, so all paths give the same bits.

use std::sync::OnceLock;

use super::fast_math::{sigmoid, tanh};
use crate::functional::CellKind;

/// One block of hidden units for `rows` batch rows.
pub(crate) struct CellBlock<'a> {
    /// Hidden units in the block.
    pub u: usize,
    /// Batch rows.
    pub rows: usize,
    /// Input projections: row `b` is `xw[b * xw_ld ..][.. gates * u]`, gate-major.
    pub xw: &'a [f32],
    /// Row stride of `xw`.
    pub xw_ld: usize,
    /// Hidden projections `h W_hh^T (+ b_hh)`, `rows x (gates * u)`, gate-major.
    pub hw: &'a [f32],
}

/// Updates `h` (and `c` for LSTM), each `rows x u`, in place.
pub(crate) fn cell_update(kind: CellKind, blk: &CellBlock<'_>, h: &mut [f32], c: &mut [f32]) {
    let g = kind.gates();
    let u = blk.u;
    assert!(h.len() >= blk.rows * u && blk.hw.len() >= blk.rows * g * u);
    assert!(kind != CellKind::Lstm || c.len() >= blk.rows * u);
    assert!(blk.rows == 0 || blk.xw.len() >= (blk.rows - 1) * blk.xw_ld + g * u);
    let f = *UPDATE.get_or_init(choose);
    f(kind, blk, h, c);
}

type Update = fn(CellKind, &CellBlock<'_>, &mut [f32], &mut [f32]);

static UPDATE: OnceLock<Update> = OnceLock::new();

fn choose() -> Update {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return update_avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return update_avx2;
        }
    }
    update_body
}

#[cfg(target_arch = "x86_64")]
fn update_avx512(kind: CellKind, blk: &CellBlock<'_>, h: &mut [f32], c: &mut [f32]) {
    // SAFETY: chosen only when the CPU has AVX-512F (see `choose`).
    unsafe { update_avx512_impl(kind, blk, h, c) }
}

/// [`update_body`] compiled for AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_avx512_impl(kind: CellKind, blk: &CellBlock<'_>, h: &mut [f32], c: &mut [f32]) {
    update_body(kind, blk, h, c);
}

#[cfg(target_arch = "x86_64")]
fn update_avx2(kind: CellKind, blk: &CellBlock<'_>, h: &mut [f32], c: &mut [f32]) {
    // SAFETY: chosen only when the CPU has AVX2 (see `choose`).
    unsafe { update_avx2_impl(kind, blk, h, c) }
}

/// [`update_body`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_avx2_impl(kind: CellKind, blk: &CellBlock<'_>, h: &mut [f32], c: &mut [f32]) {
    update_body(kind, blk, h, c);
}

/// The update, one batch row at a time; the inner loops run over `u` contiguous units.
#[inline(always)]
fn update_body(kind: CellKind, blk: &CellBlock<'_>, h: &mut [f32], c: &mut [f32]) {
    let (u, g) = (blk.u, kind.gates());
    for b in 0..blk.rows {
        let xw = &blk.xw[b * blk.xw_ld..b * blk.xw_ld + g * u];
        let hw = &blk.hw[b * g * u..(b + 1) * g * u];
        let h = &mut h[b * u..(b + 1) * u];
        fn gate(s: &[f32], u: usize, k: usize) -> &[f32] {
            &s[k * u..(k + 1) * u]
        }
        match kind {
            CellKind::Lstm => {
                let c = &mut c[b * u..(b + 1) * u];
                let (xi, xf, xg, xo) = (
                    gate(xw, u, 0),
                    gate(xw, u, 1),
                    gate(xw, u, 2),
                    gate(xw, u, 3),
                );
                let (hi, hf, hg, ho) = (
                    gate(hw, u, 0),
                    gate(hw, u, 1),
                    gate(hw, u, 2),
                    gate(hw, u, 3),
                );
                for j in 0..u {
                    let i = sigmoid(xi[j] + hi[j]);
                    let f = sigmoid(xf[j] + hf[j]);
                    let gg = tanh(xg[j] + hg[j]);
                    let o = sigmoid(xo[j] + ho[j]);
                    let cn = f * c[j] + i * gg;
                    c[j] = cn;
                    h[j] = o * tanh(cn);
                }
            }
            CellKind::Gru => {
                let (xr, xz, xn) = (gate(xw, u, 0), gate(xw, u, 1), gate(xw, u, 2));
                let (hr, hz, hn) = (gate(hw, u, 0), gate(hw, u, 1), gate(hw, u, 2));
                for j in 0..u {
                    let r = sigmoid(xr[j] + hr[j]);
                    let z = sigmoid(xz[j] + hz[j]);
                    let n = tanh(xn[j] + r * hn[j]);
                    h[j] = n + z * (h[j] - n);
                }
            }
            CellKind::RnnTanh => {
                for j in 0..u {
                    h[j] = tanh(xw[j] + hw[j]);
                }
            }
            CellKind::RnnRelu => {
                for j in 0..u {
                    h[j] = (xw[j] + hw[j]).max(0.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(v: f64) -> f64 {
        1.0 / (1.0 + (-v).exp())
    }

    /// Every path against the textbook formulas in f64, on a ragged block (`u` not a multiple
    /// of a vector width, padded row stride).
    #[test]
    fn every_path_matches_the_formulas() {
        let mut paths: Vec<(&str, Update)> = vec![("portable", update_body)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                paths.push(("avx2", update_avx2));
            } else {
                eprintln!("skipped: this CPU has no AVX2");
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                paths.push(("avx512", update_avx512));
            } else {
                eprintln!("skipped: this CPU has no AVX-512F");
            }
        }
        let val = |i: usize, s: usize| (((i * 53 + s * 7) % 61) as f32 - 30.0) / 6.0;
        for kind in [
            CellKind::Lstm,
            CellKind::Gru,
            CellKind::RnnTanh,
            CellKind::RnnRelu,
        ] {
            for (u, rows) in [(1, 1), (19, 3), (32, 2), (0, 2)] {
                let g = kind.gates();
                let ld = g * u + 5;
                let xw: Vec<f32> = (0..rows * ld).map(|i| val(i, 1)).collect();
                let hw: Vec<f32> = (0..rows * g * u).map(|i| val(i, 2)).collect();
                let h0: Vec<f32> = (0..rows * u).map(|i| val(i, 3) / 5.0).collect();
                let c0: Vec<f32> = (0..rows * u).map(|i| val(i, 4)).collect();
                let blk = CellBlock {
                    u,
                    rows,
                    xw: &xw,
                    xw_ld: ld,
                    hw: &hw,
                };
                let mut first: Option<Vec<f32>> = None;
                for (name, f) in &paths {
                    let (mut h, mut c) = (h0.clone(), c0.clone());
                    f(kind, &blk, &mut h, &mut c);
                    for b in 0..rows {
                        for j in 0..u {
                            let pre = |k: usize| {
                                f64::from(xw[b * ld + k * u + j])
                                    + f64::from(hw[(b * g + k) * u + j])
                            };
                            let (hp, cp) = (f64::from(h0[b * u + j]), f64::from(c0[b * u + j]));
                            let (wh, wc) = match kind {
                                CellKind::Lstm => {
                                    let cn = sig(pre(1)) * cp + sig(pre(0)) * pre(2).tanh();
                                    (sig(pre(3)) * cn.tanh(), cn)
                                }
                                CellKind::Gru => {
                                    let r = sig(pre(0));
                                    let n = (f64::from(xw[b * ld + 2 * u + j])
                                        + r * f64::from(hw[(b * g + 2) * u + j]))
                                    .tanh();
                                    ((1.0 - sig(pre(1))) * n + sig(pre(1)) * hp, cp)
                                }
                                CellKind::RnnTanh => (pre(0).tanh(), cp),
                                CellKind::RnnRelu => (pre(0).max(0.0), cp),
                            };
                            let (gh, gc) = (f64::from(h[b * u + j]), f64::from(c[b * u + j]));
                            assert!((gh - wh).abs() < 1e-6, "{name} {kind:?} h: {gh} vs {wh}");
                            assert!((gc - wc).abs() < 1e-5 * (1.0 + wc.abs()), "{name} c");
                        }
                    }
                    let both: Vec<f32> = h.iter().chain(&c).copied().collect();
                    match &first {
                        None => first = Some(both),
                        Some(f) => assert!(
                            f.iter().zip(&both).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{name} differs in bits from the portable path"
                        ),
                    }
                }
            }
        }
    }
}
