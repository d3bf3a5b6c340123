//! The quantized fused modules (`torch.ao.nn.intrinsic.quantized`): a quantized layer whose
//! kernel applies the ReLU in its output stage.

use nn::{Module, Result, Value};
use nn_quantized::state::{
    register_quantized_state, QStateTensor, QuantizedState, QuantizedStateDict, StagedState,
    StateError,
};
use nn_quantized::{BatchNormCore, ConvCore};

macro_rules! training {
    () => {
        fn is_training(&self) -> bool {
            self.training
        }
        fn set_training_flag(&mut self, training: bool) {
            self.training = training;
        }
    };
}

/// `QuantizedState` for a fused module holding a `$core` in `$field`: the core's entries
/// (PyTorch's fused modules are subclasses of the unfused ones, with the same names).
macro_rules! delegate_state {
    ($name:ident, $type_name:literal, $field:ident, $core:ty) => {
        /// The state of the wrapped layer, under the same names as the unfused module's.
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                self.$field.quantized_state()
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> std::result::Result<StagedState, StateError> {
                let $field = self
                    .$field
                    .stage_quantized_state(state)?
                    .downcast::<$core>($type_name)?;
                Ok(StagedState::new($name {
                    $field,
                    training: self.training,
                }))
            }

            fn commit_quantized_state(
                &mut self,
                staged: StagedState,
            ) -> std::result::Result<(), StateError> {
                *self = staged.downcast::<$name>($type_name)?;
                Ok(())
            }
        }
    };
}

macro_rules! quantized_conv_relu {
    ($name:ident, $type_name:literal, $dims:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name {
            core: ConvCore,
            training: bool,
        }

        impl $name {
            /// Wraps a quantized convolution's state; the ReLU runs in its output stage.
            pub fn new(core: ConvCore) -> $name {
                register_quantized_state::<$name>();
                $name {
                    core,
                    training: true,
                }
            }

            /// The convolution's state.
            pub fn core(&self) -> &ConvCore {
                &self.core
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                $type_name
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                self.core.run($type_name, input, true)
            }
            fn extra_repr(&self) -> String {
                self.core.repr_fields()
            }
            training!();
        }

        delegate_state!($name, $type_name, core, ConvCore);
    };
}

quantized_conv_relu!(
    ConvReLU1d,
    "QuantizedConvReLU1d",
    1,
    "Quantized `relu(conv1d(x))` (`QuantizedConvReLU1d`)."
);
quantized_conv_relu!(
    ConvReLU2d,
    "QuantizedConvReLU2d",
    2,
    "Quantized `relu(conv2d(x))` (`QuantizedConvReLU2d`)."
);
quantized_conv_relu!(
    ConvReLU3d,
    "QuantizedConvReLU3d",
    3,
    "Quantized `relu(conv3d(x))` (`QuantizedConvReLU3d`)."
);

/// Quantized `relu(linear(x))` (`QuantizedLinearReLU`).
#[derive(Debug)]
pub struct LinearReLU {
    inner: nn_quantized::Linear,
    training: bool,
}

impl LinearReLU {
    /// Wraps a quantized linear layer; the ReLU runs in its output stage.
    pub fn new(inner: nn_quantized::Linear) -> LinearReLU {
        register_quantized_state::<LinearReLU>();
        LinearReLU {
            inner,
            training: true,
        }
    }

    /// The linear layer.
    pub fn linear(&self) -> &nn_quantized::Linear {
        &self.inner
    }
}

impl Module for LinearReLU {
    fn type_name(&self) -> &'static str {
        "QuantizedLinearReLU"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        self.inner.run("QuantizedLinearReLU", input, true)
    }
    fn extra_repr(&self) -> String {
        self.inner.repr_fields()
    }
    training!();
}

delegate_state!(
    LinearReLU,
    "QuantizedLinearReLU",
    inner,
    nn_quantized::Linear
);

macro_rules! quantized_bn_relu {
    ($name:ident, $type_name:literal, $rank:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            core: BatchNormCore,
            training: bool,
        }

        impl $name {
            /// Wraps a quantized batch norm's state; the ReLU runs in its output stage.
            pub fn new(core: BatchNormCore) -> $name {
                register_quantized_state::<$name>();
                $name {
                    core,
                    training: true,
                }
            }

            /// The batch norm's state.
            pub fn core(&self) -> &BatchNormCore {
                &self.core
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                $type_name
            }
            fn forward(&mut self, input: Value) -> Result<Value> {
                self.core.run($type_name, input, $rank, true)
            }
            fn extra_repr(&self) -> String {
                self.core.repr_fields()
            }
            training!();
        }

        delegate_state!($name, $type_name, core, BatchNormCore);
    };
}

quantized_bn_relu!(
    BNReLU2d,
    "QuantizedBNReLU2d",
    4,
    "Quantized `relu(batch_norm2d(x))` (`QuantizedBNReLU2d`)."
);
quantized_bn_relu!(
    BNReLU3d,
    "QuantizedBNReLU3d",
    5,
    "Quantized `relu(batch_norm3d(x))` (`QuantizedBNReLU3d`)."
);
