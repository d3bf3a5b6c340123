//! [`FxError`]: what graph-mode tracing, editing and the quantization passes report, and
//! [`Rejected`]: an error that hands the model back unchanged.

use std::fmt;

use nn::NnError;

use crate::QuantError;

/// Everything that can go wrong in graph mode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FxError {
    /// The model's forward does something the tracer cannot record.
    #[error("cannot trace the model: '{op}' (in {}) {reason}", scope_name(.path))]
    Untraceable {
        /// The operation (`"item"`, `"narrow"`, `"torch.nn.functional.layer_norm"` ...).
        op: String,
        /// Dotted path of the module whose forward called it (`""`: the model itself).
        path: String,
        /// Why it cannot be recorded, and what to do.
        reason: String,
    },
    /// No example inputs were given (graph mode traces the forward by running it on them).
    #[error("{pass} needs example inputs: the forward is traced by running it on them")]
    MissingExampleInputs {
        /// The entry point.
        pass: &'static str,
    },
    /// The model's forward failed while being traced or run.
    #[error("the model's forward failed: {0}")]
    Forward(NnError),
    /// A graph that breaks an invariant (found by [`crate::fx::Graph::lint`] or an edit).
    #[error("malformed graph: {0}")]
    Graph(String),
    /// A node whose arguments or target cannot be used.
    #[error("node '{node}': {reason}")]
    Node {
        /// The node's name.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// A node failed while the graph ran.
    #[error("running node '{node}': {source}")]
    Run {
        /// The node's name.
        node: String,
        /// The error of the operation or module.
        source: NnError,
    },
    /// A pattern or configuration the passes do not support.
    #[error("unsupported at '{node}': {reason}")]
    Unsupported {
        /// The node (or module path) concerned.
        node: String,
        /// What is not supported, and what to do.
        reason: String,
    },
    /// A qconfig that cannot be used where it is set.
    #[error("qconfig for '{node}': {reason}")]
    QConfig {
        /// The node concerned.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// A bad entry in a `QConfigMapping` or `qconfig_dict`.
    #[error("qconfig mapping: {0}")]
    Mapping(String),
    /// An observer or quantizer error.
    #[error("at '{node}': {source}")]
    Quant {
        /// The node concerned.
        node: String,
        /// The observer's error.
        source: QuantError,
    },
    /// The pass was given a model in the wrong state (e.g. `convert_fx` on a model that was
    /// not prepared).
    #[error("{0}")]
    State(String),
}

fn scope_name(path: &str) -> String {
    if path.is_empty() {
        "the model's forward".into()
    } else {
        format!("module '{path}'")
    }
}

/// `Result` with [`FxError`].
pub type Result<T, E = FxError> = std::result::Result<T, E>;

/// A pass that failed before changing anything: the error and the model, as it was given.
///
/// `?` converts it into the bare [`FxError`] (dropping the model); [`Rejected::into_model`]
/// takes the model back.
pub struct Rejected<M> {
    /// What went wrong.
    pub error: FxError,
    model: Box<M>,
}

impl<M> Rejected<M> {
    /// The error and the model.
    pub fn new(error: FxError, model: M) -> Rejected<M> {
        Rejected {
            error,
            model: Box::new(model),
        }
    }

    /// The model, unchanged.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, unchanged.
    pub fn into_model(self) -> M {
        *self.model
    }

    /// The error and the model.
    pub fn into_parts(self) -> (FxError, M) {
        (self.error, *self.model)
    }
}

impl<M> fmt::Debug for Rejected<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rejected({:?})", self.error)
    }
}

impl<M> fmt::Display for Rejected<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<M> std::error::Error for Rejected<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<M> From<Rejected<M>> for FxError {
    fn from(r: Rejected<M>) -> FxError {
        r.error
    }
}

impl From<FxError> for NnError {
    /// For a graph module's `forward`: the node's own error if it has one, else the message.
    fn from(e: FxError) -> NnError {
        match e {
            FxError::Run { node, source } => source.in_child(&node),
            FxError::Forward(e) => e,
            other => NnError::bad_arg("GraphModule", other.to_string()),
        }
    }
}
