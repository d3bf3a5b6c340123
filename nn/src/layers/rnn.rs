//! `nn.LSTM`, `nn.GRU`, `nn.RNN` (layers, bidirectional, batch_first, dropout) and the cells
//! `nn.LSTMCell`, `nn.GRUCell`, `nn.RNNCell`, with PyTorch's parameter names.

use super::rnn_fused::{run_direction, Direction, PackedLayer};
use crate::error::{NnError, Result};
use crate::functional::{self as F, CellKind, HiddenWeights};
use crate::layers::repr;
use crate::module::{Module, Value};
use crate::tensor::Tensor;

/// Sizes and options of a recurrent layer stack (PyTorch's constructor arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct RnnConfig {
    /// Features of the input.
    pub input_size: usize,
    /// Features of the hidden state.
    pub hidden_size: usize,
    /// Stacked layers (1).
    pub num_layers: usize,
    /// Bias weights (true).
    pub bias: bool,
    /// Input and output as `(batch, seq, feature)` (false).
    pub batch_first: bool,
    /// Dropout between layers in training (0).
    pub dropout: f64,
    /// Run each layer in both directions (false).
    pub bidirectional: bool,
}

impl RnnConfig {
    /// PyTorch's defaults for these sizes.
    pub fn new(input_size: usize, hidden_size: usize) -> RnnConfig {
        RnnConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
        }
    }

    /// Sets the number of layers.
    pub fn num_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }

    /// Sets bidirectional.
    pub fn bidirectional(mut self, b: bool) -> Self {
        self.bidirectional = b;
        self
    }

    /// Sets batch_first.
    pub fn batch_first(mut self, b: bool) -> Self {
        self.batch_first = b;
        self
    }

    /// Sets bias.
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }

    /// Sets the dropout between layers.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
}

/// The weights of one direction of one layer.
#[derive(Clone)]
pub struct RnnLayerWeights {
    /// `weight_ih_l{k}`: `(gates * H, input)`.
    pub weight_ih: Tensor,
    /// `weight_hh_l{k}`: `(gates * H, H)`.
    pub weight_hh: Tensor,
    /// `bias_ih_l{k}`: `(gates * H)`.
    pub bias_ih: Option<Tensor>,
    /// `bias_hh_l{k}`: `(gates * H)`.
    pub bias_hh: Option<Tensor>,
}

fn uniform_param(shape: &[usize], hidden: usize) -> Tensor {
    let k = if hidden > 0 {
        1.0 / (hidden as f32).sqrt()
    } else {
        0.0
    };
    Tensor::parameter(Tensor::rand_uniform(shape, -k, k).to_array())
}

fn new_weights(kind: CellKind, input: usize, hidden: usize, bias: bool) -> RnnLayerWeights {
    let g = kind.gates() * hidden;
    RnnLayerWeights {
        weight_ih: uniform_param(&[g, input], hidden),
        weight_hh: uniform_param(&[g, hidden], hidden),
        bias_ih: bias.then(|| uniform_param(&[g], hidden)),
        bias_hh: bias.then(|| uniform_param(&[g], hidden)),
    }
}

/// The shared implementation of [`LSTM`], [`GRU`] and [`RNN`].
pub struct RnnCore {
    /// The recurrence.
    pub kind: CellKind,
    /// Sizes and options.
    pub config: RnnConfig,
    /// Weights, layer-major then direction (`l0`, `l0_reverse`, `l1`, ...).
    pub layers: Vec<RnnLayerWeights>,
    training: bool,
    /// Weights packed for the inference path, per entry of `layers`, kept while unchanged.
    packed: Vec<Option<PackedLayer>>,
}

impl RnnCore {
    fn new(kind: CellKind, config: RnnConfig, name: &str) -> Result<RnnCore> {
        if config.num_layers == 0 || config.hidden_size == 0 {
            return Err(NnError::bad_arg(
                name,
                "hidden_size and num_layers must be positive",
            ));
        }
        if !(0.0..=1.0).contains(&config.dropout) {
            return Err(NnError::bad_arg(name, "dropout must be in [0, 1]"));
        }
        let dirs = if config.bidirectional { 2 } else { 1 };
        let mut layers = Vec::new();
        for l in 0..config.num_layers {
            let input = if l == 0 {
                config.input_size
            } else {
                config.hidden_size * dirs
            };
            for _ in 0..dirs {
                layers.push(new_weights(kind, input, config.hidden_size, config.bias));
            }
        }
        Ok(RnnCore {
            kind,
            config,
            layers,
            training: true,
            packed: Vec::new(),
        })
    }

    fn directions(&self) -> usize {
        if self.config.bidirectional {
            2
        } else {
            1
        }
    }

    fn params(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for (i, w) in self.layers.iter().enumerate() {
            let (l, d) = (i / self.directions(), i % self.directions());
            let sfx = if d == 1 { "_reverse" } else { "" };
            v.push((format!("weight_ih_l{l}{sfx}"), w.weight_ih.clone()));
            v.push((format!("weight_hh_l{l}{sfx}"), w.weight_hh.clone()));
            if let (Some(bi), Some(bh)) = (&w.bias_ih, &w.bias_hh) {
                v.push((format!("bias_ih_l{l}{sfx}"), bi.clone()));
                v.push((format!("bias_hh_l{l}{sfx}"), bh.clone()));
            }
        }
        v
    }

    fn forward(&mut self, name: &str, input: Value) -> Result<Value> {
        let lstm = self.kind == CellKind::Lstm;
        let (x, h0, c0) = split_input(name, input, lstm)?;
        let cfg = self.config.clone();
        let (dirs, hid) = (self.directions(), cfg.hidden_size);
        let xs = x.shape();
        let batched = xs.len() == 3;
        if !(xs.len() == 2 || batched) || xs[xs.len() - 1] != cfg.input_size {
            let exp = if cfg.batch_first {
                format!("(N, L, {}) or (L, {0})", cfg.input_size)
            } else {
                format!("(L, N, {}) or (L, {0})", cfg.input_size)
            };
            return Err(NnError::input_shape(name, exp, &xs));
        }
        // Work in (seq, batch, feature).
        let x = if !batched {
            x.unsqueeze(1)?
        } else if cfg.batch_first {
            x.transpose(0, 1)?
        } else {
            x
        };
        let batch = x.shape()[1];
        if x.shape()[0] == 0 {
            // PyTorch: "Expected sequence length to be larger than 0 in RNN".
            return Err(NnError::bad_arg(name, "sequence length must be positive"));
        }
        let state_shape = [cfg.num_layers * dirs, batch, hid];
        let prep = |s: Option<Tensor>, what: &str| -> Result<Tensor> {
            match s {
                None => Ok(Tensor::zeros(&state_shape)),
                Some(s) => {
                    let s = if batched { s } else { s.unsqueeze(1)? };
                    if s.shape() != state_shape {
                        return Err(NnError::input_shape(
                            name,
                            format!(
                                "{what} of shape {:?}",
                                if batched {
                                    state_shape.to_vec()
                                } else {
                                    vec![state_shape[0], hid]
                                }
                            ),
                            &s.shape(),
                        ));
                    }
                    Ok(s)
                }
            }
        };
        let h0 = prep(h0, "h0")?;
        let c0 = if lstm { Some(prep(c0, "c0")?) } else { None };
        let fused = if self.inference_only(&x, &h0, c0.as_ref()) {
            self.forward_fused(&x, &h0, c0.as_ref())?
        } else {
            None
        };
        let (layer_in, h_n, c_n) = match fused {
            Some(r) => r,
            None => self.forward_graph(name, x, &h0, c0.as_ref())?,
        };
        let fix = |t: Tensor| -> Result<Tensor> {
            if batched {
                Ok(t)
            } else {
                t.squeeze_dim(1)
            }
        };
        let output = if !batched {
            layer_in.squeeze_dim(1)?
        } else if cfg.batch_first {
            layer_in.transpose(0, 1)?
        } else {
            layer_in
        };
        let h_n = fix(h_n)?;
        Ok(match c_n {
            Some(c_n) => Value::Tuple(vec![
                Value::Float(output),
                Value::Tuple(vec![Value::Float(h_n), Value::Float(fix(c_n)?)]),
            ]),
            None => Value::Tuple(vec![Value::Float(output), Value::Float(h_n)]),
        })
    }

    /// True when no gradient can flow through this call and no graph is being traced: the
    /// fused inference path then gives the same values without building a graph.
    fn inference_only(&self, x: &Tensor, h0: &Tensor, c0: Option<&Tensor>) -> bool {
        if crate::trace::is_tracing() {
            return false;
        }
        if !crate::tensor::is_grad_enabled() {
            return true;
        }
        let weights = self.layers.iter().flat_map(|w| {
            [
                Some(&w.weight_ih),
                Some(&w.weight_hh),
                w.bias_ih.as_ref(),
                w.bias_hh.as_ref(),
            ]
        });
        !(x.requires_grad()
            || h0.requires_grad()
            || c0.is_some_and(Tensor::requires_grad)
            || weights.flatten().any(Tensor::requires_grad))
    }

    /// The stack without autograd (see [`rnn_fused`](super::rnn_fused)) on `x (T, B, F)`;
    /// `None` when the weights do not have the shapes of the configuration (the graph path
    /// then reports the error).
    fn forward_fused(
        &mut self,
        x: &Tensor,
        h0: &Tensor,
        c0: Option<&Tensor>,
    ) -> Result<Option<(Tensor, Tensor, Option<Tensor>)>> {
        let cfg = &self.config;
        let (dirs, hid) = (self.directions(), cfg.hidden_size);
        let (t_len, batch) = (x.shape()[0], x.shape()[1]);
        if self.layers.len() != cfg.num_layers * dirs {
            return Ok(None);
        }
        let mut cache = std::mem::take(&mut self.packed);
        cache.resize_with(self.layers.len(), || None);
        let mut packed = Vec::with_capacity(self.layers.len());
        for (w, c) in self.layers.iter().zip(cache.iter_mut()) {
            match PackedLayer::refresh(c.take(), self.kind, hid, w) {
                Some(p) => packed.push(p),
                None => return Ok(None),
            }
        }
        let (h0d, c0d) = (h0.to_vec(), c0.map(Tensor::to_vec));
        let state = |s: &[f32], i: usize| -> Vec<f32> {
            s[i * batch * hid..(i + 1) * batch * hid].to_vec()
        };
        let threads = crate::get_num_threads();
        let mut layer_in: Vec<f32> = x.to_vec();
        let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
        for l in 0..cfg.num_layers {
            let width = dirs * hid;
            let mut out = vec![0.0f32; t_len * batch * width];
            for d in 0..dirs {
                let p = &packed[l * dirs + d];
                if p.input() * t_len * batch != layer_in.len() {
                    self.packed = packed.into_iter().map(Some).collect();
                    return Ok(None);
                }
                let (h, c) = (
                    state(&h0d, l * dirs + d),
                    c0d.as_ref().map(|c| state(c, l * dirs + d)),
                );
                let dir = Direction {
                    x: &layer_in,
                    t_len,
                    batch,
                    h0: &h,
                    c0: c.as_deref(),
                    reverse: d == 1,
                    threads,
                };
                let (hn, cn) = run_direction(p, &dir, (&mut out, width, d * hid));
                h_n.extend(hn);
                c_n.extend(cn);
            }
            if self.training && cfg.dropout > 0.0 && l + 1 < cfg.num_layers {
                let t = Tensor::from_vec(&[t_len, batch, width], out)?;
                out = F::dropout(&t, cfg.dropout as f32, true)?.to_vec();
            }
            layer_in = out;
        }
        self.packed = packed.into_iter().map(Some).collect();
        let shape = [cfg.num_layers * dirs, batch, hid];
        let output = Tensor::from_vec(&[t_len, batch, dirs * hid], layer_in)?;
        let h_n = Tensor::from_vec(&shape, h_n)?;
        let c_n = match c0 {
            Some(_) => Some(Tensor::from_vec(&shape, c_n)?),
            None => None,
        };
        Ok(Some((output, h_n, c_n)))
    }

    /// The stack composed from differentiable ops, step by step, on `x (T, B, F)`.
    fn forward_graph(
        &self,
        name: &str,
        x: Tensor,
        h0: &Tensor,
        c0: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let cfg = &self.config;
        let (dirs, hid) = (self.directions(), cfg.hidden_size);
        let (t_len, batch) = (x.shape()[0], x.shape()[1]);
        let mut layer_in = x;
        let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
        for l in 0..cfg.num_layers {
            let mut outs = Vec::new();
            for d in 0..dirs {
                let w = self.layers.get(l * dirs + d).ok_or_else(|| {
                    NnError::bad_arg(name, "fewer layer weights than num_layers * directions")
                })?;
                let idx = (l * dirs + d) as isize;
                let feat = layer_in.shape()[2];
                let xw = F::linear(
                    &layer_in.reshape(&[(t_len * batch) as isize, feat as isize])?,
                    &w.weight_ih,
                    w.bias_ih.as_ref(),
                )?;
                let xw = xw.reshape(&[t_len as isize, batch as isize, -1])?;
                let mut h = h0.narrow(0, idx as usize, 1)?.squeeze_dim(0)?;
                let mut c = match c0 {
                    Some(c0) => Some(c0.narrow(0, idx as usize, 1)?.squeeze_dim(0)?),
                    None => None,
                };
                let mut steps = vec![None; t_len];
                let order: Vec<usize> = if d == 0 {
                    (0..t_len).collect()
                } else {
                    (0..t_len).rev().collect()
                };
                for t in order {
                    let xt = xw.narrow(0, t, 1)?.squeeze_dim(0)?;
                    let hh = HiddenWeights {
                        weight: &w.weight_hh,
                        bias: w.bias_hh.as_ref(),
                    };
                    let (hn, cn) = F::cell_step(self.kind, &xt, &h, c.as_ref(), hh)?;
                    steps[t] = Some(hn.clone());
                    h = hn;
                    c = cn;
                }
                let steps: Vec<Tensor> = steps
                    .into_iter()
                    .map(|s| s.expect("every step ran"))
                    .collect();
                outs.push(if steps.is_empty() {
                    Tensor::zeros(&[0, batch, hid])
                } else {
                    Tensor::stack(&steps, 0)?
                });
                h_n.push(h);
                c_n.extend(c);
            }
            let mut out = if outs.len() == 1 {
                outs.pop().expect("one")
            } else {
                Tensor::cat(&outs, 2)?
            };
            if self.training && cfg.dropout > 0.0 && l + 1 < cfg.num_layers {
                out = F::dropout(&out, cfg.dropout as f32, true)?;
            }
            layer_in = out;
        }
        let h_n = Tensor::stack(&h_n, 0)?;
        let c_n = if c0.is_some() {
            Some(Tensor::stack(&c_n, 0)?)
        } else {
            None
        };
        Ok((layer_in, h_n, c_n))
    }

    fn extra_repr(&self) -> String {
        let c = &self.config;
        let mut s = format!("{}, {}", c.input_size, c.hidden_size);
        if c.num_layers != 1 {
            s += &format!(", num_layers={}", c.num_layers);
        }
        if !c.bias {
            s += ", bias=False";
        }
        if c.batch_first {
            s += ", batch_first=True";
        }
        if c.dropout != 0.0 {
            s += &format!(", dropout={}", repr::float(c.dropout));
        }
        if c.bidirectional {
            s += ", bidirectional=True";
        }
        if self.kind == CellKind::RnnRelu {
            s += ", nonlinearity='relu'";
        }
        s
    }
}

/// `x`, or `(x, h0)`, or for LSTM `(x, (h0, c0))`.
fn split_input(
    name: &str,
    input: Value,
    lstm: bool,
) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
    match input {
        Value::Tuple(v) if v.len() == 2 => {
            let mut it = v.into_iter();
            let x = it.next().expect("two").into_float(name)?;
            let state = it.next().expect("two");
            if lstm {
                let hc = state.into_tuple(name)?;
                if hc.len() != 2 {
                    return Err(NnError::WrongValue {
                        module: name.into(),
                        expected: "a state tuple (h0, c0)",
                        got: "a tuple of another length",
                    });
                }
                let mut it = hc.into_iter();
                let h = it.next().expect("two").into_float(name)?;
                let c = it.next().expect("two").into_float(name)?;
                Ok((x, Some(h), Some(c)))
            } else {
                Ok((x, Some(state.into_float(name)?), None))
            }
        }
        Value::Tuple(_) => Err(NnError::WrongValue {
            module: name.into(),
            expected: "an input or a tuple (input, state)",
            got: "a tuple of another length",
        }),
        other => Ok((other.into_float(name)?, None, None)),
    }
}

macro_rules! rnn_module {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        ///
        /// `forward` takes `x` or `(x, state)` and returns `(output, h_n)` — for LSTM
        /// `(output, (h_n, c_n))` — as a [`Value::Tuple`], like PyTorch. Parameters
        /// `weight_ih_l{k}[_reverse]`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`.
        pub struct $name(pub RnnCore);

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                self.0.forward(stringify!($name), input)
            }
            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                self.0.params()
            }
            fn extra_repr(&self) -> String {
                self.0.extra_repr()
            }
            fn is_training(&self) -> bool {
                self.0.training
            }
            fn set_training_flag(&mut self, training: bool) {
                self.0.training = training;
            }
        }
    };
}

rnn_module!(
    LSTM,
    "Long short-term memory layers (`nn.LSTM`); gates ordered (i, f, g, o)."
);
rnn_module!(
    GRU,
    "Gated recurrent unit layers (`nn.GRU`); gates ordered (r, z, n)."
);
rnn_module!(RNN, "Elman RNN layers with tanh or relu (`nn.RNN`).");

impl LSTM {
    /// `nn.LSTM(input_size, hidden_size, ...)`, weights uniform in `±1/sqrt(hidden_size)`.
    pub fn new(config: RnnConfig) -> Result<LSTM> {
        Ok(LSTM(RnnCore::new(CellKind::Lstm, config, "LSTM")?))
    }
}

impl GRU {
    /// `nn.GRU(input_size, hidden_size, ...)`, weights uniform in `±1/sqrt(hidden_size)`.
    pub fn new(config: RnnConfig) -> Result<GRU> {
        Ok(GRU(RnnCore::new(CellKind::Gru, config, "GRU")?))
    }
}

impl RNN {
    /// `nn.RNN(input_size, hidden_size, nonlinearity=tanh|relu, ...)`.
    pub fn new(config: RnnConfig, relu: bool) -> Result<RNN> {
        let kind = if relu {
            CellKind::RnnRelu
        } else {
            CellKind::RnnTanh
        };
        Ok(RNN(RnnCore::new(kind, config, "RNN")?))
    }
}

/// The shared implementation of the cells.
pub struct CellCore {
    /// The recurrence.
    pub kind: CellKind,
    /// Input features.
    pub input_size: usize,
    /// Hidden features.
    pub hidden_size: usize,
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub weights: RnnLayerWeights,
    training: bool,
}

impl CellCore {
    fn new(
        kind: CellKind,
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        name: &str,
    ) -> Result<CellCore> {
        if hidden_size == 0 {
            return Err(NnError::bad_arg(name, "hidden_size must be positive"));
        }
        Ok(CellCore {
            kind,
            input_size,
            hidden_size,
            weights: new_weights(kind, input_size, hidden_size, bias),
            training: true,
        })
    }

    fn forward(&mut self, name: &str, input: Value) -> Result<Value> {
        let lstm = self.kind == CellKind::Lstm;
        let (x, h, c) = split_input(name, input, lstm)?;
        let xs = x.shape();
        if !(xs.len() == 1 || xs.len() == 2) || xs[xs.len() - 1] != self.input_size {
            return Err(NnError::input_shape(
                name,
                format!("(N, {}) or ({0})", self.input_size),
                &xs,
            ));
        }
        let batched = xs.len() == 2;
        let x = if batched { x } else { x.unsqueeze(0)? };
        let b = x.shape()[0];
        let state = |s: Option<Tensor>| -> Result<Tensor> {
            match s {
                None => Ok(Tensor::zeros(&[b, self.hidden_size])),
                Some(s) => {
                    let s = if batched { s } else { s.unsqueeze(0)? };
                    if s.shape() != [b, self.hidden_size] {
                        return Err(NnError::input_shape(
                            name,
                            format!("state of shape ({b}, {})", self.hidden_size),
                            &s.shape(),
                        ));
                    }
                    Ok(s)
                }
            }
        };
        let h = state(h)?;
        let c = if lstm { Some(state(c)?) } else { None };
        let w = &self.weights;
        let xw = F::linear(&x, &w.weight_ih, w.bias_ih.as_ref())?;
        let (h, c) = F::cell_step(
            self.kind,
            &xw,
            &h,
            c.as_ref(),
            HiddenWeights {
                weight: &w.weight_hh,
                bias: w.bias_hh.as_ref(),
            },
        )?;
        let fix = |t: Tensor| if batched { Ok(t) } else { t.squeeze_dim(0) };
        Ok(match c {
            Some(c) => Value::Tuple(vec![Value::Float(fix(h)?), Value::Float(fix(c)?)]),
            None => Value::Float(fix(h)?),
        })
    }

    fn params(&self) -> Vec<(String, Tensor)> {
        let w = &self.weights;
        let mut v = vec![
            ("weight_ih".to_string(), w.weight_ih.clone()),
            ("weight_hh".to_string(), w.weight_hh.clone()),
        ];
        if let (Some(bi), Some(bh)) = (&w.bias_ih, &w.bias_hh) {
            v.push(("bias_ih".into(), bi.clone()));
            v.push(("bias_hh".into(), bh.clone()));
        }
        v
    }

    fn extra_repr(&self) -> String {
        let mut s = format!("{}, {}", self.input_size, self.hidden_size);
        if self.weights.bias_ih.is_none() {
            s += ", bias=False";
        }
        if self.kind == CellKind::RnnRelu {
            s += ", nonlinearity=relu";
        }
        s
    }
}

macro_rules! cell_module {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Parameters `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
        pub struct $name(pub CellCore);

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                self.0.forward(stringify!($name), input)
            }
            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                self.0.params()
            }
            fn extra_repr(&self) -> String {
                self.0.extra_repr()
            }
            fn is_training(&self) -> bool {
                self.0.training
            }
            fn set_training_flag(&mut self, training: bool) {
                self.0.training = training;
            }
        }
    };
}

cell_module!(
    LSTMCell,
    "One LSTM step (`nn.LSTMCell`): `x` or `(x, (h, c))` to `(h', c')`."
);
cell_module!(
    GRUCell,
    "One GRU step (`nn.GRUCell`): `x` or `(x, h)` to `h'`."
);
cell_module!(
    RNNCell,
    "One Elman RNN step (`nn.RNNCell`): `x` or `(x, h)` to `h'`."
);

impl LSTMCell {
    /// `nn.LSTMCell(input_size, hidden_size, bias)`.
    pub fn new(input_size: usize, hidden_size: usize, bias: bool) -> Result<LSTMCell> {
        Ok(LSTMCell(CellCore::new(
            CellKind::Lstm,
            input_size,
            hidden_size,
            bias,
            "LSTMCell",
        )?))
    }
}

impl GRUCell {
    /// `nn.GRUCell(input_size, hidden_size, bias)`.
    pub fn new(input_size: usize, hidden_size: usize, bias: bool) -> Result<GRUCell> {
        Ok(GRUCell(CellCore::new(
            CellKind::Gru,
            input_size,
            hidden_size,
            bias,
            "GRUCell",
        )?))
    }
}

impl RNNCell {
    /// `nn.RNNCell(input_size, hidden_size, bias, nonlinearity=tanh|relu)`.
    pub fn new(input_size: usize, hidden_size: usize, bias: bool, relu: bool) -> Result<RNNCell> {
        let kind = if relu {
            CellKind::RnnRelu
        } else {
            CellKind::RnnTanh
        };
        Ok(RNNCell(CellCore::new(
            kind,
            input_size,
            hidden_size,
            bias,
            "RNNCell",
        )?))
    }
}
