//! Dynamic quantization (`torch.ao.quantization.quantize_dynamic`): float layers swapped for
//! their `nn-quantized-dynamic` counterparts, weights quantized with each layer's qconfig
//! ([`QConfig`](crate::QConfig) is the modules' [`WeightQuantizer`](nn_quantized_dynamic::WeightQuantizer)).
//!
//! | PyTorch | here |
//! |---|---|
//! | `quantize_dynamic(model, qconfig_spec, dtype, mapping, inplace=True)` | [`quantize_dynamic`], [`quantize_dynamic_with`] |
//! | `qconfig_spec` (set or dict of types / names) | [`DynamicSpec`], [`ModuleKey`] |
//! | `get_default_dynamic_quant_module_mappings()` | [`DynamicMapping::default`] |
//! | `dtype=torch.qint8` / `torch.float16` | [`WeightDType`](nn_quantized_dynamic::WeightDType) |
//!
//! Rust has no `copy.deepcopy` of a module tree, so the conversion is in place
//! (`inplace=True`); it is all-or-nothing: on error the model is unchanged. Differences from
//! PyTorch: a name key that matches no module is an error; only qint8 and float16 weights
//! (no `quint8` / `quint4x2` embedding defaults); recurrent modules built from `nn`'s float ones
//! (or any module with PyTorch's class and parameter names).

mod convert;
mod error;
mod mapping;
mod spec;
mod weights;

pub use convert::{quantize_dynamic, quantize_dynamic_with, Swapped};
pub use error::QuantizeDynamicError;
pub use mapping::{DynamicConverter, DynamicMapping};
pub use spec::{DynamicSpec, ModuleKey, DEFAULT_TYPES};
