//! `torch.nn.functional`: the float operations behind the layers, usable directly.
//!
//! Every operation records itself for autograd through one constructor (the hook a graph-mode
//! tracer can use later); shapes and arguments are checked and reported as [`crate::NnError`].

mod activation;
mod batch_norm;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod loss;
mod norm;
mod pool;
mod rnn;
mod upsample;

pub(crate) use activation::clip;
pub use activation::{
    elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, relu6, sigmoid, silu, tanh,
    GeluApproximate,
};
pub use batch_norm::{batch_norm, BatchNormState};
pub use conv::{conv, conv_transpose, ConvOptions};
pub use dropout::dropout;
pub use embedding::{embedding, embedding_bag, embedding_bag_inputs, embedding_indices, BagMode};
pub use linear::linear;
pub use loss::{cross_entropy, log_softmax, mse_loss, nll_loss, softmax, Reduction};
pub(crate) use norm::{channel_affine, normalize_rows};
pub use norm::{group_norm, instance_norm, layer_norm};
pub use pool::{adaptive_avg_pool2d, avg_pool2d, max_pool2d, Pool2dOptions};
pub use rnn::{cell_step, CellKind, HiddenWeights};
pub use upsample::{interpolate, UpsampleMode, UpsampleSize};

use crate::error::Result;
use crate::tensor::Tensor;

/// Traces a convolution of `rank` spatial dimensions under PyTorch's functional name, then runs it.
fn traced_conv(
    name: &'static str,
    rank: usize,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &ConvOptions,
) -> Result<Tensor> {
    crate::trace::function(
        name,
        &[Some(x), Some(w), b],
        || {
            vec![
                ("stride", opts.stride.as_slice().into()),
                ("padding", opts.padding.as_slice().into()),
                ("dilation", opts.dilation.as_slice().into()),
                ("groups", opts.groups.into()),
            ]
        },
        || conv(x, w, b, rank, opts),
    )
}

/// `F.conv1d`: input `(N, C, L)`, weight `(O, C / groups, k)`.
pub fn conv1d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, opts: &ConvOptions) -> Result<Tensor> {
    traced_conv("torch.nn.functional.conv1d", 1, x, w, b, opts)
}

/// `F.conv2d`: input `(N, C, H, W)`, weight `(O, C / groups, kh, kw)`.
pub fn conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, opts: &ConvOptions) -> Result<Tensor> {
    traced_conv("torch.nn.functional.conv2d", 2, x, w, b, opts)
}

/// `F.conv3d`: input `(N, C, D, H, W)`, weight `(O, C / groups, kd, kh, kw)`.
pub fn conv3d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, opts: &ConvOptions) -> Result<Tensor> {
    traced_conv("torch.nn.functional.conv3d", 3, x, w, b, opts)
}

/// `F.conv_transpose2d`: input `(N, C, H, W)`, weight `(C, O / groups, kh, kw)`.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &ConvOptions,
) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.conv_transpose2d",
        &[Some(x), Some(w), b],
        || {
            vec![
                ("stride", opts.stride.as_slice().into()),
                ("padding", opts.padding.as_slice().into()),
                ("output_padding", opts.output_padding.as_slice().into()),
                ("groups", opts.groups.into()),
                ("dilation", opts.dilation.as_slice().into()),
            ]
        },
        || conv_transpose(x, w, b, 2, opts),
    )
}

/// `F.relu`.
pub fn relu(x: &Tensor) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.relu",
        &[Some(x)],
        crate::trace::no_args,
        || x.relu(),
    )
}

/// `torch.flatten(x, start_dim, end_dim)`.
pub fn flatten(x: &Tensor, start_dim: isize, end_dim: isize) -> Result<Tensor> {
    crate::trace::function(
        "torch.flatten",
        &[Some(x)],
        || vec![("start_dim", start_dim.into()), ("end_dim", end_dim.into())],
        || x.flatten(start_dim, end_dim),
    )
}

/// `torch.reshape(x, shape)`.
pub fn reshape(x: &Tensor, shape: &[isize]) -> Result<Tensor> {
    crate::trace::function(
        "torch.reshape",
        &[Some(x)],
        || vec![("shape", shape.into())],
        || x.reshape(shape),
    )
}

/// `torch.add(a, b)` with broadcasting.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    crate::trace::function(
        "torch.add",
        &[Some(a), Some(b)],
        crate::trace::no_args,
        || a.add(b),
    )
}

/// `torch.mul(a, b)` with broadcasting.
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    crate::trace::function(
        "torch.mul",
        &[Some(a), Some(b)],
        crate::trace::no_args,
        || a.mul(b),
    )
}

/// `torch.cat(xs, dim)`.
pub fn cat(xs: &[Tensor], dim: isize) -> Result<Tensor> {
    let refs: Vec<Option<&Tensor>> = xs.iter().map(Some).collect();
    crate::trace::function(
        "torch.cat",
        &refs,
        || vec![("dim", dim.into())],
        || Tensor::cat(xs, dim),
    )
}

/// `torch.matmul(a, b)`.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    crate::trace::function(
        "torch.matmul",
        &[Some(a), Some(b)],
        crate::trace::no_args,
        || a.matmul(b),
    )
}
