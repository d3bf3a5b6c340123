//! `nn.quantized.dynamic.RNNCell`.

use ndarray::{Array2, ArrayView2};
use nn::{Module, NnError, Value};

use super::{cell_accessors, module_common, state2, state_or_zeros, to_array, view2, CellCore};
use crate::equations::{simple_update, Nonlinearity};
use crate::error::Result;
use crate::input::{float_data, split_input};
use crate::state::FloatWeights;
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

const RNN_CELL: &str = "DynamicQuantizedRNNCell";

/// One Elman step `h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)` with dynamically quantized or
/// float16 weights (`nn.quantized.dynamic.RNNCell`). As a [`Module`], `forward` takes `x` or
/// `(x, h)` and returns `h'`.
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct RNNCell {
    pub(crate) core: CellCore,
    pub(crate) nonlinearity: Nonlinearity,
    pub(crate) training: bool,
}

impl RNNCell {
    /// A cell from float weights (`hidden` rows; see [`LSTMCell::from_state_dict`](crate::LSTMCell::from_state_dict)).
    pub fn from_state_dict(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        nonlinearity: Nonlinearity,
        weights: &dyn FloatWeights,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<RNNCell> {
        Ok(RNNCell {
            core: CellCore::from_weights(
                RNN_CELL,
                1,
                input_size,
                hidden_size,
                bias,
                weights,
                quantizer,
            )?,
            nonlinearity,
            training: false,
        })
    }

    /// `RNNCell.from_float(mod)`: `nn::RNNCell`, or any module whose class name is `RNNCell`
    /// (the nonlinearity then read from its printed form, `nonlinearity=relu`, tanh otherwise).
    pub fn from_float(float: &dyn Module, quantizer: &dyn WeightQuantizer) -> Result<RNNCell> {
        let nonlinearity = if crate::rnn::float::relu_cell(float) {
            Nonlinearity::Relu
        } else {
            Nonlinearity::Tanh
        };
        Ok(RNNCell {
            core: CellCore::from_float(RNN_CELL, "RNNCell", 1, float, quantizer)?,
            nonlinearity,
            training: false,
        })
    }

    cell_accessors!();

    /// The nonlinearity.
    pub fn nonlinearity(&self) -> Nonlinearity {
        self.nonlinearity
    }

    /// `h'` from `x` `(batch, input_size)` and `h` `(batch, hidden_size)` (zeros if `None`).
    ///
    /// Errors as [`LSTMCell::run`](crate::LSTMCell::run).
    pub fn run(
        &self,
        x: ArrayView2<'_, f32>,
        hx: Option<ArrayView2<'_, f32>>,
    ) -> Result<Array2<f32>> {
        let checks: Vec<_> = hx.iter().map(|h| ("hx", h)).collect();
        let batch = self.core.check(&x, &checks)?;
        let hidden = self.core.hidden_size;
        let h = state_or_zeros(hx.as_ref(), batch, hidden);
        let (ih, hh) = self.core.products(&x, &h, batch)?;
        let mut out = vec![0.0; batch * hidden];
        simple_update(&hh, &ih, &mut out, self.nonlinearity);
        Ok(to_array(batch, hidden, out))
    }
}

impl Module for RNNCell {
    fn type_name(&self) -> &'static str {
        RNN_CELL
    }

    fn forward(&mut self, input: Value) -> Result<Value, NnError> {
        let (x, state) = split_input(RNN_CELL, input)?;
        let x = float_data(RNN_CELL, x)?;
        let x2 = view2(RNN_CELL, &x)?;
        let expected = vec![x2.nrows(), self.core.hidden_size];
        let h = match state {
            None => self.run(x2, None)?,
            Some(h) => {
                let h = float_data(RNN_CELL, h)?;
                self.run(x2, Some(state2(RNN_CELL, "hx", &h, expected)?))?
            }
        };
        Ok(Value::from(h.into_dyn()))
    }

    fn extra_repr(&self) -> String {
        match self.nonlinearity {
            Nonlinearity::Tanh => self.core.repr(""),
            Nonlinearity::Relu => self.core.repr(", nonlinearity=relu"),
        }
    }

    module_common!();
}
