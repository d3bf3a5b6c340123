//! `nn.quantized.dynamic.LSTMCell`.

use ndarray::{Array2, ArrayView2};
use nn::{Module, NnError, Value};

use super::{cell_accessors, module_common, state2, state_or_zeros, to_array, view2, CellCore};
use crate::equations::lstm_update;
use crate::error::Result;
use crate::input::{check_finite, float_data, split_input, split_pair};
use crate::state::FloatWeights;
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

const LSTM_CELL: &str = "DynamicQuantizedLSTMCell";

/// One LSTM step with dynamically quantized or float16 weights (`nn.quantized.dynamic.LSTMCell`).
/// As a [`Module`], `forward` takes `x` or `(x, (h, c))` and returns `(h', c')`.
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct LSTMCell {
    pub(crate) core: CellCore,
    pub(crate) training: bool,
}

impl LSTMCell {
    /// A cell from float weights `weight_ih` `(4*hidden, input)`, `weight_hh`
    /// `(4*hidden, hidden)`, `bias_ih`, `bias_hh` `(4*hidden)` (biases only if `bias`).
    ///
    /// Errors on zero sizes, missing, unexpected or misshapen weights, non-finite values, or a
    /// failing quantizer.
    pub fn from_state_dict(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        weights: &dyn FloatWeights,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<LSTMCell> {
        Ok(LSTMCell {
            core: CellCore::from_weights(
                LSTM_CELL,
                4,
                input_size,
                hidden_size,
                bias,
                weights,
                quantizer,
            )?,
            training: false,
        })
    }

    /// `LSTMCell.from_float(mod)`: a module whose class name is `LSTMCell`, by PyTorch's
    /// parameter names.
    pub fn from_float(float: &dyn Module, quantizer: &dyn WeightQuantizer) -> Result<LSTMCell> {
        Ok(LSTMCell {
            core: CellCore::from_float(LSTM_CELL, "LSTMCell", 4, float, quantizer)?,
            training: false,
        })
    }

    cell_accessors!();

    /// `(h', c')` from `x` `(batch, input_size)` and `(h, c)` `(batch, hidden_size)` (zeros if
    /// `None`).
    ///
    /// Errors on a wrong feature size, an empty batch, states of the wrong shape, and NaN /
    /// infinite values.
    pub fn run<'a>(
        &self,
        x: ArrayView2<'_, f32>,
        state: Option<(ArrayView2<'a, f32>, ArrayView2<'a, f32>)>,
    ) -> Result<(Array2<f32>, Array2<f32>)> {
        let checks: Vec<_> = state
            .iter()
            .flat_map(|(h, c)| [("hx", h), ("cx", c)])
            .collect();
        let batch = self.core.check(&x, &checks)?;
        let hidden = self.core.hidden_size;
        let mut h = state_or_zeros(state.as_ref().map(|s| &s.0), batch, hidden);
        let mut c = state_or_zeros(state.as_ref().map(|s| &s.1), batch, hidden);
        check_finite(LSTM_CELL, "the cell state", &c)?;
        let (ih, mut hh) = self.core.products(&x, &h, batch)?;
        lstm_update(&mut hh, &ih, &mut h, &mut c, hidden);
        Ok((to_array(batch, hidden, h), to_array(batch, hidden, c)))
    }
}

impl Module for LSTMCell {
    fn type_name(&self) -> &'static str {
        LSTM_CELL
    }

    fn forward(&mut self, input: Value) -> Result<Value, NnError> {
        let (x, state) = split_input(LSTM_CELL, input)?;
        let x = float_data(LSTM_CELL, x)?;
        let x2 = view2(LSTM_CELL, &x)?;
        let expected = vec![x2.nrows(), self.core.hidden_size];
        let (h, c) = match state {
            None => self.run(x2, None)?,
            Some(s) => {
                let (h, c) = split_pair(LSTM_CELL, s)?;
                let (h, c) = (float_data(LSTM_CELL, h)?, float_data(LSTM_CELL, c)?);
                let h2 = state2(LSTM_CELL, "hx", &h, expected.clone())?;
                let c2 = state2(LSTM_CELL, "cx", &c, expected)?;
                self.run(x2, Some((h2, c2)))?
            }
        };
        Ok(Value::Tuple(vec![
            Value::from(h.into_dyn()),
            Value::from(c.into_dyn()),
        ]))
    }

    fn extra_repr(&self) -> String {
        self.core.repr("")
    }

    module_common!();
}
