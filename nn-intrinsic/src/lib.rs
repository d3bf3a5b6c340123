//! Fused modules (`torch.nn.intrinsic`) and the batch-norm folding they rely on.
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.nn.utils.fusion.fuse_conv_bn_weights` | [`fold::fuse_conv_bn_weights`] |
//! | `torch.nn.utils.fusion.fuse_linear_bn_weights` | [`fold::fuse_linear_bn_weights`] |

pub mod fold;
pub mod qat;

pub use fold::{fuse_conv_bn_weights, fuse_linear_bn_weights, BatchNormStats, FoldError};
