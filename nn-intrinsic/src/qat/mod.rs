//! Fused modules for quantization-aware training (`torch.ao.nn.intrinsic.qat`).
//!
//! | PyTorch | here |
//! |---|---|
//! | `nniqat.ConvBn1d/2d/3d`, `ConvBnReLU1d/2d/3d` | [`ConvBn1d`] ... [`ConvBnReLU3d`] |
//! | `nniqat.ConvReLU1d/2d/3d` | [`ConvReLU1d`], [`ConvReLU2d`], [`ConvReLU3d`] |
//! | `nniqat.LinearReLU`, `nniqat.LinearBn1d` | [`LinearReLU`], [`LinearBn1d`] |
//! | `nniqat.freeze_bn_stats(mod)`, `update_bn_stats(mod)` | [`freeze_bn_stats`], [`update_bn_stats`] |
//!
//! The conv-bn and linear-bn modules train as the folded layer they become after convert,
//! as PyTorch's `_forward_approximate`: the weight is scaled by `gamma / sqrt(running_var +
//! eps)` before its fake quant, the output scaled back and the bias added, then the batch norm
//! runs (updating its running statistics unless frozen). `to_float` / `fold` folds the batch
//! norm into the layer with the running statistics. Only PyTorch's default approximate path is
//! provided (not `_forward_slow`).

mod bn_fold;
mod conv_bn;
mod conv_relu;
mod linear;

use nn::Module;

pub use conv_bn::{ConvBn1d, ConvBn2d, ConvBn3d, ConvBnReLU1d, ConvBnReLU2d, ConvBnReLU3d};
pub use conv_relu::{ConvReLU1d, ConvReLU2d, ConvReLU3d};
pub use linear::{LinearBn1d, LinearReLU};

macro_rules! with_bn_module {
    ($m:expr, |$x:ident| $body:expr) => {{
        let m: &mut dyn Module = $m;
        if let Some($x) = m.downcast_mut::<ConvBn1d>() {
            $body;
            true
        } else if let Some($x) = m.downcast_mut::<ConvBn2d>() {
            $body;
            true
        } else if let Some($x) = m.downcast_mut::<ConvBn3d>() {
            $body;
            true
        } else if let Some($x) = m.downcast_mut::<ConvBnReLU1d>() {
            $body;
            true
        } else if let Some($x) = m.downcast_mut::<ConvBnReLU2d>() {
            $body;
            true
        } else if let Some($x) = m.downcast_mut::<ConvBnReLU3d>() {
            $body;
            true
        } else if let Some($x) = m.downcast_mut::<LinearBn1d>() {
            $body;
            true
        } else {
            false
        }
    }};
}

/// `freeze_bn_stats(mod)`: freezes the batch-norm statistics of `m` if it is a conv-bn or
/// linear-bn QAT module (returns whether it was one).
pub fn freeze_bn_stats(m: &mut dyn Module) -> bool {
    with_bn_module!(m, |x| x.freeze_bn_stats())
}

/// `update_bn_stats(mod)`: lets the batch norm of `m` update its statistics again if it is a
/// conv-bn or linear-bn QAT module (returns whether it was one).
pub fn update_bn_stats(m: &mut dyn Module) -> bool {
    with_bn_module!(m, |x| x.update_bn_stats())
}
