//! The multi-layer, bidirectional driver shared by LSTM and GRU (ATen's `FullLayer` /
//! `FullBidirectionalLayer` on CPU): per layer and direction, the input-to-hidden product of the
//! whole sequence is one call (one activation quantization over the whole input, one GEMM), then
//! each time step runs the hidden-to-hidden product of the batch and the cell equations.

use ndarray::{Array3, ArrayView3, Axis};

use super::options::{RnnMode, RnnOptions};
use crate::equations::{gru_update, lstm_update, update_rows};
use crate::error::{DynamicError, Result};
use crate::input::check_finite;
use crate::packed::LinearOp;
use crate::state::{reject_unexpected, take, FloatWeights};
use crate::weight::{DynamicWeight, WeightDType, WeightQuantizer};

/// PyTorch passes `reduce_range=True` to every dynamic RNN linear (module version 2).
const REDUCE_RANGE: bool = true;

/// The packed weights of one layer in one direction.
#[derive(Debug)]
pub(crate) struct Direction {
    pub(crate) ih: LinearOp,
    pub(crate) hh: LinearOp,
}

/// A multi-layer recurrent network's packed weights.
#[derive(Debug)]
pub(crate) struct RnnCore {
    pub(crate) mode: RnnMode,
    pub(crate) opts: RnnOptions,
    /// Index `layer * num_directions + direction`.
    pub(crate) dirs: Vec<Direction>,
}

/// What one run produces, sequence-first.
pub(crate) struct RawOutput {
    /// `(seq, batch, num_directions * hidden)`.
    pub(crate) y: Array3<f32>,
    /// `(num_layers * num_directions, batch, hidden)`.
    pub(crate) h_n: Array3<f32>,
    /// LSTM only, same shape as `h_n`.
    pub(crate) c_n: Option<Array3<f32>>,
}

/// `weight_ih_l0`, `bias_hh_l1_reverse`, ...
pub(crate) fn param_name(kind: &str, ihhh: &str, layer: usize, reverse: bool) -> String {
    let suffix = if reverse { "_reverse" } else { "" };
    format!("{kind}_{ihhh}_l{layer}{suffix}")
}

impl RnnCore {
    /// The parameter names the network has, in PyTorch's order.
    pub(crate) fn names(opts: &RnnOptions) -> Vec<String> {
        let mut v = Vec::new();
        for layer in 0..opts.num_layers {
            for d in 0..opts.num_directions() {
                for kind in ["weight", "bias"] {
                    if kind == "bias" && !opts.bias {
                        continue;
                    }
                    for ihhh in ["ih", "hh"] {
                        v.push(param_name(kind, ihhh, layer, d == 1));
                    }
                }
            }
        }
        v
    }

    /// Quantizes and packs every layer's weights from float weights by PyTorch name.
    pub(crate) fn from_weights(
        mode: RnnMode,
        opts: RnnOptions,
        weights: &dyn FloatWeights,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<RnnCore> {
        let module = mode.module_name();
        opts.validate(module)?;
        reject_unexpected(module, weights, &RnnCore::names(&opts))?;
        let rows = mode.gates() * opts.hidden_size;
        let mut dirs = Vec::new();
        for layer in 0..opts.num_layers {
            for d in 0..opts.num_directions() {
                let pack = |ihhh: &str, cols: usize| -> Result<LinearOp> {
                    let wname = param_name("weight", ihhh, layer, d == 1);
                    let w = take(module, weights, &wname, &[rows, cols])?;
                    let bias = if opts.bias {
                        let bname = param_name("bias", ihhh, layer, d == 1);
                        let b = take(module, weights, &bname, &[rows])?;
                        Some(b.iter().copied().collect())
                    } else {
                        None
                    };
                    let w = DynamicWeight::from_float(module, &wname, w, quantizer)?;
                    LinearOp::new(module, &wname, w, bias)
                };
                let ih = pack("ih", opts.layer_input_size(layer))?;
                let hh = pack("hh", opts.hidden_size)?;
                dirs.push(Direction { ih, hh });
            }
        }
        Ok(RnnCore { mode, opts, dirs })
    }

    /// The weight dtype (every weight has the same).
    pub(crate) fn dtype(&self) -> WeightDType {
        self.dirs[0].ih.weight().dtype()
    }

    /// The packed linear holding parameter `name` (`weight_ih_l0`, `bias_hh_l1_reverse` ...).
    fn op(&self, name: &str) -> Option<&LinearOp> {
        let dn = self.opts.num_directions();
        self.dirs.iter().enumerate().find_map(|(i, d)| {
            let (layer, rev) = (i / dn, i % dn == 1);
            ["weight", "bias"].iter().find_map(|kind| {
                if param_name(kind, "ih", layer, rev) == name {
                    Some(&d.ih)
                } else if param_name(kind, "hh", layer, rev) == name {
                    Some(&d.hh)
                } else {
                    None
                }
            })
        })
    }

    /// The stored weight `name`.
    pub(crate) fn weight(&self, name: &str) -> Option<&DynamicWeight> {
        name.starts_with("weight_")
            .then(|| self.op(name))
            .flatten()
            .map(LinearOp::weight)
    }

    /// The float bias `name`.
    pub(crate) fn bias(&self, name: &str) -> Option<&[f32]> {
        name.starts_with("bias_")
            .then(|| self.op(name))
            .flatten()
            .and_then(LinearOp::bias)
    }

    /// The state shape `(num_layers * num_directions, batch, hidden)` for an input of
    /// `x_shape` (batch 0 if the input is not 3-D).
    pub(crate) fn state_shape(&self, x_shape: &[usize]) -> Vec<usize> {
        let batch = match (x_shape, self.opts.batch_first) {
            ([b, _, _], true) | ([_, b, _], false) => *b,
            _ => 0,
        };
        vec![
            self.opts.num_layers * self.opts.num_directions(),
            batch,
            self.opts.hidden_size,
        ]
    }

    /// Checks a state's shape `(num_layers * num_directions, batch, hidden)` and values.
    fn check_state(
        &self,
        state: &'static str,
        s: &ArrayView3<'_, f32>,
        batch: usize,
    ) -> Result<()> {
        let module = self.mode.module_name();
        let want = [
            self.opts.num_layers * self.opts.num_directions(),
            batch,
            self.opts.hidden_size,
        ];
        if s.shape() != want {
            return Err(DynamicError::StateShape {
                module,
                state,
                expected: want.to_vec(),
                got: s.shape().to_vec(),
            });
        }
        if s.iter().any(|v| !v.is_finite()) {
            return Err(DynamicError::NonFinite {
                module,
                arg: state.to_string(),
            });
        }
        Ok(())
    }

    /// Runs the network on `x` (`(seq, batch, input)`, or `(batch, seq, input)` when
    /// `batch_first`) from the initial states `h_0` (and `c_0` for LSTM), zeros if absent.
    pub(crate) fn run(
        &self,
        x: ArrayView3<'_, f32>,
        h0: Option<ArrayView3<'_, f32>>,
        c0: Option<ArrayView3<'_, f32>>,
    ) -> Result<RawOutput> {
        let module = self.mode.module_name();
        let o = &self.opts;
        let x = if o.batch_first {
            x.permuted_axes([1, 0, 2])
        } else {
            x
        };
        let (seq, batch, feat) = x.dim();
        if feat != o.input_size {
            let expected = if o.batch_first {
                format!("(batch, seq, {})", o.input_size)
            } else {
                format!("(seq, batch, {})", o.input_size)
            };
            let got = if o.batch_first {
                vec![batch, seq, feat]
            } else {
                vec![seq, batch, feat]
            };
            return Err(DynamicError::InputShape {
                module,
                expected,
                got,
            });
        }
        if batch == 0 {
            return Err(DynamicError::Empty {
                module,
                what: "batch",
                unit: "sample",
            });
        }
        if seq == 0 {
            return Err(DynamicError::Empty {
                module,
                what: "sequence",
                unit: "time step",
            });
        }
        if let Some(h) = &h0 {
            self.check_state("h_0", h, batch)?;
        }
        if let Some(c) = &c0 {
            self.check_state("c_0", c, batch)?;
        }
        let x = x.as_standard_layout();
        let xs = x.as_slice().unwrap_or_default();
        check_finite(module, "the input", xs)?;

        let (dn, hidden) = (o.num_directions(), o.hidden_size);
        let states = o.num_layers * dn;
        let zeros = || Array3::<f32>::zeros((states, batch, hidden));
        let mut h_n = h0.map_or_else(zeros, |h| h.to_owned());
        let lstm = self.mode == RnnMode::Lstm;
        let mut c_n = lstm.then(|| c0.map_or_else(zeros, |c| c.to_owned()));
        let mut layer_in: Vec<f32> = xs.to_vec();
        for layer in 0..o.num_layers {
            let width = dn * hidden;
            let mut out = vec![0.0f32; seq * batch * width];
            for d in 0..dn {
                let idx = layer * dn + d;
                let p = &self.dirs[idx];
                let proj =
                    p.ih.apply(module, &layer_in, seq * batch, REDUCE_RANGE, false)?;
                let step_len = batch * p.ih.out_features();
                let mut h = h_n
                    .index_axis(Axis(0), idx)
                    .iter()
                    .copied()
                    .collect::<Vec<_>>();
                let mut c = c_n.as_ref().map(|c| {
                    c.index_axis(Axis(0), idx)
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                });
                for step in 0..seq {
                    let t = if d == 0 { step } else { seq - 1 - step };
                    let ih = &proj[t * step_len..(t + 1) * step_len];
                    let mut hh = p.hh.apply(module, &h, batch, REDUCE_RANGE, false)?;
                    match c.as_mut() {
                        Some(c) => update_rows(&mut hh, ih, &mut h, c, hidden, 4, &|a, b, d, e| {
                            lstm_update(a, b, d, e, hidden)
                        }),
                        None => {
                            update_rows(&mut hh, ih, &mut h, &mut [], hidden, 3, &|a, b, d, _| {
                                gru_update(a, b, d, hidden)
                            })
                        }
                    }
                    for (b, hr) in h.chunks_exact(hidden).enumerate() {
                        let at = (t * batch + b) * width + d * hidden;
                        out[at..at + hidden].copy_from_slice(hr);
                    }
                }
                copy_into(&mut h_n, idx, &h);
                if let (Some(cn), Some(c)) = (c_n.as_mut(), c.as_ref()) {
                    copy_into(cn, idx, c);
                }
            }
            layer_in = out;
        }
        let y = Array3::from_shape_vec((seq, batch, dn * hidden), layer_in).map_err(|e| {
            DynamicError::Config {
                module,
                reason: format!("internal output shape: {e}"),
            }
        })?;
        let y = if o.batch_first {
            y.permuted_axes([1, 0, 2]).as_standard_layout().into_owned()
        } else {
            y
        };
        Ok(RawOutput { y, h_n, c_n })
    }
}

/// Writes `values` into `states[idx]`.
fn copy_into(states: &mut Array3<f32>, idx: usize, values: &[f32]) {
    states
        .index_axis_mut(Axis(0), idx)
        .iter_mut()
        .zip(values)
        .for_each(|(d, &v)| *d = v);
}
