//! What the passes know about each kind of node: which modules are library leaves, which
//! operations quantize how.

use nn::Module;

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
