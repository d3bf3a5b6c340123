//! Float neural networks (`torch.nn`): tensors with autograd, the module tree, layers,
//! functional ops, losses, optimizers and weight loading.
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.Tensor` (float32), autograd, `torch.no_grad` | [`Tensor`], [`no_grad`], [`gradcheck()`] |
//! | `nn.Module` | [`Module`] (trait), [`Value`] flowing through `forward`, [`Child`] slots |
//! | a user's `nn.Module` subclass | `#[derive(Module)]` + `impl Forward` |
//! | `nn.Sequential`, `nn.ModuleList`, `nn.ModuleDict` | [`Sequential`], [`ModuleList`], [`ModuleDict`] |
//! | `nn.Linear`, `nn.Conv2d`, `nn.BatchNorm2d`, `nn.ReLU`, pools, `nn.Flatten`, `nn.Dropout`, `nn.Identity`, `QuantStub`, `DeQuantStub`, `FloatFunctional` | [`layers`] (re-exported at the root) |
//! | `torch.nn.functional` | [`functional`] |
//! | quantized tensors through float modules (`ReLU`, `MaxPool2d` ...) | [`quant_ops`] |
//! | `state_dict`, `load_state_dict`, safetensors `save_file` / `load_file` | [`Module::state_dict`], [`Module::load_state_dict`], [`StateDict`] |
//! | `F.cross_entropy`, `F.mse_loss` | [`functional::cross_entropy`], [`functional::mse_loss`] |
//! | `torch.optim.SGD`, `torch.optim.Adam` | [`optim::Sgd`], [`optim::Adam`] |
//! | the digits data set (examples, tests) | [`data`] |
//! | `torch.manual_seed` | [`manual_seed`] |
//! | the hooks `torch.fx`'s tracer relies on | [`trace`] |
//! | `torch.set_num_threads` | [`set_num_threads`] |
//!
//! A user's model is a struct: children in [`Child`] slots, parameters as [`Tensor`] fields,
//! the forward in an [`Forward`] impl. Passes reach the children by name and swap them in place.
//!
//! ```
//! use nn::prelude::*;
//! use nn::{Conv2d, FloatFunctional, Forward, Linear, ReLU};
//!
//! #[derive(Module)]
//! struct Net {
//!     conv: Child,
//!     relu: Child,
//!     skip: Child,
//!     fc: Child,
//! }
//!
//! impl Forward for Net {
//!     fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
//!         let y = self.relu.forward(self.conv.forward(x.clone())?)?;
//!         let x = self.skip.add(x, y)?; // residual add through FloatFunctional
//!         self.fc.forward(x.flatten(1)?)
//!     }
//! }
//!
//! # fn main() -> nn::Result<()> {
//! let mut net = Net {
//!     conv: Child::new(Conv2d::from_config(nn::ConvConfig::new(2, 2, &[3, 3]).padding(1))?),
//!     relu: Child::new(ReLU::new()),
//!     skip: Child::new(FloatFunctional::new()),
//!     fc: Child::new(Linear::new(2 * 4 * 4, 3, true)),
//! };
//! let y = net.forward(Value::Float(Tensor::randn(&[5, 2, 4, 4])))?;
//! assert_eq!(y.shape(), Some(vec![5, 3]));
//! assert_eq!(net.state_dict().keys()[..2], ["conv.weight", "conv.bias"]);
//! // A quantized tensor reaching a float module is a typed error naming the path and the fix.
//! let q = qtensor::quantize_per_tensor(Tensor::randn(&[1, 2, 4, 4]).to_array().view(), 0.1, 0, qtensor::QDType::QInt8)?;
//! let err = net.forward(Value::Quant(q)).unwrap_err();
//! assert_eq!(err.module_path(), Some("conv"));
//! assert!(err.to_string().contains("insert a DeQuantStub before it"));
//! // Swap a child in place, as fuse / prepare / convert do.
//! let old = net.replace_submodule("relu", Box::new(nn::Identity::new()))?;
//! assert_eq!(old.type_name(), "ReLU");
//! # Ok(())
//! # }
//! ```

extern crate self as nn;

mod containers;
pub mod data;
mod error;
pub mod functional;
pub mod gradcheck;
pub(crate) mod kernels;
pub mod layers;
pub mod module;
pub mod optim;
pub mod quant_ops;
mod rng;
mod state_dict;
mod tensor;
pub mod trace;

pub use containers::{ModuleDict, ModuleList, Sequential};
pub use error::{NnError, Result, FIX_DEQUANT, FIX_FUNCTIONAL, FIX_QUANT};
pub use gradcheck::{gradcheck, GradCheckOptions, GradCheckReport};
pub use layers::*;
pub use module::{
    join, transactional, Buffer, Child, Forward, FunctionalExt, IntTensor, Method, Module,
    ModuleCast, Value,
};
pub use nn_derive::Module;
/// The workspace's thread count (`torch.set_num_threads` / `get_num_threads`): float layers and
/// int8 kernels share one pool.
pub use qtensor::threads::{num_threads as get_num_threads, set_num_threads};
pub use rng::{manual_seed, Rng};
pub use state_dict::{LoadReport, StateDict, StateTensor};
pub use tensor::{is_grad_enabled, no_grad, NoGradGuard, Tensor};

/// The names a model definition needs: `use nn::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Buffer, Child, FunctionalExt, IntTensor, Method, Module, NnError, Sequential, Tensor, Value,
    };
}
