//! The cell equations on one batch of precomputed products, in ATen's operation order
//! (`aten/src/ATen/native/RNN.cpp`: `LSTMCell`, `GRUCell`, `SimpleCell`): `ih` is the
//! input-to-hidden product with `b_ih` added, `hh` the hidden-to-hidden product with `b_hh`.
//! The dynamic modules call them after their quantized products; a float RNN built on float
//! products gets the same equations.

pub use crate::math::{sigmoid, sigmoid_in_place, tanh, tanh_in_place};

/// The nonlinearity of an Elman cell (`nn.RNNCell(nonlinearity=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nonlinearity {
    /// `tanh` (PyTorch's default).
    Tanh,
    /// `relu`.
    Relu,
}

impl Nonlinearity {
    /// PyTorch's name.
    pub const fn name(self) -> &'static str {
        match self {
            Nonlinearity::Tanh => "tanh",
            Nonlinearity::Relu => "relu",
        }
    }
}

/// LSTM: `gates = hh + ih`; `i, f, o = sigmoid`, `g = tanh`; `c' = f*c + i*g`;
/// `h' = o * tanh(c')`. `hh` and `ih` are `(batch, 4*hidden)` (gate blocks `i, f, g, o`);
/// `hh` is overwritten (used as scratch); `h` and `c` are `(batch, hidden)` and updated.
///
/// Panics if the slice lengths do not fit `hidden` (an internal contract of the modules).
pub fn lstm_update(hh: &mut [f32], ih: &[f32], h: &mut [f32], c: &mut [f32], hidden: usize) {
    let g4 = 4 * hidden;
    assert!(hh.len() == ih.len() && hh.len() == g4 * h.len() / hidden.max(1) && c.len() == h.len());
    for ((gates, ir), (hr, cr)) in hh
        .chunks_exact_mut(g4)
        .zip(ih.chunks_exact(g4))
        .zip(h.chunks_exact_mut(hidden).zip(c.chunks_exact_mut(hidden)))
    {
        gates.iter_mut().zip(ir).for_each(|(a, b)| *a += b);
        let (ifg, o) = gates.split_at_mut(3 * hidden);
        let (if_, g) = ifg.split_at_mut(2 * hidden);
        sigmoid_in_place(if_);
        tanh_in_place(g);
        sigmoid_in_place(o);
        let (i, f) = if_.split_at(hidden);
        for j in 0..hidden {
            cr[j] = f[j] * cr[j] + i[j] * g[j];
        }
        hr.copy_from_slice(cr);
        tanh_in_place(hr);
        for j in 0..hidden {
            hr[j] *= o[j];
        }
    }
}

/// GRU: `r = sigmoid(hh_r + ih_r)`, `z = sigmoid(hh_z + ih_z)`, `n = tanh(ih_n + hh_n * r)`,
/// `h' = (h - n) * z + n`. `hh` and `ih` are `(batch, 3*hidden)` (gate blocks `r, z, n`); `hh`
/// is overwritten; `h` is `(batch, hidden)` and updated.
///
/// Panics if the slice lengths do not fit `hidden`.
pub fn gru_update(hh: &mut [f32], ih: &[f32], h: &mut [f32], hidden: usize) {
    let g3 = 3 * hidden;
    assert!(hh.len() == ih.len() && hh.len() == g3 * h.len() / hidden.max(1));
    for ((gates, ir), hr) in hh
        .chunks_exact_mut(g3)
        .zip(ih.chunks_exact(g3))
        .zip(h.chunks_exact_mut(hidden))
    {
        let (rz, hn) = gates.split_at_mut(2 * hidden);
        rz.iter_mut()
            .zip(&ir[..2 * hidden])
            .for_each(|(a, b)| *a += b);
        sigmoid_in_place(rz);
        let (r, z) = rz.split_at(hidden);
        let i_n = &ir[2 * hidden..];
        for j in 0..hidden {
            hn[j] = i_n[j] + hn[j] * r[j];
        }
        tanh_in_place(hn);
        for j in 0..hidden {
            hr[j] = (hr[j] - hn[j]) * z[j] + hn[j];
        }
    }
}

/// Elman cell: `h' = act(hh + ih)`; `hh`, `ih` and `h` are `(batch, hidden)`.
///
/// Panics if the lengths differ.
pub fn simple_update(hh: &[f32], ih: &[f32], h: &mut [f32], act: Nonlinearity) {
    assert!(hh.len() == ih.len() && hh.len() == h.len());
    h.iter_mut()
        .zip(hh.iter().zip(ih))
        .for_each(|(o, (a, b))| *o = a + b);
    match act {
        Nonlinearity::Tanh => tanh_in_place(h),
        Nonlinearity::Relu => h.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}

/// A cell update on rows of `(hh, ih, h, c)`.
pub(crate) type RowUpdate<'a> = dyn Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + Sync + 'a;

/// Runs a row-wise cell update over the batch, split across the worker threads when the batch
/// is large enough to pay for it: `update(hh, ih, h, c)` receives the same rows of each buffer
/// (`hh` and `ih` have `gates` times the width of `h` and `c`). The rows are independent, so
/// the result does not depend on the split.
pub(crate) fn update_rows(
    hh: &mut [f32],
    ih: &[f32],
    h: &mut [f32],
    c: &mut [f32],
    hidden: usize,
    gates: usize,
    update: &RowUpdate<'_>,
) {
    /// Fewest state values per task.
    const MIN_WORK: usize = 1024;
    let batch = h.len() / hidden.max(1);
    let tasks = qtensor::threads::num_threads()
        .min(batch)
        .min(h.len() / MIN_WORK)
        .max(1);
    if tasks == 1 {
        return update(hh, ih, h, c);
    }
    // Row blocks of every buffer (`c` is empty for a GRU).
    let rows = batch.div_ceil(tasks);
    let (mut hh, mut ih, mut h, mut c) = (hh, ih, h, c);
    let mut parts = Vec::with_capacity(tasks);
    while !h.is_empty() {
        let n = (rows * hidden).min(h.len());
        let (a, hh_rest) = std::mem::take(&mut hh).split_at_mut(n * gates);
        let (b, ih_rest) = ih.split_at(n * gates);
        let (d, h_rest) = std::mem::take(&mut h).split_at_mut(n);
        let cn = n.min(c.len());
        let (e, c_rest) = std::mem::take(&mut c).split_at_mut(cn);
        parts.push((a, b, d, e));
        (hh, ih, h, c) = (hh_rest, ih_rest, h_rest, c_rest);
    }
    qtensor::threads::for_each_chunk_mut(&mut parts, 1, |_, part| {
        let (a, b, d, e) = &mut part[0];
        update(a, b, d, e);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 500.0
                    - 2.0
            })
            .collect()
    }

    #[test]
    fn batch_split_updates_equal_the_whole_batch_update() {
        let hidden = 300;
        for threads in [1, 2, 3] {
            qtensor::threads::set_num_threads(threads).unwrap();
            for batch in [1, 3, 4, 7, 9] {
                let n = batch * hidden;
                let (ih4, h0, c0) = (values(4 * n, 1), values(n, 2), values(n, 3));
                let (mut hh, mut h, mut c) = (values(4 * n, 4), h0.clone(), c0.clone());
                let (mut hh_ref, mut h_ref, mut c_ref) = (hh.clone(), h0.clone(), c0.clone());
                lstm_update(&mut hh_ref, &ih4, &mut h_ref, &mut c_ref, hidden);
                update_rows(&mut hh, &ih4, &mut h, &mut c, hidden, 4, &|a, b, d, e| {
                    lstm_update(a, b, d, e, hidden)
                });
                assert_eq!(
                    (h, c),
                    (h_ref, c_ref),
                    "lstm batch {batch} threads {threads}"
                );

                let ih3 = values(3 * n, 5);
                let (mut hh, mut h) = (values(3 * n, 6), h0.clone());
                let (mut hh_ref, mut h_ref) = (hh.clone(), h0.clone());
                gru_update(&mut hh_ref, &ih3, &mut h_ref, hidden);
                update_rows(&mut hh, &ih3, &mut h, &mut [], hidden, 3, &|a, b, d, _| {
                    gru_update(a, b, d, hidden)
                });
                assert_eq!(h, h_ref, "gru batch {batch} threads {threads}");
            }
        }
    }
}
