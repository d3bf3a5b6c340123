//! `torch.ao.nn.quantized.dynamic.LSTMCell`, `GRUCell`, `RNNCell`: one time step, the input
//! and the hidden state each quantized per call (`quantized::quantized_*_cell_dynamic`,
//! `reduce_range=True`).

use ndarray::{Array2, ArrayView2, Ix2};
use nn::{Module, NnError, Value};

use crate::equations::{gru_update, lstm_update, simple_update, Nonlinearity};
use crate::error::{DynamicError, Result};
use crate::input::{check_finite, float_data, split_input, split_pair};
use crate::packed::LinearOp;
use crate::rnn::float::{dim_of, parameters_of};
use crate::state::{reject_unexpected, take, FloatWeights};
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

/// PyTorch's dynamic cells pass `reduce_range=True`.
const REDUCE_RANGE: bool = true;

/// The two packed linears of a cell.
#[derive(Debug)]
struct CellCore {
    module: &'static str,
    ih: LinearOp,
    hh: LinearOp,
    input_size: usize,
    hidden_size: usize,
}

impl CellCore {
    fn from_weights(
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

    fn from_float(
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
    fn check(
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
    fn products(
        &self,
        x: &ArrayView2<'_, f32>,
        h: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let x = x.as_standard_layout();
        let xs = x.as_slice().unwrap_or_default();
        check_finite(self.module, "the input", xs)?;
        check_finite(self.module, "the hidden state", h)?;
        let ih = self.ih.apply(self.module, xs, batch, REDUCE_RANGE)?;
        let hh = self.hh.apply(self.module, h, batch, REDUCE_RANGE)?;
        Ok((ih, hh))
    }

    fn dtype(&self) -> WeightDType {
        self.ih.weight().dtype()
    }

    fn weight(&self, name: &str) -> Option<&DynamicWeight> {
        match name {
            "weight_ih" => Some(self.ih.weight()),
            "weight_hh" => Some(self.hh.weight()),
            _ => None,
        }
    }

    fn repr(&self, extra: &str) -> String {
        let mut s = format!("{}, {}", self.input_size, self.hidden_size);
        if self.ih.bias().is_none() {
            s.push_str(", bias=False");
        }
        s.push_str(extra);
        s
    }
}

/// Rows of a state, or zeros.
fn state_or_zeros(s: Option<&ArrayView2<'_, f32>>, batch: usize, hidden: usize) -> Vec<f32> {
    match s {
        Some(s) => s.iter().copied().collect(),
        None => vec![0.0; batch * hidden],
    }
}

fn view2<'a>(module: &'static str, x: &'a ndarray::ArrayD<f32>) -> Result<ArrayView2<'a, f32>> {
    x.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| DynamicError::InputShape {
            module,
            expected: "(batch, input_size)".into(),
            got: x.shape().to_vec(),
        })
}

fn state2<'a>(
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

fn to_array(batch: usize, hidden: usize, v: Vec<f32>) -> Array2<f32> {
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

const LSTM_CELL: &str = "DynamicQuantizedLSTMCell";
const GRU_CELL: &str = "DynamicQuantizedGRUCell";
const RNN_CELL: &str = "DynamicQuantizedRNNCell";

/// One LSTM step with dynamically quantized or float16 weights (`nn.quantized.dynamic.LSTMCell`).
/// As a [`Module`], `forward` takes `x` or `(x, (h, c))` and returns `(h', c')`.
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct LSTMCell {
    core: CellCore,
    training: bool,
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

/// One GRU step with dynamically quantized or float16 weights (`nn.quantized.dynamic.GRUCell`).
/// As a [`Module`], `forward` takes `x` or `(x, h)` and returns `h'`.
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct GRUCell {
    core: CellCore,
    training: bool,
}

impl GRUCell {
    /// A cell from float weights (`3*hidden` rows; see [`LSTMCell::from_state_dict`]).
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
    /// Errors as [`LSTMCell::run`].
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

/// One Elman step `h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)` with dynamically quantized or
/// float16 weights (`nn.quantized.dynamic.RNNCell`). As a [`Module`], `forward` takes `x` or
/// `(x, h)` and returns `h'`.
#[allow(clippy::upper_case_acronyms)] // PyTorch's class name
#[derive(Debug)]
pub struct RNNCell {
    core: CellCore,
    nonlinearity: Nonlinearity,
    training: bool,
}

impl RNNCell {
    /// A cell from float weights (`hidden` rows; see [`LSTMCell::from_state_dict`]).
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

    /// `RNNCell.from_float(mod)`: a module whose class name is `RNNCell`; the nonlinearity is
    /// read from its printed form (`nonlinearity=relu`, tanh otherwise).
    pub fn from_float(float: &dyn Module, quantizer: &dyn WeightQuantizer) -> Result<RNNCell> {
        let nonlinearity = if float.extra_repr().contains("nonlinearity=relu") {
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
    /// Errors as [`LSTMCell::run`].
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
