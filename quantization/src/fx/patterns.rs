//! What the passes know about each kind of node (PyTorch's backend config, for the operations
//! graph mode runs): which modules are library leaves, and how each operation is quantized.

use nn::Module;

use super::function::Function;
use super::graph::{Node, OpCode};
use super::graph_module::GraphModule;
use crate::eager::QuantMapping;

/// Module types of the fused, QAT and quantized families, which are leaves when traced.
const LIBRARY_LEAF_TYPES: &[&str] = &[
    "ConvReLU1d",
    "ConvReLU2d",
    "ConvReLU3d",
    "ConvBn1d",
    "ConvBn2d",
    "ConvBn3d",
    "ConvBnReLU1d",
    "ConvBnReLU2d",
    "ConvBnReLU3d",
    "LinearReLU",
    "LinearBn1d",
    "BNReLU2d",
    "BNReLU3d",
];

/// True for module types of the library's fused, QAT and quantized families.
pub(crate) fn is_library_leaf(m: &dyn Module) -> bool {
    let t = m.type_name();
    LIBRARY_LEAF_TYPES.contains(&t) || t.starts_with("Quantized")
}

/// How a node is quantized (PyTorch's observation types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A module with a quantized counterpart in the static mapping (conv, linear, fused,
    /// batch norm, ...): input and output observed, swapped at convert.
    Module,
    /// A function with a quantized operator: inputs and output observed.
    General,
    /// Runs on quantized tensors as is; its output shares the input's observer (pools, relu,
    /// flatten, reshape, dropout, ...).
    Shared,
    /// Its output has fixed quantization parameters (sigmoid, tanh, hardsigmoid, softmax).
    FixedQParams,
    /// Stays in float.
    Float,
}

const SHARED_MODULES: &[&str] = &[
    "ReLU",
    "ReLU6",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "Flatten",
    "Dropout",
    "Identity",
];
const FIXED_MODULES: &[&str] = &["Sigmoid", "Tanh", "Hardsigmoid", "Softmax"];
const SHARED_METHODS: &[&str] = &["relu", "flatten", "reshape", "view", "contiguous", "detach"];
const FIXED_METHODS: &[&str] = &["sigmoid", "tanh"];

/// True for the fixed-qparams operations whose range is 0..1 (else -1..1).
pub(crate) fn fixed_range_zero_to_one(node: &Node, gm: &GraphModule) -> bool {
    match node.op {
        OpCode::CallModule => node
            .target_name()
            .and_then(|t| gm.get_submodule(t).ok())
            .is_some_and(|m| m.type_name() != "Tanh"),
        OpCode::CallFunction => node.function() != Some(Function::Tanh),
        _ => node.target_name() != Some("tanh"),
    }
}

/// The kind of `node` in `gm` under the static mapping `mapping`.
pub(crate) fn kind(node: &Node, gm: &GraphModule, mapping: &QuantMapping) -> Kind {
    use Function::*;
    match node.op {
        OpCode::CallModule => {
            let Some(m) = node.target_name().and_then(|t| gm.get_submodule(t).ok()) else {
                return Kind::Float;
            };
            let t = m.type_name();
            if SHARED_MODULES.contains(&t) {
                Kind::Shared
            } else if FIXED_MODULES.contains(&t) {
                Kind::FixedQParams
            } else if mapping.get(m).is_some()
                && !matches!(
                    t,
                    "QuantStub" | "DeQuantStub" | "FloatFunctional" | "Embedding" | "EmbeddingBag"
                )
            {
                Kind::Module
            } else {
                Kind::Float
            }
        }
        OpCode::CallFunction => match node.function() {
            Some(
                Add | Mul | TorchAdd | TorchMul | Linear | Conv1d | Conv2d | Conv3d | Hardswish
                | LeakyRelu | Elu,
            ) => Kind::General,
            Some(
                Relu | Relu6 | Hardtanh | MaxPool2d | AvgPool2d | AdaptiveAvgPool2d | Flatten
                | Reshape | Dropout | Cat,
            ) => Kind::Shared,
            Some(Sigmoid | Tanh | Hardsigmoid) => Kind::FixedQParams,
            _ => Kind::Float,
        },
        OpCode::CallMethod => {
            let m = node.target_name().unwrap_or_default();
            if SHARED_METHODS.contains(&m) {
                Kind::Shared
            } else if FIXED_METHODS.contains(&m) {
                Kind::FixedQParams
            } else {
                Kind::Float
            }
        }
        _ => Kind::Float,
    }
}

/// True for a relu in any form: `F.relu`, `nn.ReLU`, `x.relu()`.
pub(crate) fn is_relu(node: &Node, gm: &GraphModule) -> bool {
    match node.op {
        OpCode::CallFunction => node.function() == Some(Function::Relu),
        OpCode::CallMethod => node.target_name() == Some("relu"),
        OpCode::CallModule => node
            .target_name()
            .and_then(|t| gm.get_submodule(t).ok())
            .is_some_and(|m| m.is::<nn::ReLU>()),
        _ => false,
    }
}

/// The functions that fuse with a following relu at convert (`add_relu`, `linear_relu` ...).
pub(crate) fn fuses_with_relu(node: &Node) -> bool {
    use Function::*;
    node.op == OpCode::CallFunction
        && matches!(
            node.function(),
            Some(Add | Mul | TorchAdd | TorchMul | Linear | Conv1d | Conv2d | Conv3d)
        )
}

/// Which positional arguments of a node are activations (observed inputs): for linear and
/// convolution only the input, for the others every tensor argument.
pub(crate) fn activation_args(node: &Node) -> Vec<usize> {
    use Function::*;
    match node.function() {
        Some(Linear | Conv1d | Conv2d | Conv3d) => vec![0],
        Some(Cat) => vec![0],
        _ => (0..node.args.len()).collect(),
    }
}
