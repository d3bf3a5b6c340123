//! The error type of the elementwise, activation and pooling kernels.

use thiserror::Error;

/// Why a kernel refused its input. Kernels never panic on user input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OpError {
    /// A buffer does not have the length its shape or its partner requires.
    #[error("{what}: expected {expected} elements, got {actual}")]
    LengthMismatch {
        /// Which operand.
        what: &'static str,
        /// Length required by the shape or the other operand.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// A quantization scale is zero, negative, NaN or infinite.
    #[error("{what}: scale must be finite and > 0, got {scale}")]
    InvalidScale {
        /// Which operand's quantization parameters.
        what: &'static str,
        /// The offending scale.
        scale: f64,
    },
    /// A zero point lies outside the storage type's range.
    #[error("{what}: zero point {zero_point} outside [{min}, {max}]")]
    ZeroPointOutOfRange {
        /// Which operand's quantization parameters.
        what: &'static str,
        /// The offending zero point.
        zero_point: i32,
        /// Smallest representable value.
        min: i32,
        /// Largest representable value.
        max: i32,
    },
    /// A float parameter (slope, alpha, eps, scalar, scale factor) is not usable.
    #[error("{name} = {value} is not allowed: {reason}")]
    InvalidParameter {
        /// Parameter name as in PyTorch.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// What is required.
        reason: &'static str,
    },
    /// Shapes that do not fit together (cat, batch-norm channels, ranks).
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// A pooling window parameter (kernel, stride, dilation, padding) is invalid.
    #[error("invalid pooling parameters: {0}")]
    InvalidWindow(String),
    /// The computed (or requested) output would have a zero-sized dimension.
    #[error("output size is zero: {0}")]
    EmptyOutput(String),
    /// An element count overflows `usize`.
    #[error("shape {0} overflows the address space")]
    Overflow(String),
}
