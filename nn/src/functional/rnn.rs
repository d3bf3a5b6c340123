//! Recurrent cell steps (`torch._VF.lstm_cell`, `gru_cell`, `rnn_tanh_cell`, `rnn_relu_cell`),
//! composed from differentiable ops, on input projections computed ahead of time.

use crate::error::Result;
use crate::functional::linear;
use crate::tensor::Tensor;

/// The recurrence of an RNN layer or cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// LSTM: gates (i, f, g, o).
    Lstm,
    /// GRU: gates (r, z, n).
    Gru,
    /// Elman RNN with tanh.
    RnnTanh,
    /// Elman RNN with relu.
    RnnRelu,
}

impl CellKind {
    /// Number of gate blocks stacked in the weights (4, 3, 1, 1).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
        }
    }
}

/// The hidden-to-hidden weights of one cell.
#[derive(Clone, Copy)]
pub struct HiddenWeights<'a> {
    /// `weight_hh`, `(gates * H, H)`.
    pub weight: &'a Tensor,
    /// `bias_hh`, `(gates * H)`.
    pub bias: Option<&'a Tensor>,
}

/// One step from the input projection `xw = x W_ih^T + b_ih` `(B, gates * H)` and the state
/// `h` (and `c` for LSTM) `(B, H)`; returns the new `(h, c)` (`c` is `None` except for LSTM).
pub fn cell_step(
    kind: CellKind,
    xw: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
    hh: HiddenWeights<'_>,
) -> Result<(Tensor, Option<Tensor>)> {
    let hs = h.shape();
    let hidden = hs[hs.len() - 1];
    let hw = linear(h, hh.weight, hh.bias)?;
    let chunk = |t: &Tensor, k: usize| t.narrow(-1, k * hidden, hidden);
    match kind {
        CellKind::Lstm => {
            let gates = xw.add(&hw)?;
            let i = chunk(&gates, 0)?.sigmoid();
            let f = chunk(&gates, 1)?.sigmoid();
            let g = chunk(&gates, 2)?.tanh();
            let o = chunk(&gates, 3)?.sigmoid();
            let c_prev = match c {
                Some(c) => c.clone(),
                None => Tensor::zeros(&hs),
            };
            let c_new = f.mul(&c_prev)?.add(&i.mul(&g)?)?;
            let h_new = o.mul(&c_new.tanh())?;
            Ok((h_new, Some(c_new)))
        }
        CellKind::Gru => {
            let r = chunk(xw, 0)?.add(&chunk(&hw, 0)?)?.sigmoid();
            let z = chunk(xw, 1)?.add(&chunk(&hw, 1)?)?.sigmoid();
            let n = chunk(xw, 2)?.add(&r.mul(&chunk(&hw, 2)?)?)?.tanh();
            // h' = (1 - z) * n + z * h = n + z * (h - n)
            let h_new = n.add(&z.mul(&h.sub(&n)?)?)?;
            Ok((h_new, None))
        }
        CellKind::RnnTanh => Ok((xw.add(&hw)?.tanh(), None)),
        CellKind::RnnRelu => Ok((xw.add(&hw)?.relu(), None)),
    }
}
