//! Graph mode quantization (`torch.ao.quantization.quantize_fx` and `torch.fx`): the model's
//! own forward is traced into a graph, and the passes work on the graph: fusion by pattern,
//! observer insertion, conversion to quantized modules and operators. No stubs, no manual
//! fusion, no `FloatFunctional`: functionals are quantized automatically.
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.fx.Graph`, `Node`, `node.op` / `target` / `args` / `kwargs` | [`Graph`], [`Node`], [`OpCode`], [`Target`], [`Arg`] |
//! | `torch.fx.GraphModule` | [`GraphModule`] |
//! | `torch.fx.symbolic_trace`, `Tracer(is_leaf_module=...)` | [`symbolic_trace`], [`trace`] with [`TraceOptions`] |
//! | `QConfigMapping`, `qconfig_dict`, `get_default_qconfig_mapping`, `get_default_qat_qconfig_mapping` | [`QConfigMapping`], [`QConfigDict`], [`get_default_qconfig_mapping`], [`get_default_qat_qconfig_mapping`] |
//! | `fuse_fx`, `prepare_fx`, `prepare_qat_fx`, `convert_fx` | [`fuse_fx`], [`prepare_fx`] ([`prepare_fx_with`] for leaf modules), [`prepare_qat_fx`] ([`prepare_qat_fx_with`]), [`convert_fx`] |
//! | `torch.ops.quantized.*` targets of converted graphs | [`Function`] |
//!
//! Tracing runs the forward once on example inputs with `nn`'s tracer hooks
//! ([`nn::trace`]): top-level operations become `call_function` / `call_method` nodes with
//! their non-tensor arguments, leaf modules `call_module` nodes, the model's own parameters
//! `get_attr` nodes. Reading tensor values (`item`, `to_vec` ...) or an operation that graph
//! mode cannot run is an [`FxError::Untraceable`] naming the operation. Every entry point
//! takes the model by value and on error hands it back unchanged in a [`Rejected`].
//!
//! ```
//! use nn::functional as F;
//! use nn::prelude::*;
//! use nn::{Conv2d, Forward, Linear};
//! use quantization::fx::{convert_fx, get_default_qconfig_mapping, prepare_fx};
//! use quantization::Backend;
//!
//! #[derive(Module)]
//! struct Net { conv: Child, fc: Child }
//! impl Forward for Net {
//!     fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
//!         let y = F::relu(&self.conv.forward(x)?.into_float("Net")?);
//!         let y = F::flatten(&F::adaptive_avg_pool2d(&y, [1, 1])?, 1, -1)?;
//!         self.fc.forward(Value::Float(y))
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! qtensor::set_engine(qtensor::Engine::Qnnpack)?;
//! let mut net = Net { conv: Child::new(Conv2d::new(3, 4, 3)?), fc: Child::new(Linear::new(4, 2, true)) };
//! net.eval();
//! let x = Value::Float(Tensor::randn(&[2, 3, 8, 8]));
//! let mapping = get_default_qconfig_mapping(Backend::Qnnpack);
//! let mut prepared = prepare_fx(net, &mapping, &[x.clone()])?;
//! prepared.forward(x.clone())?; // calibrate
//! let mut quantized = convert_fx(prepared)?;
//! assert_eq!(quantized.get_submodule("conv")?.type_name(), "QuantizedConvReLU2d");
//! assert!(quantized.graph().to_string().contains("call_method[target=dequantize]"));
//! assert_eq!(quantized.forward(x)?.shape(), Some(vec![2, 2]));
//! # Ok(())
//! # }
//! ```
//!
//! What each operation becomes (PyTorch's backend configuration for fbgemm / qnnpack, for the
//! operations `nn` has): conv / linear / batch-norm modules and their fused forms are swapped
//! through the eager mapping's constructors; `add`, `mul` (with a fused relu), `linear`,
//! `conv`, `hardswish`, `leaky_relu`, `elu` become `torch.ops.quantized.*` with their output
//! parameters; pools, `relu`, `relu6`, `hardtanh`, `flatten`, `reshape`, `dropout` and `cat`
//! run on quantized tensors and share their input's observer (one instance, as PyTorch);
//! `sigmoid`, `tanh`, `hardsigmoid`, `softmax` get fixed-parameter observers; everything else
//! stays float, with `dequantize` before it and `quantize_per_tensor` after it where a
//! quantized section resumes. A `None` qconfig keeps a node float the same way. Dynamic
//! qconfigs swap `Linear`, fused linear-relu, `LSTM`, `GRU` and the cells for the dynamic
//! modules (the dynamic mapping's constructors) and lower `F.linear` to `linear_dynamic`;
//! weight-only qconfigs (float activation) replace a linear / conv weight by its quantized
//! value.
//!
//! Quantization-aware training: [`prepare_qat_fx`] traces and fuses the model in training
//! mode (conv-bn(-relu) and linear-relu become the fused modules of `nn_intrinsic`), swaps
//! modules for their QAT forms (`nn_qat`, `nn_intrinsic::qat`, through the default
//! [`QatMapping`](crate::qat::QatMapping)) and inserts differentiable
//! [`FakeQuantizeModule`](crate::qat::FakeQuantizeModule)s where [`prepare_fx`] inserts
//! observers. The graph module trains with `nn`'s autograd and optimizers; [`convert_fx`]
//! then converts it as a calibrated one, the QAT modules through the eager QAT convert
//! constructors and the fake quants giving their parameters as observers do.
//!
//! Differences from PyTorch:
//!
//! - The forward is traced by running it on example inputs (also for [`fuse_fx`] and
//!   [`symbolic_trace`]); shapes are those of the example, and buffers a training-mode
//!   forward would update are restored afterwards.
//! - Weight-only quantization stays a float module holding the quantize-dequantized weight
//!   (PyTorch keeps a reference module that does this at every call).
//! - Converted modules keep scales and zero points as plain attributes; `load_state_dict`
//!   does not restore them ([`crate::save_quantized`] / [`crate::load_quantized`] do: they
//!   are the graph module's quantized state, with its packed weights).
//! - [`prepare_qat_fx`] requires training mode (PyTorch documents it without checking).
//!   Fixed-qparams operations get PyTorch's fixed-qparams fake quants; fake-quant state is
//!   not part of the state dict.

mod convert;
mod error;
mod exec;
mod function;
mod fuse;
mod graph;
mod graph_module;
mod normalize;
mod patterns;
mod prepare;
mod qconfig_mapping;
mod quantize_fx;
mod quantized_state;
mod regex;
mod runtime;
mod tracer;

pub use error::{FxError, Rejected, Result};
pub use function::Function;
pub use graph::{Arg, Graph, Node, NodeId, NodeMeta, OpCode, Position, Target};
pub use graph_module::{GraphModule, ModuleTree, Stage};
pub use qconfig_mapping::{
    get_default_qat_qconfig_mapping, get_default_qconfig_mapping, ObjectType, QConfigAny,
    QConfigDict, QConfigMapping,
};
pub use quantize_fx::{
    convert_fx, fuse_fx, prepare_fx, prepare_fx_with, prepare_qat_fx, prepare_qat_fx_with,
};
pub use runtime::Attr;
pub use tracer::{symbolic_trace, trace, LeafPredicate, TraceOptions, DEFAULT_LEAF_TYPES};
