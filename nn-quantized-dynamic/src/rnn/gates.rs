//! The cell equations on one batch of gate pre-activations, in ATen's operation order
//! (`aten/src/ATen/native/RNN.cpp`, `LSTMCell`, `GRUCell`, `SimpleCell`): `ih` is the
//! input-to-hidden product with `b_ih` added, `hh` the hidden-to-hidden product with `b_hh`.

use super::math::{sigmoid_in_place, tanh_in_place};

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

/// Scratch for one step: the summed gates of every batch row.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    gates: Vec<f32>,
    aux: Vec<f32>,
}

/// LSTM: `gates = hh + ih`; `i, f, o = sigmoid`, `g = tanh`; `c' = f*c + i*g`;
/// `h' = o * tanh(c')`. `ih`, `hh` are `(batch, 4*hidden)`; `h`, `c` `(batch, hidden)`, updated.
pub(crate) fn lstm_step(
    ih: &[f32],
    hh: &[f32],
    h: &mut [f32],
    c: &mut [f32],
    hidden: usize,
    s: &mut Scratch,
) {
    let g4 = 4 * hidden;
    s.gates.clear();
    s.gates.extend(hh.iter().zip(ih).map(|(a, b)| a + b));
    s.aux.resize(hidden, 0.0);
    for ((gates, hr), cr) in s
        .gates
        .chunks_exact_mut(g4)
        .zip(h.chunks_exact_mut(hidden))
        .zip(c.chunks_exact_mut(hidden))
    {
        let (ifg, o) = gates.split_at_mut(3 * hidden);
        let (if_, g) = ifg.split_at_mut(2 * hidden);
        sigmoid_in_place(if_);
        tanh_in_place(g);
        sigmoid_in_place(o);
        let (i, f) = if_.split_at(hidden);
        for j in 0..hidden {
            cr[j] = f[j] * cr[j] + i[j] * g[j];
        }
        s.aux.copy_from_slice(cr);
        tanh_in_place(&mut s.aux);
        for j in 0..hidden {
            hr[j] = o[j] * s.aux[j];
        }
    }
}

/// GRU: `r = sigmoid(hh_r + ih_r)`, `z = sigmoid(hh_z + ih_z)`, `n = tanh(ih_n + hh_n * r)`,
/// `h' = (h - n) * z + n`. `ih`, `hh` are `(batch, 3*hidden)`; `h` `(batch, hidden)`, updated.
pub(crate) fn gru_step(ih: &[f32], hh: &[f32], h: &mut [f32], hidden: usize, s: &mut Scratch) {
    let g3 = 3 * hidden;
    s.gates.clear();
    s.gates.extend_from_slice(hh);
    for ((gates, ir), hr) in s
        .gates
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

/// Elman cell: `h' = act(hh + ih)`; all slices `(batch, hidden)`.
pub(crate) fn simple_step(ih: &[f32], hh: &[f32], h: &mut [f32], act: Nonlinearity) {
    h.iter_mut()
        .zip(hh.iter().zip(ih))
        .for_each(|(o, (a, b))| *o = a + b);
    match act {
        Nonlinearity::Tanh => tanh_in_place(h),
        Nonlinearity::Relu => h.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}
