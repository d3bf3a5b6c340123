//! `torch.ao.nn.quantized.dynamic.GRU`.

use ndarray::{Array3, ArrayView3};
use nn::{Module, NnError, Value};

use super::core::RnnCore;
use super::float::{parameters_of, rnn_options};
use super::lstm::{state3, view3};
use super::options::{RnnMode, RnnOptions};
use crate::error::Result;
use crate::input::{float_data, split_input};
use crate::state::FloatWeights;
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

const MODE: RnnMode = RnnMode::Gru;

/// The result of a GRU run.
#[derive(Debug, Clone, PartialEq)]
pub struct GruOutput {
    /// `(seq, batch, num_directions * hidden)` (`(batch, seq, ...)` when batch-first).
    pub output: Array3<f32>,
    /// Final hidden states `(num_layers * num_directions, batch, hidden)`.
    pub h_n: Array3<f32>,
}

/// A multi-layer GRU with dynamically quantized (qint8) or float16 weights
/// (`nn.quantized.dynamic.GRU`), computed as [`LSTM`](crate::LSTM) is. As a [`Module`],
/// `forward` takes `x` or `(x, h_0)` and returns `(output, h_n)` as a [`Value::Tuple`].
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct GRU {
    pub(crate) core: RnnCore,
    pub(crate) training: bool,
}

impl GRU {
    /// A GRU from float weights by PyTorch name (see [`LSTM::from_state_dict`](crate::LSTM::from_state_dict)).
    pub fn from_state_dict(
        options: RnnOptions,
        weights: &dyn FloatWeights,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<GRU> {
        Ok(GRU {
            core: RnnCore::from_weights(MODE, options, weights, quantizer)?,
            training: false,
        })
    }

    /// `GRU.from_float(mod)`: `nn::GRU` (options from its config), or any module whose
    /// class name is `GRU` with PyTorch's parameter names (sizes from the parameter shapes,
    /// `batch_first` from its printed form).
    pub fn from_float(float: &dyn Module, quantizer: &dyn WeightQuantizer) -> Result<GRU> {
        let params = parameters_of(MODE.module_name(), float, MODE.name())?;
        let options = rnn_options(MODE, float, &params)?;
        GRU::from_state_dict(options, &params, quantizer)
    }

    /// The network's options.
    pub fn options(&self) -> &RnnOptions {
        &self.core.opts
    }

    /// The weight dtype.
    pub fn dtype(&self) -> WeightDType {
        self.core.dtype()
    }

    /// The stored weight `name` (`weight_ih_l0` ...).
    pub fn weight(&self, name: &str) -> Option<&DynamicWeight> {
        self.core.weight(name)
    }

    /// The float bias `name` (`bias_ih_l0` ...).
    pub fn bias(&self, name: &str) -> Option<&[f32]> {
        self.core.bias(name)
    }

    /// Runs the GRU on `x` from `h_0` (zeros if `None`).
    ///
    /// Errors as [`LSTM::run`](crate::LSTM::run).
    pub fn run(
        &self,
        x: ArrayView3<'_, f32>,
        h0: Option<ArrayView3<'_, f32>>,
    ) -> Result<GruOutput> {
        let out = self.core.run(x, h0, None)?;
        Ok(GruOutput {
            output: out.y,
            h_n: out.h_n,
        })
    }
}

impl Module for GRU {
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
            Some(h) => {
                let h = float_data(name, h)?;
                self.run(
                    x3,
                    Some(state3(name, "h_0", &h, self.core.state_shape(x.shape()))?),
                )?
            }
        };
        Ok(Value::Tuple(vec![
            Value::from(out.output.into_dyn()),
            Value::from(out.h_n.into_dyn()),
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
