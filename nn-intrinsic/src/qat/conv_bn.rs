//! `nniqat.ConvBn1d/2d/3d` and `nniqat.ConvBnReLU1d/2d/3d`: a convolution and a batch norm
//! trained as the folded convolution they become (`_forward_approximate`).

use nn::functional::{self, ConvOptions};
use nn::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, Child, ConvConfig, Module, NnError,
    Result, Tensor, Value,
};
use nn_qat::weight::{self, fresh_parameter};

use super::bn_fold::{approximate_forward, bn_slot, bn_view, reset_bn_weight, share_bn};
use crate::fold::{fuse_conv_bn_weights, BatchNormStats};

/// Folds the batch norm held in `bn` into the convolution weight / bias (`to_float`'s
/// `fuse_conv_bn_weights`), in `f32` as PyTorch.
pub(crate) fn fold_conv_bn(
    owner: &str,
    weight: &Tensor,
    bias: Option<&Tensor>,
    bn: &dyn Module,
) -> Result<(Tensor, Tensor)> {
    let v = bn_view(owner, bn)?;
    let (gamma, beta, mean, var) = (
        v.weight.to_vec(),
        v.bias.to_vec(),
        v.running_mean.to_vec(),
        v.running_var.to_vec(),
    );
    let stats = BatchNormStats {
        weight: Some(&gamma),
        bias: Some(&beta),
        running_mean: &mean,
        running_var: &var,
        eps: v.eps as f32,
    };
    let b = bias.map(Tensor::to_vec);
    let wd = weight.data();
    let (w, b) = fuse_conv_bn_weights(wd.view(), b.as_deref(), &stats, false)
        .map_err(|e| NnError::bad_arg(owner, e.to_string()))?;
    let n = b.len();
    Ok((
        Tensor::parameter(w),
        Tensor::parameter(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n]), b).expect("n values"),
        ),
    ))
}

/// The child `index` of a fused float module as a `T`, or an error naming `owner`.
pub(crate) fn fused_child<'a, T: Module>(
    owner: &str,
    fused: &'a dyn Module,
    index: usize,
) -> Result<&'a T> {
    fused
        .children()
        .into_iter()
        .nth(index)
        .and_then(|(_, m)| m.downcast_ref::<T>())
        .ok_or_else(|| {
            NnError::bad_arg(
                owner,
                format!(
                    "child {index} of the fused {} is not a {}",
                    fused.type_name(),
                    std::any::type_name::<T>()
                        .rsplit("::")
                        .next()
                        .unwrap_or("module")
                ),
            )
        })
}

macro_rules! conv_bn {
    ($name:ident, $fused:ident, $conv:ident, $bn:ident, $rank:expr, $relu:expr, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Parameters `weight`, `bias` (optional); children `bn` (the batch norm, with its
        /// parameters and running statistics) and `weight_fake_quant`. In training the batch
        /// norm uses batch statistics and updates its running ones, unless frozen
        /// ([`Self::freeze_bn_stats`]); `train(mode)` leaves a frozen batch norm in eval mode.
        pub struct $name {
            /// The kernel `(out, in / groups, *k)`, before folding.
            pub weight: Tensor,
            /// `(out_channels)`, if the convolution has a bias.
            pub bias: Option<Tensor>,
            /// Stride, padding, dilation, groups.
            pub options: ConvOptions,
            in_channels: usize,
            out_channels: usize,
            bn: Child,
            weight_fake_quant: Child,
            freeze_bn: bool,
            training: bool,
        }

        impl $name {
            /// A fresh module (PyTorch's constructor): the convolution from `cfg` with
            /// PyTorch's initialisation, a batch norm over its output channels with `bn`'s eps
            /// and momentum (always affine, always tracking), its weight uniform in `[0, 1)`;
            /// with `freeze_bn` the batch norm starts frozen. Errors as the float layers'
            /// constructors.
            pub fn new(
                cfg: ConvConfig,
                bn: BatchNormConfig,
                freeze_bn: bool,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                let conv = nn::$conv::from_config(cfg)?;
                let config = BatchNormConfig {
                    affine: true,
                    track_running_stats: true,
                    ..bn
                };
                let norm = $bn::with_config(conv.out_channels(), config);
                reset_bn_weight(&norm.weight);
                let mut m = $name::from_modules(&conv, &norm, weight_fake_quant)?;
                if freeze_bn {
                    m.freeze_bn_stats();
                }
                Ok(m)
            }

            /// The QAT module of a float convolution and batch norm (`from_float` of the fused
            /// pair): it shares their parameters and running statistics, in training mode with
            /// the batch norm updating. Errors if the batch norm is not affine, does not track
            /// running statistics, or does not match the output channels.
            pub fn from_modules(
                conv: &nn::$conv,
                bn: &$bn,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                let name = stringify!($name);
                if conv.options.output_padding.iter().any(|&p| p != 0) {
                    return Err(NnError::bad_arg(
                        name,
                        "output_padding is for transposed convolutions only",
                    ));
                }
                let mut norm = share_bn!($bn, bn, conv.out_channels(), name);
                norm.set_training_flag(true);
                Ok($name {
                    weight: conv.weight.clone(),
                    bias: conv.bias.clone(),
                    options: conv.options.clone(),
                    in_channels: conv.in_channels(),
                    out_channels: conv.out_channels(),
                    bn: bn_slot(norm),
                    weight_fake_quant: weight::slot(weight_fake_quant),
                    freeze_bn: false,
                    training: true,
                })
            }

            /// `from_float`: the QAT module of a fused float module (its children shared), in
            /// training mode; errors as [`Self::from_modules`].
            pub fn from_float(
                fused: &crate::$fused,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                let name = stringify!($name);
                let conv = fused_child::<nn::$conv>(name, fused, 0)?;
                let bn = fused_child::<$bn>(name, fused, 1)?;
                $name::from_modules(conv, bn, weight_fake_quant)
            }

            /// The convolution with the batch norm folded in (`fuse_conv_bn_weights` with the
            /// running statistics): fresh parameters, bias always present, in this module's
            /// training mode.
            pub fn fold(&self) -> Result<nn::$conv> {
                let name = stringify!($name);
                let (w, b) =
                    fold_conv_bn(name, &self.weight, self.bias.as_ref(), self.bn.module())?;
                let mut c = nn::$conv::from_parts(w, Some(b), self.options.clone())?;
                c.set_training_flag(self.training);
                Ok(c)
            }

            /// The unfolded float convolution (copies of `weight` and `bias`) and batch norm
            /// (copies of its parameters and running statistics).
            pub fn to_float_parts(&self) -> Result<(nn::$conv, $bn)> {
                let name = stringify!($name);
                let mut c = nn::$conv::from_parts(
                    fresh_parameter(&self.weight),
                    self.bias.as_ref().map(fresh_parameter),
                    self.options.clone(),
                )?;
                c.set_training_flag(self.training);
                let src = self.bn()?;
                let mut b = $bn::with_config(src.num_features(), src.config);
                let v = bn_view(name, src)?;
                b.weight = Some(fresh_parameter(&v.weight));
                b.bias = Some(fresh_parameter(&v.bias));
                b.running_mean = Some(Tensor::new(v.running_mean.to_array()));
                b.running_var = Some(Tensor::new(v.running_var.to_array()));
                if let (Some(dst), Some(n)) = (&b.num_batches_tracked, &src.num_batches_tracked) {
                    dst.set(n.get());
                }
                b.set_training_flag(src.is_training());
                Ok((c, b))
            }

            /// `freeze_bn_stats()`: the batch norm uses (and keeps) its running statistics.
            pub fn freeze_bn_stats(&mut self) {
                self.freeze_bn = true;
                self.bn.set_training_flag(false);
            }

            /// `update_bn_stats()`: the batch norm uses batch statistics and updates its
            /// running ones again.
            pub fn update_bn_stats(&mut self) {
                self.freeze_bn = false;
                self.bn.set_training_flag(true);
            }

            /// True while the batch norm statistics are frozen (`freeze_bn`).
            pub fn is_bn_frozen(&self) -> bool {
                self.freeze_bn
            }

            /// The batch norm; errors if the `bn` child was replaced by something else.
            pub fn bn(&self) -> Result<&$bn> {
                self.bn.module().downcast_ref::<$bn>().ok_or_else(|| {
                    NnError::bad_arg(
                        stringify!($name),
                        "child 'bn' is not the batch norm it was built with",
                    )
                })
            }

            /// The batch norm, mutably; errors if the `bn` child was replaced.
            pub fn bn_mut(&mut self) -> Result<&mut $bn> {
                self.bn.module_mut().downcast_mut::<$bn>().ok_or_else(|| {
                    NnError::bad_arg(
                        stringify!($name),
                        "child 'bn' is not the batch norm it was built with",
                    )
                })
            }

            /// The weight's fake-quant module.
            pub fn weight_fake_quant(&self) -> &dyn Module {
                self.weight_fake_quant.module()
            }

            /// The weight's fake-quant module, mutably.
            pub fn weight_fake_quant_mut(&mut self) -> &mut dyn Module {
                self.weight_fake_quant.module_mut()
            }

            /// Input channels.
            pub fn in_channels(&self) -> usize {
                self.in_channels
            }

            /// Output channels.
            pub fn out_channels(&self) -> usize {
                self.out_channels
            }

            /// Kernel size per spatial dimension.
            pub fn kernel_size(&self) -> Vec<usize> {
                self.weight
                    .shape()
                    .get(2..)
                    .map(<[usize]>::to_vec)
                    .unwrap_or_default()
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }

            fn forward(&mut self, input: Value) -> Result<Value> {
                let name = stringify!($name);
                let x = input.into_float(name)?;
                nn_qat::check_conv_input(name, $rank, self.in_channels, &x)?;
                let (rank, opts) = ($rank, &self.options);
                let y = approximate_forward(
                    name,
                    &self.weight,
                    self.bias.as_ref(),
                    &mut self.bn,
                    &mut self.weight_fake_quant,
                    |w| functional::conv(&x, w, None, rank, opts),
                )?;
                Ok(Value::Float(if $relu { y.relu() } else { y }))
            }

            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                let mut v = vec![("weight".to_string(), self.weight.clone())];
                if let Some(b) = &self.bias {
                    v.push(("bias".to_string(), b.clone()));
                }
                v
            }

            fn children(&self) -> Vec<(String, &dyn Module)> {
                vec![
                    ("bn".to_string(), self.bn.module()),
                    weight::child_ref(&self.weight_fake_quant),
                ]
            }

            fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
                vec![
                    ("bn".to_string(), self.bn.slot_mut()),
                    weight::child_slot(&mut self.weight_fake_quant),
                ]
            }

            fn extra_repr(&self) -> String {
                nn_qat::conv_extra_repr(
                    self.in_channels,
                    self.out_channels,
                    &self.kernel_size(),
                    &self.options,
                    self.bias.is_some(),
                )
            }

            /// PyTorch's `train(mode)`: a frozen batch norm (and the fake quant) keep their
            /// mode.
            fn train(&mut self, mode: bool) {
                self.training = mode;
                if !self.freeze_bn {
                    for (_, slot) in self.child_slots_mut() {
                        slot.train(mode);
                    }
                }
            }

            fn is_training(&self) -> bool {
                self.training
            }

            fn set_training_flag(&mut self, training: bool) {
                self.training = training;
            }
        }
    };
}

conv_bn!(
    ConvBn1d,
    ConvBn1d,
    Conv1d,
    BatchNorm1d,
    1,
    false,
    "`nniqat.ConvBn1d`: `Conv1d` + `BatchNorm1d` with the fold simulated in training."
);
conv_bn!(
    ConvBn2d,
    ConvBn2d,
    Conv2d,
    BatchNorm2d,
    2,
    false,
    "`nniqat.ConvBn2d`: `Conv2d` + `BatchNorm2d` with the fold simulated in training."
);
conv_bn!(
    ConvBn3d,
    ConvBn3d,
    Conv3d,
    BatchNorm3d,
    3,
    false,
    "`nniqat.ConvBn3d`: `Conv3d` + `BatchNorm3d` with the fold simulated in training."
);
conv_bn!(
    ConvBnReLU1d,
    ConvBnReLU1d,
    Conv1d,
    BatchNorm1d,
    1,
    true,
    "`nniqat.ConvBnReLU1d`: `Conv1d` + `BatchNorm1d` + `ReLU` with the fold simulated in training."
);
conv_bn!(
    ConvBnReLU2d,
    ConvBnReLU2d,
    Conv2d,
    BatchNorm2d,
    2,
    true,
    "`nniqat.ConvBnReLU2d`: `Conv2d` + `BatchNorm2d` + `ReLU` with the fold simulated in training."
);
conv_bn!(
    ConvBnReLU3d,
    ConvBnReLU3d,
    Conv3d,
    BatchNorm3d,
    3,
    true,
    "`nniqat.ConvBnReLU3d`: `Conv3d` + `BatchNorm3d` + `ReLU` with the fold simulated in training."
);

macro_rules! to_float_conv {
    ($($name:ident => $conv:ident),+) => {$(
        impl $name {
            /// `to_float`: the float convolution with the batch norm folded in (see
            /// [`Self::fold`]).
            pub fn to_float(&self) -> Result<nn::$conv> {
                self.fold()
            }
        }
    )+};
}

macro_rules! to_float_conv_relu {
    ($($name:ident => $fused:ident),+) => {$(
        impl $name {
            /// `to_float`: the fused float `ConvReLU` of the folded convolution, in this
            /// module's training mode.
            pub fn to_float(&self) -> Result<crate::$fused> {
                let mut m = crate::$fused::new(self.fold()?, nn::ReLU::new());
                m.train(self.training);
                Ok(m)
            }
        }
    )+};
}

to_float_conv!(ConvBn1d => Conv1d, ConvBn2d => Conv2d, ConvBn3d => Conv3d);
to_float_conv_relu!(ConvBnReLU1d => ConvReLU1d, ConvBnReLU2d => ConvReLU2d, ConvBnReLU3d => ConvReLU3d);
