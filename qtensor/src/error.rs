//! The error type of every fallible function in this crate.

use crate::QDType;

/// What went wrong in a quantized-tensor operation; each variant names the offending argument.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QError {
    /// A scale was zero, negative, NaN or infinite.
    #[error("{arg}: scale must be finite and > 0, got {value}")]
    BadScale {
        /// The argument's name.
        arg: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A zero point does not fit the dtype's range.
    #[error("{arg}: zero point {value} is outside {dtype}'s range {min}..={max}")]
    ZeroPointOutOfRange {
        /// The argument's name.
        arg: &'static str,
        /// The rejected value.
        value: i64,
        /// The dtype it must fit.
        dtype: QDType,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// quant_min/quant_max do not form a valid range inside the dtype.
    #[error("quant_min {quant_min} / quant_max {quant_max}: need quant_min < quant_max{detail}")]
    BadQuantRange {
        /// Lower end.
        quant_min: i64,
        /// Upper end.
        quant_max: i64,
        /// Extra context (e.g. which dtype range it must fit).
        detail: String,
    },
    /// An axis index is not smaller than the tensor's rank.
    #[error("{arg}: axis {axis} is out of range for a tensor of rank {rank}")]
    AxisOutOfRange {
        /// The argument's name.
        arg: &'static str,
        /// The rejected axis.
        axis: usize,
        /// The tensor's rank.
        rank: usize,
    },
    /// Per-channel parameters whose count does not match the size of the channel axis.
    #[error("{arg}: {got} values given but axis {axis} has size {expected}")]
    ChannelCountMismatch {
        /// The argument's name.
        arg: &'static str,
        /// Number of values given.
        got: usize,
        /// Size of the channel axis.
        expected: usize,
        /// The channel axis.
        axis: usize,
    },
    /// Two shapes that must agree do not.
    #[error("{arg}: shape {got:?} does not match the expected {expected:?}")]
    ShapeMismatch {
        /// The argument's name.
        arg: &'static str,
        /// The shape given.
        got: Vec<usize>,
        /// The shape required.
        expected: Vec<usize>,
    },
    /// A shape operation that cannot be carried out (bad reshape, bad permutation, slice out of bounds).
    #[error("{op}: {reason}")]
    BadShapeOp {
        /// The operation (`reshape`, `permute`, ...).
        op: &'static str,
        /// Why it cannot be done.
        reason: String,
    },
    /// An operation needs a non-empty tensor.
    #[error("{op}: the input tensor is empty")]
    Empty {
        /// The operation.
        op: &'static str,
    },
    /// The input holds NaN where a value is needed (e.g. the min/max of dynamic quantization).
    #[error("{op}: the input contains NaN")]
    NaN {
        /// The operation.
        op: &'static str,
    },
    /// A dtype that this operation does not accept.
    #[error("{op}: dtype {dtype} is not supported here; {hint}")]
    UnsupportedDType {
        /// The operation.
        op: &'static str,
        /// The dtype given.
        dtype: QDType,
        /// What to use instead.
        hint: &'static str,
    },
    /// A name that is not one of the known engines.
    #[error("unknown quantized engine '{name}'; supported engines: {supported}")]
    UnknownEngine {
        /// The name given.
        name: String,
        /// The engines this build supports, comma separated.
        supported: String,
    },
    /// A known engine that this build or CPU cannot run.
    #[error(
        "quantized engine '{name}' is not supported on this target; supported engines: {supported}"
    )]
    UnsupportedEngine {
        /// The engine's name.
        name: &'static str,
        /// The engines this build supports, comma separated.
        supported: String,
    },
    /// A per-tensor accessor used on a per-channel tensor or the reverse.
    #[error("{op}: expected a {expected} quantized tensor, got {got}")]
    WrongScheme {
        /// The accessor or operation.
        op: &'static str,
        /// The scheme it needs.
        expected: &'static str,
        /// The scheme the tensor has.
        got: &'static str,
    },
}
