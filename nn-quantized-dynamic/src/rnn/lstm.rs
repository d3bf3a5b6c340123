//! `torch.ao.nn.quantized.dynamic.LSTM`.

use ndarray::{Array3, ArrayView3, Ix3};
use nn::{Module, NnError, Value};

use super::core::RnnCore;
use super::float::{parameters_of, rnn_options};
use super::options::{RnnMode, RnnOptions};
use crate::error::{DynamicError, Result};
use crate::input::{float_data, split_input, split_pair};
use crate::state::FloatWeights;
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

const MODE: RnnMode = RnnMode::Lstm;

/// The result of an LSTM run.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmOutput {
    /// `(seq, batch, num_directions * hidden)` (`(batch, seq, ...)` when batch-first).
    pub output: Array3<f32>,
    /// Final hidden states `(num_layers * num_directions, batch, hidden)`.
    pub h_n: Array3<f32>,
    /// Final cell states, same shape.
    pub c_n: Array3<f32>,
}

/// A multi-layer LSTM with dynamically quantized (qint8) or float16 weights
/// (`nn.quantized.dynamic.LSTM`). Each layer quantizes the whole input sequence once for its
/// input-to-hidden product and the hidden state once per step, `reduce_range=True` as in
/// PyTorch. As a [`Module`], `forward` takes `x` or `(x, (h_0, c_0))` and returns
/// `(output, (h_n, c_n))` as [`Value::Tuple`]s.
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct LSTM {
    pub(crate) core: RnnCore,
    pub(crate) training: bool,
}

impl LSTM {
    /// An LSTM from float weights by PyTorch name (`weight_ih_l0`, `weight_hh_l0`,
    /// `bias_ih_l0`, `bias_hh_l0`, `..._reverse` for the backward direction), each weight
    /// quantized with a fresh observer from `quantizer` and packed for the current engine.
    ///
    /// Errors on invalid options, missing, unexpected or misshapen weights, non-finite values,
    /// or a failing quantizer.
    pub fn from_state_dict(
        options: RnnOptions,
        weights: &dyn FloatWeights,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<LSTM> {
        Ok(LSTM {
            core: RnnCore::from_weights(MODE, options, weights, quantizer)?,
            training: false,
        })
    }

    /// `LSTM.from_float(mod)`: `nn::LSTM` (options from its config), or any module whose
    /// class name is `LSTM` with PyTorch's parameter names (sizes from the parameter shapes,
    /// `batch_first` from its printed form).
    pub fn from_float(float: &dyn Module, quantizer: &dyn WeightQuantizer) -> Result<LSTM> {
        let params = parameters_of(MODE.module_name(), float, MODE.name())?;
        let options = rnn_options(MODE, float, &params)?;
        LSTM::from_state_dict(options, &params, quantizer)
    }

    /// The network's options.
    pub fn options(&self) -> &RnnOptions {
        &self.core.opts
    }

    /// The weight dtype.
    pub fn dtype(&self) -> WeightDType {
        self.core.dtype()
    }

    /// The stored weight `name` (`weight_ih_l0` ...), as `get_weight()` lists them.
    pub fn weight(&self, name: &str) -> Option<&DynamicWeight> {
        self.core.weight(name)
    }

    /// The float bias `name` (`bias_ih_l0` ...).
    pub fn bias(&self, name: &str) -> Option<&[f32]> {
        self.core.bias(name)
    }

    /// Runs the LSTM on `x` from `(h_0, c_0)` (zeros if `None`).
    ///
    /// Errors if `x` is not `(seq, batch, input_size)` (batch-first: `(batch, seq, ...)`), on
    /// an empty batch or sequence, on states whose shape is not
    /// `(num_layers * num_directions, batch, hidden)`, and on NaN / infinite values.
    pub fn run(
        &self,
        x: ArrayView3<'_, f32>,
        state: Option<(ArrayView3<'_, f32>, ArrayView3<'_, f32>)>,
    ) -> Result<LstmOutput> {
        let (h0, c0) = state.unzip();
        let out = self.core.run(x, h0, c0)?;
        Ok(LstmOutput {
            output: out.y,
            h_n: out.h_n,
            c_n: out.c_n.unwrap_or_default(),
        })
    }
}

impl Module for LSTM {
    fn type_name(&self) -> &'static str {
        MODE.module_name()
    }

    fn forward(&mut self, input: Value) -> Result<Value, NnError> {
        let name = MODE.module_name();
        let (x, state) = split_input(name, input)?;
        let x = float_data(name, x)?;
        let x3 = view3(name, "(seq, batch, input_size)", &x)?;
        let out = match state {
            None => self.run(x3, None)?,
            Some(s) => {
                let (h, c) = split_pair(name, s)?;
                let (h, c) = (float_data(name, h)?, float_data(name, c)?);
                let h3 = state3(name, "h_0", &h, self.core.state_shape(x.shape()))?;
                let c3 = state3(name, "c_0", &c, self.core.state_shape(x.shape()))?;
                self.run(x3, Some((h3, c3)))?
            }
        };
        Ok(Value::Tuple(vec![
            Value::from(out.output.into_dyn()),
            Value::Tuple(vec![
                Value::from(out.h_n.into_dyn()),
                Value::from(out.c_n.into_dyn()),
            ]),
        ]))
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }

    fn extra_repr(&self) -> String {
        self.core.opts.repr()
    }
}

/// A 3-D view of an input, or the typed error.
pub(crate) fn view3<'a>(
    module: &'static str,
    expected: &str,
    x: &'a ndarray::ArrayD<f32>,
) -> Result<ArrayView3<'a, f32>> {
    x.view()
        .into_dimensionality::<Ix3>()
        .map_err(|_| DynamicError::InputShape {
            module,
            expected: expected.to_string(),
            got: x.shape().to_vec(),
        })
}

/// A 3-D view of a state, or the typed error.
pub(crate) fn state3<'a>(
    module: &'static str,
    state: &'static str,
    x: &'a ndarray::ArrayD<f32>,
    expected: Vec<usize>,
) -> Result<ArrayView3<'a, f32>> {
    x.view()
        .into_dimensionality::<Ix3>()
        .map_err(|_| DynamicError::StateShape {
            module,
            state,
            expected,
            got: x.shape().to_vec(),
        })
}
