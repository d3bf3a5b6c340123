//! Quantization-aware training (the QAT half of `torch.ao.quantization`'s eager API).
//!
//! | PyTorch | here |
//! |---|---|
//! | a `FakeQuantize` module in the model (`weight_fake_quant`, `activation_post_process`) | [`FakeQuantizeModule`] |
//! | `prepare_qat(model, mapping)` | [`prepare_qat`] with a [`QatMapping`] (`DEFAULT_QAT_MODULE_MAPPINGS`) |
//! | `convert(model)` of a QAT model | [`convert_qat`] with [`convert_mapping`] |
//! | `quantize_qat(model, run_fn, run_args)` | [`quantize_qat`] |
//! | `disable_observer`, `enable_observer`, `disable_fake_quant`, `enable_fake_quant`, `freeze_bn_stats` (with `model.apply`) | [`disable_observer`], [`enable_observer`], [`disable_fake_quant`], [`enable_fake_quant`], [`freeze_bn_stats`], [`update_bn_stats`] |
//! | `_LearnableFakeQuantize.enable_param_learning` over a model | [`enable_param_learning`], [`enable_static_estimate`] |
//!
//! The QAT modules themselves are in `nn_qat` (`Linear`, `Conv*`, `Embedding*`) and
//! `nn_intrinsic::qat` (the fused forms, with the batch-norm fold simulated in training).
//! Training uses the ordinary `nn` autograd and optimizers: the fake quants are
//! differentiable modules (straight-through, or the learnable fake quant's gradients for its
//! scale and zero point, which are then parameters of the model).
//!
//! Differences from PyTorch: the passes work in place (no `inplace=False`); prepared modules
//! are wrapped ([`QatPrepared`]) rather than given a hook; PyTorch's special activation
//! fake-quants for `Sigmoid` / `Tanh` / `Softmax` / `Hardsigmoid` (fixed qparams) are not
//! attached; fake-quant state (`scale`, `zero_point`, observer statistics) is not part of the
//! state dict.

mod convert;
mod fake_quant_module;
mod from_qat;
mod frozen;
mod mapping;
mod prepare;
mod prepared;
mod quantize;
mod switches;

pub use convert::convert_qat;
pub(crate) use convert::frozen;
pub use fake_quant_module::FakeQuantizeModule;
pub(crate) use from_qat::observe_final_weight;
pub use from_qat::{
    convert_mapping, qat_conv1d, qat_conv2d, qat_conv3d, qat_conv_bn1d, qat_conv_bn2d,
    qat_conv_bn3d, qat_conv_bn_relu1d, qat_conv_bn_relu2d, qat_conv_bn_relu3d, qat_conv_relu1d,
    qat_conv_relu2d, qat_conv_relu3d, qat_embedding, qat_embedding_bag, qat_linear,
    qat_linear_bn1d, qat_linear_relu,
};
pub use mapping::{QatCtor, QatCtx, QatMapping};
pub use prepare::prepare_qat;
pub use prepared::QatPrepared;
pub use quantize::quantize_qat;
pub use switches::{
    disable_fake_quant, disable_observer, enable_fake_quant, enable_observer,
    enable_param_learning, enable_static_estimate, freeze_bn_stats, update_bn_stats,
};
