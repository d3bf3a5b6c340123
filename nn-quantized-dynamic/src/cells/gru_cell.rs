//! `nn.quantized.dynamic.GRUCell`.

use ndarray::{Array2, ArrayView2};
use nn::{Module, NnError, Value};

use super::{cell_accessors, module_common, state2, state_or_zeros, to_array, view2, CellCore};
use crate::equations::gru_update;
use crate::error::Result;
use crate::input::{float_data, split_input};
use crate::state::FloatWeights;
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

const GRU_CELL: &str = "DynamicQuantizedGRUCell";

/// One GRU step with dynamically quantized or float16 weights (`nn.quantized.dynamic.GRUCell`).
/// As a [`Module`], `forward` takes `x` or `(x, h)` and returns `h'`.
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct GRUCell {
    pub(crate) core: CellCore,
    pub(crate) training: bool,
}

impl GRUCell {
    /// A cell from float weights (`3*hidden` rows; see [`LSTMCell::from_state_dict`](crate::LSTMCell::from_state_dict)).
    pub fn from_state_dict(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        weights: &dyn FloatWeights,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<GRUCell> {
        Ok(GRUCell {
            core: CellCore::from_weights(
                GRU_CELL,
                3,
                input_size,
                hidden_size,
                bias,
                weights,
                quantizer,
            )?,
            training: false,
        })
    }

    /// `GRUCell.from_float(mod)`: a module whose class name is `GRUCell`.
    pub fn from_float(float: &dyn Module, quantizer: &dyn WeightQuantizer) -> Result<GRUCell> {
        Ok(GRUCell {
            core: CellCore::from_float(GRU_CELL, "GRUCell", 3, float, quantizer)?,
            training: false,
        })
    }

    cell_accessors!();

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
        let mut h = state_or_zeros(hx.as_ref(), batch, hidden);
        let (ih, mut hh) = self.core.products(&x, &h, batch)?;
        gru_update(&mut hh, &ih, &mut h, hidden);
        Ok(to_array(batch, hidden, h))
    }
}

impl Module for GRUCell {
    fn type_name(&self) -> &'static str {
        GRU_CELL
    }

    fn forward(&mut self, input: Value) -> Result<Value, NnError> {
        let (x, state) = split_input(GRU_CELL, input)?;
        let x = float_data(GRU_CELL, x)?;
        let x2 = view2(GRU_CELL, &x)?;
        let expected = vec![x2.nrows(), self.core.hidden_size];
        let h = match state {
            None => self.run(x2, None)?,
            Some(h) => {
                let h = float_data(GRU_CELL, h)?;
                self.run(x2, Some(state2(GRU_CELL, "hx", &h, expected)?))?
            }
        };
        Ok(Value::from(h.into_dyn()))
    }

    fn extra_repr(&self) -> String {
        self.core.repr("")
    }

    module_common!();
}
