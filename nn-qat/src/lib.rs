//! Quantization-aware training modules (`torch.ao.nn.qat`): float layers whose weight passes
//! through a fake-quant module on every forward, trained through it with the ordinary `nn`
//! autograd and optimizers.
//!
//! | PyTorch | here |
//! |---|---|
//! | `nnqat.Linear` | [`Linear`] |
//! | `nnqat.Conv1d`, `Conv2d`, `Conv3d` | [`Conv1d`], [`Conv2d`], [`Conv3d`] |
//! | `nnqat.Embedding`, `nnqat.EmbeddingBag` | [`Embedding`], [`EmbeddingBag`] |
//! | `from_float(mod)` / `to_float()` | `from_float(&float, weight_fake_quant)` / `to_float()` |
//!
//! The weight fake-quant is any [`nn::Module`] mapping a float tensor to a float tensor of the
//! same shape, held as the child `weight_fake_quant` (PyTorch's attribute name). This crate
//! sits below `quantization`, which builds those modules from a qconfig (a `FakeQuantizer`
//! wrapped so that its backward is the straight-through estimator, or the learnable one) and
//! whose `prepare_qat` swaps float layers for these. `from_float` shares the float layer's
//! parameters, as PyTorch's does; `to_float` copies them.
//!
//! ```
//! use nn::prelude::*;
//! // A stand-in weight fake quant: round to multiples of 0.25 with a straight-through backward.
//! struct Round;
//! impl Module for Round {
//!     fn type_name(&self) -> &'static str { "Round" }
//!     fn forward(&mut self, x: Value) -> nn::Result<Value> {
//!         let x = x.into_float("Round")?;
//!         let y = x.data().mapv(|v| (v * 4.0).round() / 4.0);
//!         Ok(Value::Float(Tensor::from_op("round", &[&x], y, |g, _| vec![Some(g.clone())])))
//!     }
//!     fn is_training(&self) -> bool { true }
//!     fn set_training_flag(&mut self, _: bool) {}
//! }
//!
//! # fn main() -> nn::Result<()> {
//! let float = nn::Linear::new(3, 2, true);
//! let mut qat = nn_qat::Linear::from_float(&float, Box::new(Round))?;
//! let y = qat.forward(Value::Float(Tensor::randn(&[4, 3])))?.into_float("test")?;
//! y.sum().backward()?;
//! assert!(float.weight.grad().is_some()); // the parameters are shared
//! assert_eq!(qat.state_dict().keys(), ["weight", "bias"]);
//! assert_eq!(qat.named_modules()[1].0, "weight_fake_quant");
//! # Ok(())
//! # }
//! ```

mod conv;
mod embedding;
mod linear;
pub mod weight;

pub use conv::{check_conv_input, conv_extra_repr, Conv1d, Conv2d, Conv3d};
pub use embedding::{Embedding, EmbeddingBag};
pub use linear::Linear;
pub use weight::WEIGHT_FAKE_QUANT;
