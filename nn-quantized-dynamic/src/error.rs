//! The error type of every fallible function in this crate.

use nn::NnError;
use nn_quantized::QOpError;
use qtensor::QError;

/// Why a dynamic module could not be built or run. Every variant names the module
/// (PyTorch's printed class name, e.g. `DynamicQuantizedLSTM`) or the weight at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DynamicError {
    /// An input whose rank or feature size the module cannot take.
    #[error("{module}: expected input of shape {expected}, got {got:?}")]
    InputShape {
        /// The module.
        module: &'static str,
        /// The shape it takes, in words (`"(seq, batch, 8)"`).
        expected: String,
        /// The shape given.
        got: Vec<usize>,
    },
    /// An initial state whose shape does not match the input and the module.
    #[error("{module}: {state} must have shape {expected:?}, got {got:?}")]
    StateShape {
        /// The module.
        module: &'static str,
        /// Which state (`"h_0"`, `"c_0"`, `"hx"`, `"cx"`).
        state: &'static str,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A batch (or sequence) with no elements.
    #[error("{module}: the {what} is empty; dynamic recurrent modules need at least one {unit}")]
    Empty {
        /// The module.
        module: &'static str,
        /// `"batch"` or `"sequence"`.
        what: &'static str,
        /// `"sample"` or `"time step"`.
        unit: &'static str,
    },
    /// NaN or infinity in an input, a state or a weight.
    #[error("{module}: {arg} contains NaN or infinity")]
    NonFinite {
        /// The module.
        module: &'static str,
        /// The offending argument.
        arg: String,
    },
    /// An invalid module configuration (zero sizes, unknown nonlinearity, projections ...).
    #[error("{module}: {reason}")]
    Config {
        /// The module.
        module: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A weight or bias missing from the float weights given.
    #[error("{module}: missing float weight '{name}'")]
    MissingWeight {
        /// The module.
        module: &'static str,
        /// PyTorch's parameter name (`weight_ih_l0`).
        name: String,
    },
    /// Float weights with names the module does not have.
    #[error("{module}: unexpected float weights: {}", .names.join(", "))]
    UnexpectedWeights {
        /// The module.
        module: &'static str,
        /// The names it does not know.
        names: Vec<String>,
    },
    /// A weight or bias of the wrong shape.
    #[error("{module}: '{name}' must have shape {expected:?}, got {got:?}")]
    WeightShape {
        /// The module.
        module: &'static str,
        /// PyTorch's parameter name.
        name: String,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// The weight quantizer (the qconfig's weight observer) failed or chose an unsupported dtype.
    #[error("{module}: quantizing weight '{name}': {reason}")]
    WeightQuantization {
        /// The module.
        module: &'static str,
        /// The weight's name.
        name: String,
        /// What the quantizer reported.
        reason: String,
    },
    /// A float module handed to `from_float` that is not of the expected kind.
    #[error("{module}::from_float: {reason}")]
    FromFloat {
        /// The dynamic module being built.
        module: &'static str,
        /// What is wrong with the float module.
        reason: String,
    },
    /// The quantized operator layer refused (engine unavailable, bad weight parameters ...).
    #[error("{module}: {source}")]
    Op {
        /// The module.
        module: &'static str,
        /// The operator's error.
        source: QOpError,
    },
    /// An invalid quantized weight.
    #[error("{module}: {source}")]
    QTensor {
        /// The module.
        module: &'static str,
        /// The quantized-tensor error.
        source: QError,
    },
}

impl DynamicError {
    /// The module the error is about.
    pub fn module(&self) -> &'static str {
        match self {
            DynamicError::InputShape { module, .. }
            | DynamicError::StateShape { module, .. }
            | DynamicError::Empty { module, .. }
            | DynamicError::NonFinite { module, .. }
            | DynamicError::Config { module, .. }
            | DynamicError::MissingWeight { module, .. }
            | DynamicError::UnexpectedWeights { module, .. }
            | DynamicError::WeightShape { module, .. }
            | DynamicError::WeightQuantization { module, .. }
            | DynamicError::FromFloat { module, .. }
            | DynamicError::Op { module, .. }
            | DynamicError::QTensor { module, .. } => module,
        }
    }
}

impl From<DynamicError> for NnError {
    /// Shape errors keep their kind ([`NnError::InputShape`]); the rest become
    /// [`NnError::BadArgument`] naming the module, with the full message.
    fn from(e: DynamicError) -> NnError {
        match e {
            DynamicError::InputShape {
                module,
                expected,
                got,
            } => NnError::InputShape {
                module: module.to_string(),
                expected,
                got,
            },
            other => NnError::BadArgument {
                op: other.module().to_string(),
                reason: other.to_string(),
            },
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = DynamicError> = std::result::Result<T, E>;
