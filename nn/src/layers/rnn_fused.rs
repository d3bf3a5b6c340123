//! The inference path of [`LSTM`](super::LSTM), [`GRU`](super::GRU) and [`RNN`](super::RNN):
//! taken when no gradient can flow (under `no_grad`, or when neither the input, the state nor
//! any weight requires grad) and no graph is being traced. It computes what the autograd
//! composition computes, without graph nodes or per-step allocations:
//!
//! - the weights are packed once (and kept until they change) with their gate rows
//!   interleaved by blocks of [`UNITS`] hidden units: block `k` holds the rows of every gate
//!   for units `k * UNITS ..`, so one block's gates are contiguous and a thread can own a block
//!   through both the GEMM and the state update;
//! - one GEMM projects the input of every time step (`x W_ih^T + b_ih`, plus `b_hh` except for
//!   the GRU's candidate gate, which needs it inside `r * (h W_hn^T + b_hn)`);
//! - each step is one GEMM of `h` against the packed `W_hh` and one fused loop of gate
//!   nonlinearities and state update per block; with several threads the blocks are split
//!   between them when the step is large enough to pay for the hand-off.

use std::sync::Arc;

use ndarray::ArrayD;
use qtensor::threads::for_each_chunk_mut;

use super::rnn::RnnLayerWeights;
use crate::functional::CellKind;
use crate::kernels::packed_gemm::{gemm_packed, PackedB, NR};
use crate::kernels::rnn_cell::{cell_update, CellBlock};
use crate::tensor::Tensor;

/// Hidden units per block of the packed layout.
pub(crate) const UNITS: usize = 32;

/// Below this many multiply-adds per step (`batch * gates * hidden * hidden`) a step runs on
/// one thread.
const PARALLEL_STEP: usize = 1 << 18;

/// One direction of one layer, packed for [`run_direction`].
pub(crate) struct PackedLayer {
    /// The weight snapshots this was packed from (compared by identity to detect changes).
    sources: Vec<Arc<ArrayD<f32>>>,
    kind: CellKind,
    hidden: usize,
    input: usize,
    ih: PackedB,
    hh: PackedB,
    /// Bias added to the input projection, in packed column order.
    bias_x: Vec<f32>,
    /// Bias added to the hidden projection (GRU only), in packed column order.
    bias_h: Option<Vec<f32>>,
}

fn snapshots(w: &RnnLayerWeights) -> Vec<Arc<ArrayD<f32>>> {
    let mut v = vec![w.weight_ih.data(), w.weight_hh.data()];
    v.extend(w.bias_ih.as_ref().map(Tensor::data));
    v.extend(w.bias_hh.as_ref().map(Tensor::data));
    v
}

/// Packed columns per block.
fn block_cols(kind: CellKind) -> usize {
    kind.gates() * UNITS
}

/// The weight row (gate-major, `gate * hidden + unit`) of packed column `q`, if any.
fn source_row(kind: CellKind, hidden: usize, q: usize) -> Option<usize> {
    let bw = block_cols(kind);
    let (blk, r) = (q / bw, q % bw);
    let (gate, unit) = (r / UNITS, blk * UNITS + r % UNITS);
    (unit < hidden).then_some(gate * hidden + unit)
}

impl PackedLayer {
    /// Packs `w`, or returns `None` if its shapes do not fit (the caller then takes the
    /// autograd path, which reports the error).
    fn new(kind: CellKind, hidden: usize, w: &RnnLayerWeights) -> Option<PackedLayer> {
        let sources = snapshots(w);
        let g = kind.gates();
        let (wi, wh) = (&sources[0], &sources[1]);
        let input = *wi.shape().get(1)?;
        if wi.shape() != [g * hidden, input] || wh.shape() != [g * hidden, hidden] {
            return None;
        }
        let biases = match (&w.bias_ih, &w.bias_hh) {
            (Some(_), Some(_)) => {
                if sources[2].shape() != [g * hidden] || sources[3].shape() != [g * hidden] {
                    return None;
                }
                Some((sources[2].as_slice()?, sources[3].as_slice()?))
            }
            (None, None) => None,
            _ => return None,
        };
        let cols = hidden.div_ceil(UNITS) * block_cols(kind);
        let src = |q| source_row(kind, hidden, q);
        let ih = PackedB::from_rows(wi.as_slice()?, input, cols, src);
        let hh = PackedB::from_rows(wh.as_slice()?, hidden, cols, src);
        let gru = kind == CellKind::Gru;
        let mut bias_x = vec![0.0f32; cols];
        let mut bias_h = gru.then(|| vec![0.0f32; cols]);
        if let Some((bi, bh)) = biases {
            for (q, bx) in bias_x.iter_mut().enumerate() {
                let Some(r) = src(q) else { continue };
                match &mut bias_h {
                    Some(b) => {
                        *bx = bi[r];
                        b[q] = bh[r];
                    }
                    None => *bx = bi[r] + bh[r],
                }
            }
        }
        Some(PackedLayer {
            sources,
            kind,
            hidden,
            input,
            ih,
            hh,
            bias_x,
            bias_h,
        })
    }

    /// `cached` if it was packed from the current weights of `w`, else a new packing.
    pub(crate) fn refresh(
        cached: Option<PackedLayer>,
        kind: CellKind,
        hidden: usize,
        w: &RnnLayerWeights,
    ) -> Option<PackedLayer> {
        if let Some(p) = cached {
            let now = snapshots(w);
            if p.kind == kind
                && p.hidden == hidden
                && now.len() == p.sources.len()
                && now.iter().zip(&p.sources).all(|(a, b)| Arc::ptr_eq(a, b))
            {
                return Some(p);
            }
        }
        PackedLayer::new(kind, hidden, w)
    }

    /// Input features.
    pub(crate) fn input(&self) -> usize {
        self.input
    }
}

/// Where one direction reads and writes.
pub(crate) struct Direction<'a> {
    /// Layer input, `(t_len * batch) x input`, time-major.
    pub x: &'a [f32],
    /// Time steps.
    pub t_len: usize,
    /// Batch rows.
    pub batch: usize,
    /// Initial hidden state, `batch x hidden`.
    pub h0: &'a [f32],
    /// Initial cell state (LSTM), `batch x hidden`.
    pub c0: Option<&'a [f32]>,
    /// Run from the last step to the first.
    pub reverse: bool,
    /// Threads to use.
    pub threads: usize,
}

/// Runs one direction; writes step `t`'s hidden state to
/// `out[(t * batch + b) * out_ld + out_off ..][.. hidden]` and returns the final `h` and `c`
/// (`batch x hidden` each; `c` empty except for LSTM).
pub(crate) fn run_direction(
    p: &PackedLayer,
    d: &Direction<'_>,
    (out, out_ld, out_off): (&mut [f32], usize, usize),
) -> (Vec<f32>, Vec<f32>) {
    let (hid, batch, kind) = (p.hidden, d.batch, p.kind);
    let bw = block_cols(kind);
    let nblk = hid.div_ceil(UNITS);
    let cols = nblk * bw;
    let rows = d.t_len * batch;
    let threads = d.threads.max(1);

    // Input projection of every step, rows split between threads.
    let mut xw = vec![0.0f32; rows * cols];
    let per = rows.div_ceil(threads).div_ceil(8).max(1) * 8;
    let project = |(xw, x): (&mut [f32], &[f32])| {
        gemm_packed(
            x.len() / p.input.max(1),
            (x, p.input),
            &p.ih,
            0..p.ih.panels(),
            Some(&p.bias_x),
            (xw, cols),
        );
    };
    if p.input == 0 {
        for row in xw.chunks_exact_mut(cols.max(1)) {
            row.copy_from_slice(&p.bias_x);
        }
    } else if threads > 1 && rows > 8 {
        let mut parts: Vec<_> = xw
            .chunks_mut(per * cols)
            .zip(d.x.chunks(per * p.input))
            .collect();
        for_each_chunk_mut(&mut parts, 1, |_, part| {
            let (out, x) = &mut part[0];
            project((out, x));
        });
    } else {
        project((&mut xw, d.x));
    }

    // State in block layout: block k holds `batch x UNITS`.
    let mut h_blk = vec![0.0f32; nblk * batch * UNITS];
    let mut c_blk = vec![0.0f32; nblk * batch * UNITS];
    let scatter = |src: &[f32], dst: &mut [f32]| {
        for b in 0..batch {
            for j in 0..hid {
                dst[((j / UNITS) * batch + b) * UNITS + j % UNITS] = src[b * hid + j];
            }
        }
    };
    scatter(d.h0, &mut h_blk);
    if let Some(c0) = d.c0 {
        scatter(c0, &mut c_blk);
    }
    let mut h_rows = d.h0.to_vec();
    let mut hw = vec![0.0f32; nblk * batch * bw];
    let panels_per_blk = bw / NR;
    let split = threads > 1 && nblk > 1 && batch * kind.gates() * hid * hid >= PARALLEL_STEP;
    let groups = if split { threads.min(nblk) } else { 1 };
    let blk_per_group = nblk.div_ceil(groups);

    for step in 0..d.t_len {
        let t = if d.reverse { d.t_len - 1 - step } else { step };
        let xw_t = &xw[t * batch * cols..(t + 1) * batch * cols];
        let h_prev = &h_rows;
        let run = |g0: usize, (hw, (h, c)): (&mut [f32], (&mut [f32], &mut [f32]))| {
            for (i, hw) in hw.chunks_exact_mut(batch * bw).enumerate() {
                let blk = g0 + i;
                let (hs, cs) = (
                    &mut h[i * batch * UNITS..(i + 1) * batch * UNITS],
                    &mut c[i * batch * UNITS..(i + 1) * batch * UNITS],
                );
                gemm_packed(
                    batch,
                    (h_prev, hid),
                    &p.hh,
                    blk * panels_per_blk..(blk + 1) * panels_per_blk,
                    p.bias_h.as_deref(),
                    (hw, bw),
                );
                let cell = CellBlock {
                    u: UNITS,
                    rows: batch,
                    xw: &xw_t[blk * bw..],
                    xw_ld: cols,
                    hw,
                };
                cell_update(kind, &cell, hs, cs);
            }
        };
        if groups > 1 {
            let mut parts: Vec<_> = hw
                .chunks_mut(blk_per_group * batch * bw)
                .zip(
                    h_blk
                        .chunks_mut(blk_per_group * batch * UNITS)
                        .zip(c_blk.chunks_mut(blk_per_group * batch * UNITS)),
                )
                .collect();
            for_each_chunk_mut(&mut parts, 1, |g, part| {
                let (hw, (h, c)) = &mut part[0];
                run(g * blk_per_group, (hw, (h, c)));
            });
        } else {
            run(0, (&mut hw, (&mut h_blk, &mut c_blk)));
        }
        // Gather the new state into rows for the next GEMM and the output.
        for b in 0..batch {
            let o = &mut out[(t * batch + b) * out_ld + out_off..][..hid];
            for (j, (hr, ov)) in h_rows[b * hid..(b + 1) * hid]
                .iter_mut()
                .zip(o.iter_mut())
                .enumerate()
            {
                let v = h_blk[((j / UNITS) * batch + b) * UNITS + j % UNITS];
                *hr = v;
                *ov = v;
            }
        }
    }
    let c_n = if kind == CellKind::Lstm {
        let mut c = vec![0.0f32; batch * hid];
        for b in 0..batch {
            for j in 0..hid {
                c[b * hid + j] = c_blk[((j / UNITS) * batch + b) * UNITS + j % UNITS];
            }
        }
        c
    } else {
        Vec::new()
    };
    (h_rows, c_n)
}
