//! The crate's error type.

use thiserror::Error;

/// Everything a kernel entry point can reject. No entry point panics on user input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KernelError {
    /// A slice does not hold the number of elements its shape says.
    #[error("{what}: expected {expected} elements, got {got}")]
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// Elements the shape implies.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// A shape is malformed or two shapes disagree.
    #[error("invalid shape: {0}")]
    Shape(String),
    /// A scale is zero, negative, NaN or infinite (or its reciprocal is not finite).
    #[error("{what} must be finite and > 0 (with a finite reciprocal), got {value}")]
    InvalidScale {
        /// Which scale.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// A zero point lies outside the range of its integer type.
    #[error("{what} zero point {value} outside {min}..={max}")]
    InvalidZeroPoint {
        /// Which zero point.
        what: &'static str,
        /// The value given.
        value: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A float input (bias or dynamic activation) holds NaN or an infinity.
    #[error("{0} contains a non-finite value")]
    NonFinite(&'static str),
    /// `groups` is zero or does not divide a channel count.
    #[error("groups = {groups} does not divide {what} = {channels}")]
    Groups {
        /// The group count.
        groups: usize,
        /// Which channel count.
        what: &'static str,
        /// The channel count.
        channels: usize,
    },
    /// A convolution parameter is invalid (zero stride or dilation, wrong rank, ...).
    #[error("invalid convolution parameter: {0}")]
    ConvParam(String),
    /// The output would have a zero-size (or negative) spatial dimension.
    #[error("empty output: {0}")]
    EmptyOutput(String),
    /// A clamp range is empty.
    #[error("invalid clamp range {min}..={max}")]
    InvalidClamp {
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
    },
    /// Sizes whose product does not fit the index types.
    #[error("size overflow: {0}")]
    Overflow(&'static str),
    /// A `_with_isa` entry was asked for a path this CPU cannot run.
    #[error("instruction set {0} is not available on this CPU")]
    IsaUnavailable(crate::isa::Isa),
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(String),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, KernelError>;
