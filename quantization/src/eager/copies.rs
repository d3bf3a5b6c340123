//! Shallow copies of the float layers fusion combines: a new module sharing the original's
//! parameter and buffer tensors, so a pass can build its result while the original stays in
//! place until the whole pass has succeeded.

use nn::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, Conv1d, Conv2d, Conv3d, ConvTranspose2d, Linear, Module,
    ReLU,
};

/// Float layers a pass can copy and rebuild: their parameters and geometry.
pub(crate) trait ConvLayer: Module + Sized {
    fn weight(&self) -> &nn::Tensor;
    fn bias(&self) -> Option<&nn::Tensor>;
    fn options(&self) -> &nn::functional::ConvOptions;
    fn out_channels(&self) -> usize;
    fn rebuild(
        w: nn::Tensor,
        b: Option<nn::Tensor>,
        o: nn::functional::ConvOptions,
    ) -> nn::Result<Self>;
}

macro_rules! conv_layer {
    ($($t:ty),*) => {$(
        impl ConvLayer for $t {
            fn weight(&self) -> &nn::Tensor { &self.weight }
            fn bias(&self) -> Option<&nn::Tensor> { self.bias.as_ref() }
            fn options(&self) -> &nn::functional::ConvOptions { &self.options }
            fn out_channels(&self) -> usize { <$t>::out_channels(self) }
            fn rebuild(w: nn::Tensor, b: Option<nn::Tensor>, o: nn::functional::ConvOptions) -> nn::Result<Self> {
                <$t>::from_parts(w, b, o)
            }
        }
    )*};
}
conv_layer!(Conv1d, Conv2d, Conv3d, ConvTranspose2d);

/// Batch norms: statistics and configuration.
pub(crate) trait BnLayer: Module + Sized {
    fn weight(&self) -> Option<&nn::Tensor>;
    fn bias(&self) -> Option<&nn::Tensor>;
    fn running_mean(&self) -> Option<&nn::Tensor>;
    fn running_var(&self) -> Option<&nn::Tensor>;
    fn config(&self) -> nn::BatchNormConfig;
    fn num_features(&self) -> usize;
    fn copy(&self) -> Self;
}

macro_rules! bn_layer {
    ($($t:ty),*) => {$(
        impl BnLayer for $t {
            fn weight(&self) -> Option<&nn::Tensor> { self.weight.as_ref() }
            fn bias(&self) -> Option<&nn::Tensor> { self.bias.as_ref() }
            fn running_mean(&self) -> Option<&nn::Tensor> { self.running_mean.as_ref() }
            fn running_var(&self) -> Option<&nn::Tensor> { self.running_var.as_ref() }
            fn config(&self) -> nn::BatchNormConfig { self.config }
            fn num_features(&self) -> usize { <$t>::num_features(self) }
            fn copy(&self) -> Self {
                let mut b = <$t>::with_config(self.num_features(), self.config);
                b.weight = self.weight.clone();
                b.bias = self.bias.clone();
                b.running_mean = self.running_mean.clone();
                b.running_var = self.running_var.clone();
                b.num_batches_tracked = self.num_batches_tracked.clone();
                b.set_training_flag(self.is_training());
                b
            }
        }
    )*};
}
bn_layer!(BatchNorm1d, BatchNorm2d, BatchNorm3d);

/// A copy of a convolution sharing its tensors.
pub(crate) fn copy_conv<C: ConvLayer>(c: &C) -> nn::Result<C> {
    let mut n = C::rebuild(c.weight().clone(), c.bias().cloned(), c.options().clone())?;
    n.set_training_flag(c.is_training());
    Ok(n)
}

/// A copy of a linear layer sharing its tensors.
pub(crate) fn copy_linear(l: &Linear) -> nn::Result<Linear> {
    let mut n = Linear::from_parts(l.weight.clone(), l.bias.clone())?;
    n.set_training_flag(l.is_training());
    Ok(n)
}

/// A fresh ReLU in the same mode.
pub(crate) fn copy_relu(r: &ReLU) -> ReLU {
    let mut n = ReLU::new();
    n.set_training_flag(r.is_training());
    n
}
