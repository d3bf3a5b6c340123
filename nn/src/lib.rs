//! Float neural networks (`torch.nn`): tensors with autograd, the module tree, layers,
//! functional ops, losses, optimizers and weight loading.
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.Tensor` (float32), autograd, `torch.no_grad` | [`Tensor`], [`no_grad`], [`gradcheck()`] |
//! | `torch.manual_seed` | [`manual_seed`] |
//! | `torch.set_num_threads` | [`set_num_threads`] |

mod error;
pub mod gradcheck;
pub(crate) mod kernels;
mod rng;
mod tensor;

pub use error::{NnError, Result, FIX_DEQUANT, FIX_FUNCTIONAL, FIX_QUANT};
pub use gradcheck::{gradcheck, GradCheckOptions, GradCheckReport};
pub use kernels::gemm::{get_num_threads, set_num_threads};
pub use rng::{manual_seed, Rng};
pub use tensor::{is_grad_enabled, no_grad, NoGradGuard, Tensor};
