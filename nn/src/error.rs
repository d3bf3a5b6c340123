//! The error type of every fallible function in this crate.

use qtensor::{QDType, QError};

/// The fix suggested when a quantized tensor reaches a float module.
pub const FIX_DEQUANT: &str = "insert a DeQuantStub before it";
/// The fix suggested when a float tensor reaches a quantized module.
pub const FIX_QUANT: &str = "insert a QuantStub before it";
/// The fix suggested when a quantized tensor reaches a float arithmetic op in user code.
pub const FIX_FUNCTIONAL: &str =
    "use FloatFunctional for add/cat/mul so that convert can swap it for its quantized form, \
     or insert a DeQuantStub before it";

/// What went wrong in a tensor operation, a module's forward, a state-dict load or training.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NnError {
    /// A failure inside a child module; `path` is its dotted name below the module that ran.
    #[error("in module '{path}': {source}")]
    InModule {
        /// Dotted path of the failing module (`"layer1.0.conv1"`).
        path: String,
        /// What went wrong there.
        source: Box<NnError>,
    },
    /// A quantized tensor was given to a float module or float operation.
    #[error("{module} received a quantized tensor ({dtype}) but computes in float; {fix}")]
    QuantizedInput {
        /// The module type or operation that received it.
        module: String,
        /// The quantized dtype received.
        dtype: QDType,
        /// How to fix the model.
        fix: &'static str,
    },
    /// A float tensor was given to a quantized module.
    #[error("{module} received a float tensor but expects a quantized one; {fix}")]
    FloatInput {
        /// The module type that received it.
        module: String,
        /// How to fix the model.
        fix: &'static str,
    },
    /// A tensor was expected but a tuple came (or the reverse).
    #[error("{module} expected {expected}, got {got}")]
    WrongValue {
        /// The module type or operation.
        module: String,
        /// What it accepts.
        expected: &'static str,
        /// What it received.
        got: &'static str,
    },
    /// An input whose shape the module or operation cannot take.
    #[error("{module}: expected input of shape {expected}, got {got:?}")]
    InputShape {
        /// The module type or operation.
        module: String,
        /// The shape it expects, in words (`"(N, 3, H, W)"`).
        expected: String,
        /// The shape received.
        got: Vec<usize>,
    },
    /// Operands whose shapes do not fit together (broadcasting, matmul, cat ...).
    #[error("{op}: incompatible shapes {lhs:?} and {rhs:?}{detail}")]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// First operand's shape.
        lhs: Vec<usize>,
        /// Second operand's shape.
        rhs: Vec<usize>,
        /// Extra context, starting with `"; "` when present.
        detail: String,
    },
    /// An invalid argument or configuration (zero kernel size, bad dim, negative eps ...).
    #[error("{op}: {reason}")]
    BadArgument {
        /// The operation or constructor.
        op: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A module does not implement the multi-input method it was called with.
    #[error("{module} does not support {method}; only functional modules (FloatFunctional) do")]
    UnsupportedMethod {
        /// The module type.
        module: String,
        /// The method called.
        method: String,
    },
    /// `backward` on a tensor that does not require grad.
    #[error("backward: the tensor does not require grad and has no grad_fn")]
    NoGrad,
    /// `backward()` without a gradient on a tensor with more than one element.
    #[error(
        "backward: grad can be implicitly created only for scalar outputs, got shape {shape:?}"
    )]
    NonScalarBackward {
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// No submodule at this dotted path.
    #[error("no submodule '{path}'{detail}")]
    NoSuchModule {
        /// The path asked for.
        path: String,
        /// Extra context, starting with `"; "` when present.
        detail: String,
    },
    /// A state dict that does not fit the model: every problem at once; the model was not changed.
    #[error("load_state_dict: {}", state_dict_summary(.missing, .unexpected, .mismatched))]
    StateDict {
        /// Keys the model has and the state dict lacks.
        missing: Vec<String>,
        /// Keys the state dict has and the model lacks.
        unexpected: Vec<String>,
        /// Keys present on both sides with different shapes or dtypes: (key, model's, given).
        mismatched: Vec<(String, String, String)>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        reason: String,
    },
    /// A safetensors payload that cannot be read or written.
    #[error("safetensors: {0}")]
    Safetensors(String),
    /// An error from the quantized-tensor layer.
    #[error(transparent)]
    Quant(#[from] QError),
}

fn state_dict_summary(
    missing: &[String],
    unexpected: &[String],
    mismatched: &[(String, String, String)],
) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing keys: {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected keys: {}", unexpected.join(", ")));
    }
    if !mismatched.is_empty() {
        let m: Vec<String> = mismatched
            .iter()
            .map(|(k, ours, theirs)| format!("{k} (model {ours}, given {theirs})"))
            .collect();
        parts.push(format!("size mismatch for: {}", m.join(", ")));
    }
    parts.join("; ")
}

impl NnError {
    /// Wraps this error as coming from the child `name` of the module that reports it, merging
    /// nested paths into one dotted path.
    pub fn in_child(self, name: &str) -> NnError {
        match self {
            NnError::InModule { path, source } => NnError::InModule {
                path: format!("{name}.{path}"),
                source,
            },
            other => NnError::InModule {
                path: name.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// The dotted path of the failing module, if the error came from inside a child.
    pub fn module_path(&self) -> Option<&str> {
        match self {
            NnError::InModule { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The underlying error, without the module-path wrapper.
    pub fn root(&self) -> &NnError {
        match self {
            NnError::InModule { source, .. } => source.root(),
            other => other,
        }
    }

    /// A [`NnError::BadArgument`] for `op`.
    pub fn bad_arg(op: impl Into<String>, reason: impl Into<String>) -> NnError {
        NnError::BadArgument {
            op: op.into(),
            reason: reason.into(),
        }
    }

    /// A [`NnError::InputShape`] for `module`.
    pub fn input_shape(
        module: impl Into<String>,
        expected: impl Into<String>,
        got: &[usize],
    ) -> NnError {
        NnError::InputShape {
            module: module.into(),
            expected: expected.into(),
            got: got.to_vec(),
        }
    }

    pub(crate) fn shapes(op: &'static str, lhs: &[usize], rhs: &[usize], detail: &str) -> NnError {
        NnError::ShapeMismatch {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!("; {detail}")
            },
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;
