//! Float layers with PyTorch's semantics, parameter names and printed form.

mod functional_module;
mod identity;

pub use functional_module::FloatFunctional;
pub use identity::{DeQuantStub, Identity, QuantStub};

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
