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
