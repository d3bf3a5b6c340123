//! `nniqat.ConvReLU1d/2d/3d`: a QAT convolution followed by ReLU.

use nn::{ConvConfig, Module, Result, Tensor, Value};

use super::conv_bn::fused_child;

macro_rules! conv_relu {
    ($name:ident, $conv:ident, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Parameters `weight`, `bias` and the child `weight_fake_quant`, as the QAT
        /// convolution it wraps.
        pub struct $name {
            conv: nn_qat::$conv,
        }

        impl $name {
            /// A fresh module from a configuration (PyTorch's initialisation); errors as the
            /// float convolution's constructor.
            pub fn from_config(
                cfg: ConvConfig,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                Ok($name {
                    conv: nn_qat::$conv::from_config(cfg, weight_fake_quant)?,
                })
            }

            /// The QAT module of a float convolution (followed by a ReLU), sharing its
            /// parameters, in training mode.
            pub fn from_conv(
                conv: &nn::$conv,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                Ok($name {
                    conv: nn_qat::$conv::from_float(conv, weight_fake_quant)?,
                })
            }

            /// `from_float`: the QAT module of a fused float `ConvReLU` (the convolution's
            /// parameters shared), in training mode.
            pub fn from_float(
                fused: &crate::$name,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                let conv = fused_child::<nn::$conv>(stringify!($name), fused, 0)?;
                $name::from_conv(conv, weight_fake_quant)
            }

            /// `to_float`: the fused float `ConvReLU` with a copy of the convolution, in this
            /// module's training mode.
            pub fn to_float(&self) -> Result<crate::$name> {
                let mut m = crate::$name::new(self.conv.to_float()?, nn::ReLU::new());
                m.train(self.conv.is_training());
                Ok(m)
            }

            /// The QAT convolution inside.
            pub fn conv(&self) -> &nn_qat::$conv {
                &self.conv
            }

            /// The QAT convolution inside, mutably.
            pub fn conv_mut(&mut self) -> &mut nn_qat::$conv {
                &mut self.conv
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }

            fn forward(&mut self, input: Value) -> Result<Value> {
                let x = input.into_float(stringify!($name))?;
                Ok(Value::Float(self.conv.conv_forward(&x)?.relu()))
            }

            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                self.conv.local_parameters()
            }

            fn children(&self) -> Vec<(String, &dyn Module)> {
                self.conv.children()
            }

            fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
                self.conv.child_slots_mut()
            }

            fn extra_repr(&self) -> String {
                self.conv.extra_repr()
            }

            fn is_training(&self) -> bool {
                self.conv.is_training()
            }

            fn set_training_flag(&mut self, training: bool) {
                self.conv.set_training_flag(training);
            }
        }
    };
}

conv_relu!(
    ConvReLU1d,
    Conv1d,
    "`nniqat.ConvReLU1d`: a QAT `Conv1d` then ReLU."
);
conv_relu!(
    ConvReLU2d,
    Conv2d,
    "`nniqat.ConvReLU2d`: a QAT `Conv2d` then ReLU."
);
conv_relu!(
    ConvReLU3d,
    Conv3d,
    "`nniqat.ConvReLU3d`: a QAT `Conv3d` then ReLU."
);
