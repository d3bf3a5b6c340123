//! Float layers with PyTorch's semantics, parameter names and printed form.

mod activation;
mod batchnorm;
mod conv;
mod dropout;
mod embedding;
mod flatten;
mod functional_module;
mod identity;
mod linear;
mod norm;
mod pool;
pub(crate) mod repr;
mod rnn;
mod rnn_fused;
mod upsample;

pub use activation::{
    Hardsigmoid, Hardswish, LeakyReLU, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Tanh, ELU, GELU,
};
pub use batchnorm::{BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig};
pub use conv::{Conv1d, Conv2d, Conv3d, ConvConfig, ConvTranspose2d};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingBag};
pub use flatten::Flatten;
pub use functional_module::FloatFunctional;
pub use identity::{DeQuantStub, Identity, QuantStub};
pub use linear::Linear;
pub use norm::{GroupNorm, InstanceNorm2d, LayerNorm};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use rnn::{
    CellCore, GRUCell, LSTMCell, RNNCell, RnnConfig, RnnCore, RnnLayerWeights, GRU, LSTM, RNN,
};
pub use upsample::Upsample;

/// Implements the training-flag half of `Module` for a struct with a `training: bool` field.
macro_rules! training_flag {
    () => {
        fn is_training(&self) -> bool {
            self.training
        }
        fn set_training_flag(&mut self, training: bool) {
            self.training = training;
        }
    };
}
pub(crate) use training_flag;
