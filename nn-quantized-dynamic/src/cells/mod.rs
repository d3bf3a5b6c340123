//! `torch.ao.nn.quantized.dynamic.LSTMCell`, `GRUCell`, `RNNCell`: one time step, the input
//! and the hidden state each quantized per call (`quantized::quantized_*_cell_dynamic`,
//! `reduce_range=True`). [`CellCore`] holds the two packed products every cell has.

mod gru_cell;
mod lstm_cell;
mod rnn_cell;

pub use gru_cell::GRUCell;
pub use lstm_cell::LSTMCell;
pub use rnn_cell::RNNCell;

use ndarray::{Array2, ArrayView2, Ix2};
use nn::Module;

use crate::error::{DynamicError, Result};
use crate::input::check_finite;
use crate::packed::LinearOp;
use crate::rnn::float::{dim_of, parameters_of};
use crate::state::{reject_unexpected, take, FloatWeights};
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

/// PyTorch's dynamic cells pass `reduce_range=True`.
const REDUCE_RANGE: bool = true;

/// The two packed linears of a cell.
#[derive(Debug)]
pub(crate) struct CellCore {
    pub(crate) module: &'static str,
    pub(crate) ih: LinearOp,
    pub(crate) hh: LinearOp,
    pub(super) input_size: usize,
    pub(super) hidden_size: usize,
}

impl CellCore {
    pub(super) fn from_weights(
        module: &'static str,
        gates: usize,
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        weights: &dyn FloatWeights,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<CellCore> {
        if input_size == 0 || hidden_size == 0 {
            return Err(DynamicError::Config {
                module,
                reason: format!(
                    "input_size and hidden_size must be positive, got {input_size} and {hidden_size}"
                ),
            });
        }
        let mut names = vec!["weight_ih".to_string(), "weight_hh".to_string()];
        if bias {
            names.extend(["bias_ih".to_string(), "bias_hh".to_string()]);
        }
        reject_unexpected(module, weights, &names)?;
        let rows = gates * hidden_size;
        let pack = |ihhh: &str, cols: usize| -> Result<LinearOp> {
            let wname = format!("weight_{ihhh}");
            let w = take(module, weights, &wname, &[rows, cols])?;
            let b = if bias {
                let b = take(module, weights, &format!("bias_{ihhh}"), &[rows])?;
                Some(b.iter().copied().collect())
            } else {
                None
            };
            let w = DynamicWeight::from_float(module, &wname, w, quantizer)?;
            LinearOp::new(module, &wname, w, b)
        };
        Ok(CellCore {
            module,
            ih: pack("ih", input_size)?,
            hh: pack("hh", hidden_size)?,
            input_size,
            hidden_size,
        })
    }

    pub(super) fn from_float(
        module: &'static str,
        float_type: &str,
        gates: usize,
        float: &dyn Module,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<CellCore> {
        let params = parameters_of(module, float, float_type)?;
        let input_size = dim_of(module, &params, "weight_ih", 1)?;
        let hidden_size = dim_of(module, &params, "weight_hh", 1)?;
        let bias = params.contains_key("bias_ih");
        CellCore::from_weights(
            module,
            gates,
            input_size,
            hidden_size,
            bias,
            &params,
            quantizer,
        )
    }

    /// Checks `x` `(batch, input_size)` and the states `(batch, hidden_size)`; the batch size.
    pub(super) fn check(
        &self,
        x: &ArrayView2<'_, f32>,
        states: &[(&'static str, &ArrayView2<'_, f32>)],
    ) -> Result<usize> {
        let (batch, feat) = x.dim();
        if feat != self.input_size {
            return Err(DynamicError::InputShape {
                module: self.module,
                expected: format!("(batch, {})", self.input_size),
                got: vec![batch, feat],
            });
        }
        if batch == 0 {
            return Err(DynamicError::Empty {
                module: self.module,
                what: "batch",
                unit: "sample",
            });
        }
        for (name, s) in states {
            if s.dim() != (batch, self.hidden_size) {
                return Err(DynamicError::StateShape {
                    module: self.module,
                    state: name,
                    expected: vec![batch, self.hidden_size],
                    got: s.shape().to_vec(),
                });
            }
        }
        Ok(batch)
    }

    /// The two products `x W_ih^T + b_ih` and `h W_hh^T + b_hh`.
    pub(super) fn products(
        &self,
        x: &ArrayView2<'_, f32>,
        h: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let x = x.as_standard_layout();
        let xs = x.as_slice().unwrap_or_default();
        check_finite(self.module, "the input", xs)?;
        check_finite(self.module, "the hidden state", h)?;
        let ih = self.ih.apply(self.module, xs, batch, REDUCE_RANGE, false)?;
        let hh = self.hh.apply(self.module, h, batch, REDUCE_RANGE, false)?;
        Ok((ih, hh))
    }

    pub(super) fn dtype(&self) -> WeightDType {
        self.ih.weight().dtype()
    }

    pub(super) fn weight(&self, name: &str) -> Option<&DynamicWeight> {
        match name {
            "weight_ih" => Some(self.ih.weight()),
            "weight_hh" => Some(self.hh.weight()),
            _ => None,
        }
    }

    pub(super) fn repr(&self, extra: &str) -> String {
        let mut s = format!("{}, {}", self.input_size, self.hidden_size);
        if self.ih.bias().is_none() {
            s.push_str(", bias=False");
        }
        s.push_str(extra);
        s
    }
}

/// Rows of a state, or zeros.
pub(super) fn state_or_zeros(
    s: Option<&ArrayView2<'_, f32>>,
    batch: usize,
    hidden: usize,
) -> Vec<f32> {
    match s {
        Some(s) => s.iter().copied().collect(),
        None => vec![0.0; batch * hidden],
    }
}

pub(super) fn view2<'a>(
    module: &'static str,
    x: &'a ndarray::ArrayD<f32>,
) -> Result<ArrayView2<'a, f32>> {
    x.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| DynamicError::InputShape {
            module,
            expected: "(batch, input_size)".into(),
            got: x.shape().to_vec(),
        })
}

pub(super) fn state2<'a>(
    module: &'static str,
    state: &'static str,
    s: &'a ndarray::ArrayD<f32>,
    expected: Vec<usize>,
) -> Result<ArrayView2<'a, f32>> {
    s.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| DynamicError::StateShape {
            module,
            state,
            expected,
            got: s.shape().to_vec(),
        })
}

pub(super) fn to_array(batch: usize, hidden: usize, v: Vec<f32>) -> Array2<f32> {
    Array2::from_shape_vec((batch, hidden), v).unwrap_or_else(|_| Array2::zeros((batch, hidden)))
}

macro_rules! cell_accessors {
    () => {
        /// Features of the input.
        pub fn input_size(&self) -> usize {
            self.core.input_size
        }

        /// Features of the hidden state.
        pub fn hidden_size(&self) -> usize {
            self.core.hidden_size
        }

        /// The weight dtype.
        pub fn dtype(&self) -> WeightDType {
            self.core.dtype()
        }

        /// The stored weight `weight_ih` or `weight_hh`.
        pub fn weight(&self, name: &str) -> Option<&DynamicWeight> {
            self.core.weight(name)
        }
    };
}

macro_rules! module_common {
    () => {
        fn is_training(&self) -> bool {
            self.training
        }

        fn set_training_flag(&mut self, training: bool) {
            self.training = training;
        }
    };
}

pub(crate) use {cell_accessors, module_common};
