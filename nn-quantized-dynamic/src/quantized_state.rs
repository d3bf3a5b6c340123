//! Saving and loading the dynamic modules: [`QuantizedState`] for each, with the weights as
//! stored (qint8 quantized tensors or float16 values) and the float biases, under the names of
//! the float modules (`weight`, `bias`; `weight_ih`, `bias_hh`; `weight_ih_l0`,
//! `bias_hh_l1_reverse` ...). Staging packs the weights again for the current engine.

use std::sync::Once;

use nn_quantized::state::{
    check_local_state, register_quantized_state, QStateTensor, QuantizedState, QuantizedStateDict,
    StagedState, StateError,
};

use crate::cells::CellCore;
use crate::packed::LinearOp;
use crate::rnn::core::{param_name, Direction, RnnCore};
use crate::weight::DynamicWeight;
use crate::{GRUCell, LSTMCell, Linear, LinearReLU, RNNCell, GRU, LSTM};

/// Registers every dynamic module type for the model-level save / load (called whenever a
/// module packs a weight, so every existing dynamic module is registered).
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_quantized_state::<Linear>();
        register_quantized_state::<LinearReLU>();
        register_quantized_state::<LSTMCell>();
        register_quantized_state::<GRUCell>();
        register_quantized_state::<RNNCell>();
        register_quantized_state::<LSTM>();
        register_quantized_state::<GRU>();
    });
}

fn weight_entry(w: &DynamicWeight) -> QStateTensor {
    match w {
        DynamicWeight::QInt8(q) => QStateTensor::Quantized(q.clone()),
        DynamicWeight::Float16(a) => QStateTensor::F16(a.clone()),
    }
}

fn read_weight(state: &QuantizedStateDict, key: &str) -> Result<DynamicWeight, StateError> {
    match state.get(key) {
        Some(QStateTensor::Quantized(q)) => Ok(DynamicWeight::QInt8(q.clone())),
        Some(QStateTensor::F16(a)) => Ok(DynamicWeight::Float16(a.clone())),
        Some(other) => Err(StateError::InvalidEntry {
            key: key.into(),
            reason: format!("expected a qint8 or float16 weight, found {}", other.spec()),
        }),
        None => Err(StateError::InvalidEntry {
            key: key.into(),
            reason: "missing from the state".into(),
        }),
    }
}

/// The entries of one packed linear: weight `w_name`, and bias `b_name` if it has one.
fn op_entries(op: &LinearOp, w_name: &str, b_name: &str, out: &mut Vec<(String, QStateTensor)>) {
    out.push((w_name.to_string(), weight_entry(op.weight())));
    if let Some(b) = op.bias() {
        out.push((b_name.to_string(), QStateTensor::vector_f32(b)));
    }
}

/// A linear like `like` (same module, bias or not) packed from the saved `w_name` / `b_name`.
fn repack(
    like: &LinearOp,
    module: &'static str,
    state: &QuantizedStateDict,
    w_name: &str,
    b_name: &str,
) -> Result<LinearOp, StateError> {
    let w = read_weight(state, w_name)?;
    let b = match like.bias() {
        Some(_) => Some(state.f32_values(b_name)?),
        None => None,
    };
    LinearOp::new(module, w_name, w, b).map_err(|e| StateError::InvalidEntry {
        key: w_name.to_string(),
        reason: e.to_string(),
    })
}

fn commit<T: 'static>(
    this: &mut T,
    staged: StagedState,
    name: &'static str,
) -> Result<(), StateError> {
    *this = staged.downcast::<T>(name)?;
    Ok(())
}

/// `weight` (qint8 or float16) and `bias` (float32, when present).
impl QuantizedState for Linear {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        let mut out = Vec::new();
        op_entries(&self.op, "weight", "bias", &mut out);
        out
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        let op = repack(&self.op, "DynamicQuantizedLinear", state, "weight", "bias")?;
        Ok(StagedState::new(Linear {
            op,
            training: self.training,
        }))
    }

    fn commit_quantized_state(&mut self, staged: StagedState) -> Result<(), StateError> {
        commit(self, staged, "DynamicQuantizedLinear")
    }
}

/// The wrapped [`Linear`]'s state.
impl QuantizedState for LinearReLU {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        self.inner.quantized_state()
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        let inner = self
            .inner
            .stage_quantized_state(state)?
            .downcast::<Linear>("DynamicQuantizedLinearReLU")?;
        Ok(StagedState::new(LinearReLU {
            inner,
            training: self.training,
        }))
    }

    fn commit_quantized_state(&mut self, staged: StagedState) -> Result<(), StateError> {
        commit(self, staged, "DynamicQuantizedLinearReLU")
    }
}

fn cell_entries(core: &CellCore) -> Vec<(String, QStateTensor)> {
    let mut out = Vec::new();
    out.push(("weight_ih".to_string(), weight_entry(core.ih.weight())));
    out.push(("weight_hh".to_string(), weight_entry(core.hh.weight())));
    for (name, op) in [("bias_ih", &core.ih), ("bias_hh", &core.hh)] {
        if let Some(b) = op.bias() {
            out.push((name.to_string(), QStateTensor::vector_f32(b)));
        }
    }
    out
}

fn stage_cell(core: &CellCore, state: &QuantizedStateDict) -> Result<CellCore, StateError> {
    Ok(CellCore {
        module: core.module,
        ih: repack(&core.ih, core.module, state, "weight_ih", "bias_ih")?,
        hh: repack(&core.hh, core.module, state, "weight_hh", "bias_hh")?,
        input_size: core.input_size,
        hidden_size: core.hidden_size,
    })
}

macro_rules! cell_state {
    ($name:ident) => {
        /// `weight_ih`, `weight_hh` (qint8 or float16), `bias_ih`, `bias_hh` (float32, when
        /// present), as the float cell's parameters.
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                cell_entries(&self.core)
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> Result<StagedState, StateError> {
                check_local_state(self, state)?;
                let core = stage_cell(&self.core, state)?;
                Ok(StagedState::new($name { core, ..*self }))
            }

            fn commit_quantized_state(&mut self, staged: StagedState) -> Result<(), StateError> {
                let name = self.core.module;
                commit(self, staged, name)
            }
        }
    };
}

cell_state!(LSTMCell);
cell_state!(GRUCell);
cell_state!(RNNCell);

/// The layer / direction of `dirs[i]` and its parameter names (weight_ih, weight_hh, bias_ih,
/// bias_hh), as the float module's.
fn rnn_names(core: &RnnCore, i: usize) -> [String; 4] {
    let dn = core.opts.num_directions();
    let (layer, reverse) = (i / dn, i % dn == 1);
    [
        param_name("weight", "ih", layer, reverse),
        param_name("weight", "hh", layer, reverse),
        param_name("bias", "ih", layer, reverse),
        param_name("bias", "hh", layer, reverse),
    ]
}

fn rnn_entries(core: &RnnCore) -> Vec<(String, QStateTensor)> {
    let mut out = Vec::new();
    for (i, d) in core.dirs.iter().enumerate() {
        let [wi, wh, bi, bh] = rnn_names(core, i);
        out.push((wi, weight_entry(d.ih.weight())));
        out.push((wh, weight_entry(d.hh.weight())));
        for (name, op) in [(bi, &d.ih), (bh, &d.hh)] {
            if let Some(b) = op.bias() {
                out.push((name, QStateTensor::vector_f32(b)));
            }
        }
    }
    out
}

fn stage_rnn(core: &RnnCore, state: &QuantizedStateDict) -> Result<RnnCore, StateError> {
    let module = core.mode.module_name();
    let mut dirs = Vec::with_capacity(core.dirs.len());
    for (i, d) in core.dirs.iter().enumerate() {
        let [wi, wh, bi, bh] = rnn_names(core, i);
        dirs.push(Direction {
            ih: repack(&d.ih, module, state, &wi, &bi)?,
            hh: repack(&d.hh, module, state, &wh, &bh)?,
        });
    }
    Ok(RnnCore {
        mode: core.mode,
        opts: core.opts,
        dirs,
    })
}

macro_rules! rnn_state {
    ($name:ident) => {
        /// Per layer and direction `weight_ih_l{k}[_reverse]`, `weight_hh_l{k}[_reverse]`
        /// (qint8 or float16), then `bias_ih_l{k}[_reverse]`, `bias_hh_l{k}[_reverse]`
        /// (float32, when present), as the float module's parameters.
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                rnn_entries(&self.core)
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> Result<StagedState, StateError> {
                check_local_state(self, state)?;
                let core = stage_rnn(&self.core, state)?;
                Ok(StagedState::new($name {
                    core,
                    training: self.training,
                }))
            }

            fn commit_quantized_state(&mut self, staged: StagedState) -> Result<(), StateError> {
                let name = self.core.mode.module_name();
                commit(self, staged, name)
            }
        }
    };
}

rnn_state!(LSTM);
rnn_state!(GRU);
