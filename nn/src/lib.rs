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
//! | `torch.set_num_threads` | [`set_num_threads`] |

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

pub use containers::{ModuleDict, ModuleList, Sequential};
pub use error::{NnError, Result, FIX_DEQUANT, FIX_FUNCTIONAL, FIX_QUANT};
pub use gradcheck::{gradcheck, GradCheckOptions, GradCheckReport};
pub use kernels::gemm::{get_num_threads, set_num_threads};
pub use layers::*;
pub use module::{
    join, transactional, Buffer, Child, Forward, FunctionalExt, IntTensor, Method, Module,
    ModuleCast, Value,
};
pub use nn_derive::Module;
pub use rng::{manual_seed, Rng};
pub use state_dict::{LoadReport, StateDict, StateTensor};
pub use tensor::{is_grad_enabled, no_grad, NoGradGuard, Tensor};

/// The names a model definition needs: `use nn::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Buffer, Child, FunctionalExt, IntTensor, Method, Module, NnError, Sequential, Tensor, Value,
    };
}
