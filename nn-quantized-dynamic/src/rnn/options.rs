//! [`RnnOptions`]: the constructor arguments of `nn.LSTM` / `nn.GRU`, and the printed form.

use crate::error::{DynamicError, Result};

/// Which recurrent network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RnnMode {
    /// Long short-term memory: gates `i, f, g, o` (4 x hidden rows per weight).
    Lstm,
    /// Gated recurrent unit: gates `r, z, n` (3 x hidden rows per weight).
    Gru,
}

impl RnnMode {
    /// Gate blocks per weight (4 for LSTM, 3 for GRU).
    pub const fn gates(self) -> usize {
        match self {
            RnnMode::Lstm => 4,
            RnnMode::Gru => 3,
        }
    }

    /// PyTorch's `mode` string and float class name (`"LSTM"`, `"GRU"`).
    pub const fn name(self) -> &'static str {
        match self {
            RnnMode::Lstm => "LSTM",
            RnnMode::Gru => "GRU",
        }
    }

    /// The dynamic module's printed name (`"DynamicQuantizedLSTM"`).
    pub const fn module_name(self) -> &'static str {
        match self {
            RnnMode::Lstm => "DynamicQuantizedLSTM",
            RnnMode::Gru => "DynamicQuantizedGRU",
        }
    }
}

/// The shape of a multi-layer recurrent network (`nn.LSTM(input_size, hidden_size, num_layers,
/// bias, batch_first, dropout, bidirectional)`).
///
/// ```
/// use nn_quantized_dynamic::RnnOptions;
/// let o = RnnOptions::new(8, 12).num_layers(2).bidirectional(true);
/// assert_eq!(o.num_directions(), 2);
/// assert_eq!(o.layer_input_size(1), 24);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RnnOptions {
    /// Features of the input `x`.
    pub input_size: usize,
    /// Features of the hidden state.
    pub hidden_size: usize,
    /// Stacked layers (default 1).
    pub num_layers: usize,
    /// Whether the layers have biases `b_ih` / `b_hh` (default true).
    pub bias: bool,
    /// Input and output are `(batch, seq, feature)` instead of `(seq, batch, feature)`.
    pub batch_first: bool,
    /// Kept for the printed form; dynamic modules run in inference mode and never apply it.
    pub dropout: f32,
    /// Runs every layer forwards and backwards, concatenating the two outputs.
    pub bidirectional: bool,
}

impl RnnOptions {
    /// One layer, with biases, sequence-first, unidirectional.
    pub fn new(input_size: usize, hidden_size: usize) -> RnnOptions {
        RnnOptions {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
        }
    }

    /// Sets `num_layers`.
    pub fn num_layers(mut self, n: usize) -> RnnOptions {
        self.num_layers = n;
        self
    }

    /// Sets `bias`.
    pub fn bias(mut self, bias: bool) -> RnnOptions {
        self.bias = bias;
        self
    }

    /// Sets `batch_first`.
    pub fn batch_first(mut self, batch_first: bool) -> RnnOptions {
        self.batch_first = batch_first;
        self
    }

    /// Sets `dropout` (stored only).
    pub fn dropout(mut self, p: f32) -> RnnOptions {
        self.dropout = p;
        self
    }

    /// Sets `bidirectional`.
    pub fn bidirectional(mut self, bidirectional: bool) -> RnnOptions {
        self.bidirectional = bidirectional;
        self
    }

    /// 2 if bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Input features of `layer`: `input_size` for the first, `num_directions * hidden_size`
    /// after.
    pub fn layer_input_size(&self, layer: usize) -> usize {
        if layer == 0 {
            self.input_size
        } else {
            self.hidden_size * self.num_directions()
        }
    }

    /// Errors on zero sizes or layers and a dropout outside `0..=1` (PyTorch's checks).
    pub(crate) fn validate(&self, module: &'static str) -> Result<()> {
        let bad = |reason: String| Err(DynamicError::Config { module, reason });
        if self.input_size == 0 || self.hidden_size == 0 {
            return bad(format!(
                "input_size and hidden_size must be positive, got {} and {}",
                self.input_size, self.hidden_size
            ));
        }
        if self.num_layers == 0 {
            return bad("num_layers must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.dropout) {
            return bad(format!(
                "dropout should be a number in range [0, 1], got {}",
                self.dropout
            ));
        }
        Ok(())
    }

    /// PyTorch's `extra_repr`: `"8, 12, num_layers=2, bidirectional=True"`.
    pub fn repr(&self) -> String {
        let mut s = format!("{}, {}", self.input_size, self.hidden_size);
        if self.num_layers != 1 {
            s.push_str(&format!(", num_layers={}", self.num_layers));
        }
        if !self.bias {
            s.push_str(", bias=False");
        }
        if self.batch_first {
            s.push_str(", batch_first=True");
        }
        if self.dropout != 0.0 {
            s.push_str(&format!(", dropout={}", self.dropout));
        }
        if self.bidirectional {
            s.push_str(", bidirectional=True");
        }
        s
    }
}
