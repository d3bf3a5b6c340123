//! Saving and loading quantized models (what `torch.save(qmodel.state_dict())` /
//! `qmodel.load_state_dict(...)` do for a converted model), engine-independent.
//!
//! | PyTorch | here |
//! |---|---|
//! | a quantized module's `_save_to_state_dict` / `_load_from_state_dict` | [`QuantizedState`] (implemented by every quantized module) |
//! | `qmodel.state_dict()` | [`quantized_state_dict`] -> [`QuantizedStateDict`] |
//! | `qmodel.load_state_dict(sd)` | [`load_quantized_state_dict`] |
//! | `torch.save(qmodel.state_dict(), f)` / `torch.load` + `load_state_dict` | [`save_quantized`] / [`load_quantized`] |
//!
//! Names are PyTorch's: `conv1.weight` (a quantized tensor: int8 values with their scale(s),
//! zero point(s) and axis), `conv1.bias` (float32), `conv1.scale`, `conv1.zero_point` (the
//! output's parameters), `quant.scale`, `quant.zero_point`, batch-norm statistics ... and the
//! parameters and buffers of any float module left in the model. The file is safetensors
//! with a metadata header (format version, per tensor its dtype, scheme, axis and CRC-32; the
//! layout is in [`QuantizedStateDict::to_safetensors`]).
//!
//! Loading goes into a model prepared and converted the same way (same architecture, any
//! engine): the weights are packed again for the current engine, so outputs equal the saved
//! model's bit for bit on the same engine. Everything is validated before anything changes.
//!
//! Architecture hyper-parameters (stride, padding, groups, `eps`, the `Quantize` dtype, RNN
//! options ...) come from the model, as in PyTorch: they are not in the state. Modules are
//! found through a registry of types (this crate's, the fused ones of `nn-intrinsic` and the
//! dynamic ones of `nn-quantized-dynamic` register themselves); a quantized module type of
//! your own must implement [`QuantizedState`] and call [`register_quantized_state`], or its
//! state is not saved.
//!
//! Differences from PyTorch: output scales are stored as float64 (PyTorch writes float32
//! tensors; float64 keeps them exact); quantized `Linear` stores `weight` / `bias` directly
//! rather than under `_packed_params._packed_params`, the embeddings `weight` rather than
//! `_packed_params._packed_weight`, and the dynamic recurrent modules the float modules' names
//! (`weight_ih_l0` ...) rather than `_all_weight_values.*`; quantized batch norms have no
//! `num_batches_tracked`; the files are safetensors, not pickles, and record module types,
//! which are checked on load.
//!
//! ```
//! use nn::prelude::*;
//! use nn_quantized::state::{load_quantized_state_dict, quantized_state_dict, QuantizedStateDict};
//! use nn_quantized::{DeQuantize, Linear, Quantize};
//! use qtensor::{quantize_per_tensor, QDType};
//!
//! #[derive(Module)]
//! struct Net { quant: Child, fc: Child, dequant: Child }
//! impl nn::Forward for Net {
//!     fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
//!         let x = self.fc.forward(self.quant.forward(x)?)?;
//!         self.dequant.forward(x)
//!     }
//! }
//! fn net(w: f32, scale: f64) -> Net {
//!     let weight = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2, 3]), w);
//!     let qw = quantize_per_tensor(weight.view(), 0.01, 0, QDType::QInt8).unwrap();
//!     Net {
//!         quant: Child::new(Quantize::new(scale, 128, QDType::QUInt8).unwrap()),
//!         fc: Child::new(Linear::new(&qw, Some(&[0.5, -0.5]), 0.1, 64).unwrap()),
//!         dequant: Child::new(DeQuantize::new()),
//!     }
//! }
//! let saved = net(0.3, 0.02);
//! let sd = quantized_state_dict(&saved).unwrap();
//! assert_eq!(sd.keys(), ["quant.scale", "quant.zero_point", "fc.weight", "fc.bias", "fc.scale", "fc.zero_point"]);
//! let bytes = sd.to_safetensors().unwrap();
//!
//! let mut other = net(-0.2, 0.05); // same architecture, other values
//! load_quantized_state_dict(&mut other, &QuantizedStateDict::from_safetensors(&bytes).unwrap()).unwrap();
//! assert_eq!(quantized_state_dict(&other).unwrap(), sd);
//! ```

mod crc;
mod dict;
mod error;
mod file;
mod model;
mod module_state;
mod registry;
mod value;

pub use dict::QuantizedStateDict;
pub use error::{Mismatch, StateError};
pub use file::{FORMAT_NAME, FORMAT_VERSION};
pub use model::{load_quantized, load_quantized_state_dict, quantized_state_dict, save_quantized};
pub use module_state::{check_local_state, QuantizedState, StagedState};
pub(crate) use module_state::{
    commit_replacement, out_qparams, read_out_qparams, read_weight, rejected, weight_entries,
};
pub use registry::{as_quantized_state, as_quantized_state_mut, register_quantized_state};
pub use value::{QStateTensor, StateDType, TensorSpec};
