//! The error type of every fallible function in this crate.

use qtensor::QError;

/// What went wrong while building or feeding an observer, a fake-quantize module or a qconfig.
/// Each variant names the observer (PyTorch's class name) or the argument at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    /// The input holds NaN; the observer's state is left as it was.
    #[error("{observer}: the input contains NaN (state left unchanged)")]
    NaN {
        /// The observer or module that saw it.
        observer: &'static str,
    },
    /// The input has no elements.
    #[error("{observer}: the input tensor is empty")]
    Empty {
        /// The observer or module that was fed it.
        observer: &'static str,
    },
    /// `ch_axis` is not smaller than the input's rank.
    #[error("{observer}: ch_axis {ch_axis} is out of range for an input of rank {rank}")]
    ChAxisOutOfRange {
        /// The observer.
        observer: &'static str,
        /// The configured channel axis.
        ch_axis: usize,
        /// The input's rank.
        rank: usize,
    },
    /// A per-channel observer got a batch with a different number of channels than before.
    #[error("{observer}: input has {got} channels along ch_axis, earlier batches had {expected}")]
    ChannelCountChanged {
        /// The observer.
        observer: &'static str,
        /// Channels seen before.
        expected: usize,
        /// Channels in this batch.
        got: usize,
    },
    /// quant_min / quant_max do not form a usable range.
    #[error("{observer}: quant_min {quant_min} / quant_max {quant_max}: {reason}")]
    BadQuantRange {
        /// The observer or module.
        observer: &'static str,
        /// Lower end given.
        quant_min: i64,
        /// Upper end given.
        quant_max: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// A combination of options PyTorch does not implement (e.g. symmetric quint8 with
    /// reduce_range, a per-channel scheme on a per-tensor observer).
    #[error("{observer}: {what}")]
    Unsupported {
        /// The observer or module.
        observer: &'static str,
        /// What is not supported, and what to use instead.
        what: String,
    },
    /// A numeric option outside its domain (averaging_constant, bins, eps, a fixed scale ...).
    #[error("{observer}: {arg} = {value} is invalid: {reason}")]
    BadArgument {
        /// The observer or module.
        observer: &'static str,
        /// The argument's name.
        arg: &'static str,
        /// The rejected value, printed.
        value: String,
        /// The allowed domain.
        reason: &'static str,
    },
    /// `calculate_qparams` on an observer that has none (Placeholder, Noop, Recording).
    #[error("{observer}: calculate_qparams should not be called for this observer")]
    NoQParams {
        /// The observer.
        observer: &'static str,
    },
    /// A gradient or other tensor whose shape does not match the forward input.
    #[error("{observer}: {arg} has shape {got:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The module.
        observer: &'static str,
        /// The argument's name.
        arg: &'static str,
        /// The shape given.
        got: Vec<usize>,
        /// The shape required.
        expected: Vec<usize>,
    },
    /// A backward pass asked for before any forward.
    #[error("{observer}: backward called before forward")]
    NoForward {
        /// The module.
        observer: &'static str,
    },
    /// An engine name that is not one of PyTorch's backends.
    #[error("unknown backend '{name}'; supported: fbgemm, x86, qnnpack, onednn")]
    UnknownBackend {
        /// The name given.
        name: String,
    },
    /// A custom factory in a qconfig failed.
    #[error("qconfig factory failed: {0}")]
    Factory(String),
    /// An error from the quantized-tensor layer (bad scale, zero point, axis ...).
    #[error(transparent)]
    Tensor(#[from] QError),
}
