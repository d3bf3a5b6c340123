//! Eager-mode post-training static quantization (`torch.ao.quantization` eager API):
//! [`fuse_modules`], [`prepare`], calibration (run the model), [`convert`], or all at once
//! with [`quantize`].
//!
//! | PyTorch | here |
//! |---|---|
//! | `fuse_modules`, `fuse_modules_qat` | [`fuse_modules`], [`fuse_modules_qat`] |
//! | `model.qconfig = ...`, `propagate_qconfig_` | [`QConfigMapping`] |
//! | `prepare(model, inplace=True)` | [`prepare`] |
//! | `convert(model, mapping, inplace=True)` | [`convert`] with a [`QuantMapping`] |
//! | `quantize(model, run_fn, run_args, inplace=True)` | [`quantize`] |
//! | `QuantWrapper`, `add_quant_dequant` | [`QuantWrapper`], [`add_quant_dequant`] |
//! | `_remove_qconfig` | [`remove_observers`] |
//! | `DEFAULT_STATIC_QUANT_MODULE_MAPPINGS`, `_DEFAULT_OP_LIST_TO_FUSER_METHOD` | [`mappings`] |
//! | an observer module attached as `activation_post_process` | [`ObserverModule`] |
//! | a module's `qconfig` attribute + observer hook | [`Prepared`] |
//!
//! The passes walk [`nn::Module::named_modules`] and swap modules through their parents'
//! child slots, so they work on any model: `nn` containers, fused modules and a user's own
//! `#[derive(Module)]` structs. They work in place on `&mut model`; each checks everything
//! (paths, patterns, qconfigs, observers, weights, kernels) before the first change, so an
//! error leaves the model as it was.
//!
//! Differences from PyTorch: there is no `inplace=False` (a copy of an arbitrary user struct
//! cannot be made through the `Module` trait; build a second float model instead); prepared
//! modules are wrapped ([`Prepared`], same name and children plus `activation_post_process`)
//! rather than given a hook; warnings are returned as [`Notice`]s in the reports.
//!
//! ```
//! use nn::prelude::*;
//! use nn::{Conv2d, DeQuantStub, QuantStub, ReLU};
//! use quantization::eager::{convert, fuse_modules, prepare, QConfigMapping, QuantMapping};
//! use quantization::{get_default_qconfig, Backend};
//!
//! #[derive(Module)]
//! struct Net { quant: Child, conv: Child, relu: Child, dequant: Child }
//! impl nn::Forward for Net {
//!     fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
//!         let x = self.quant.forward(x)?;
//!         let x = self.relu.forward(self.conv.forward(x)?)?;
//!         self.dequant.forward(x)
//!     }
//! }
//!
//! qtensor::set_engine(qtensor::Engine::Qnnpack).unwrap();
//! let mut net = Net {
//!     quant: Child::new(QuantStub::new()),
//!     conv: Child::new(Conv2d::new(3, 4, 3).unwrap()),
//!     relu: Child::new(ReLU::new()),
//!     dequant: Child::new(DeQuantStub::new()),
//! };
//! net.eval();
//! fuse_modules(&mut net, &[&["conv", "relu"]]).unwrap();
//! let mapping = QuantMapping::default_static();
//! let spec = QConfigMapping::global(get_default_qconfig(Backend::Qnnpack));
//! prepare(&mut net, &spec, &mapping).unwrap();
//! net.forward(Tensor::randn(&[2, 3, 8, 8]).into()).unwrap(); // calibrate
//! convert(&mut net, &mapping).unwrap();
//! assert_eq!(net.conv.type_name(), "QuantizedConvReLU2d");
//! let y = net.forward(Tensor::randn(&[1, 3, 8, 8]).into()).unwrap();
//! assert_eq!(y.shape(), Some(vec![1, 4, 6, 6]));
//! ```

mod context;
mod convert;
mod copies;
mod error;
mod from_float;
mod fuse;
mod fusers;
pub mod mappings;
mod observer_module;
mod prepare;
pub(crate) mod prepared;
mod qconfig_mapping;
mod quantize;

pub use context::FromFloatCtx;
pub use convert::convert;
pub use error::{ConvertReport, EagerError, Notice, PrepareReport};
pub use fuse::{fuse_modules, fuse_modules_qat};
pub use mappings::{FusionPattern, QuantMapping};
pub use observer_module::ObserverModule;
pub use prepare::prepare;
pub use prepared::{unwrap_prepared, Prepared};
pub use qconfig_mapping::QConfigMapping;
pub use quantize::{add_quant_dequant, quantize, remove_observers, QuantWrapper};

/// The float -> quantized constructors of the default mapping, for reuse in a user's own
/// constructors.
pub mod from_float_ctors {
    pub use super::from_float::*;
}
