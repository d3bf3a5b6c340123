//! Graph mode quantization (`torch.ao.quantization.quantize_fx` and `torch.fx`): the model's
//! own forward is traced into a graph, and the passes work on the graph: fusion, observer
//! insertion, conversion to quantized operators.
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.fx.Graph`, `Node`, `node.op` / `target` / `args` / `kwargs` | [`Graph`], [`Node`], [`OpCode`], [`Target`], [`Arg`] |
//! | `torch.fx.GraphModule` | [`GraphModule`] |
//! | `QConfigMapping`, `qconfig_dict`, `get_default_qconfig_mapping`, `get_default_qat_qconfig_mapping` | [`QConfigMapping`], [`QConfigDict`], [`get_default_qconfig_mapping`], [`get_default_qat_qconfig_mapping`] |
//! | `fuse_fx`, `prepare_fx`, `convert_fx` | [`fuse_fx`], [`prepare_fx`] ([`prepare_fx_with`] for leaf modules), [`convert_fx`] |
//! | `torch.fx.symbolic_trace`, `Tracer(is_leaf_module=...)` | [`symbolic_trace`], [`trace`] with [`TraceOptions`] |
//!
//! Tracing runs the forward once on example inputs with `nn`'s tracer hooks
//! ([`nn::trace`]): top-level operations become `call_function` / `call_method` nodes with
//! their non-tensor arguments, leaf modules `call_module` nodes, the model's own parameters
//! `get_attr` nodes. Reading tensor values (`item`, `to_vec` ...) or an operation that graph
//! mode cannot run is an [`FxError::Untraceable`] naming the operation.

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
pub use quantize_fx::{convert_fx, fuse_fx, prepare_fx, prepare_fx_with};
pub use runtime::Attr;
pub use tracer::{symbolic_trace, trace, LeafPredicate, TraceOptions, DEFAULT_LEAF_TYPES};
