//! The error type of every fallible function in this crate.

use crate::Path;

/// What went wrong in a kernel call; each variant names the offending argument.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// A scale that is zero, negative, NaN, infinite or not representable as a normal `f32`.
    #[error("{arg}: scale must be finite and > 0 (and a normal f32), got {value}")]
    BadScale {
        /// The argument's name.
        arg: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A slice whose length does not match the shape it is described with.
    #[error("{arg}: expected {expected} elements, got {got}")]
    LengthMismatch {
        /// The argument's name.
        arg: &'static str,
        /// Elements required by the shape.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// A shape that cannot be used by this operation.
    #[error("{arg}: {reason}")]
    BadShape {
        /// The argument's name.
        arg: &'static str,
        /// Why the shape is rejected.
        reason: String,
    },
    /// A parameter outside the values this operation accepts.
    #[error("{arg}: {reason}")]
    BadParam {
        /// The argument's name.
        arg: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// A configuration QNNPACK rejects (and so does PyTorch with the qnnpack engine).
    #[error("{op}: unsupported by QNNPACK: {reason}")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// Why it is not supported.
        reason: String,
    },
    /// A float input that holds NaN where a value is needed.
    #[error("{arg}: the input contains NaN")]
    NaN {
        /// The argument's name.
        arg: &'static str,
    },
    /// A kernel path that this CPU (or build target) cannot run.
    #[error("kernel path {path} is not available on this CPU or target")]
    PathUnavailable {
        /// The requested path.
        path: Path,
    },
    /// Packed weights used with a kernel set whose micro-kernel wants another packing.
    #[error("weights packed for the {packed_for} path cannot run on the {running} path; pack them with the same kernels")]
    PackedForOtherPath {
        /// The path the weights were packed for.
        packed_for: Path,
        /// The path of the kernels called.
        running: Path,
    },
}
