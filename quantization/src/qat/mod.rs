//! Quantization-aware training (`torch.ao.quantization` QAT API).
//!
//! | PyTorch | here |
//! |---|---|
//! | a `FakeQuantize` module in the model (`weight_fake_quant`, `activation_post_process`) | [`FakeQuantizeModule`] |
//! | `disable_observer`, `enable_observer`, `disable_fake_quant`, `enable_fake_quant` (with `model.apply`) | [`disable_observer`], [`enable_observer`], [`disable_fake_quant`], [`enable_fake_quant`] |

mod fake_quant_module;
mod switches;

pub use fake_quant_module::FakeQuantizeModule;
pub use switches::{disable_fake_quant, disable_observer, enable_fake_quant, enable_observer};
