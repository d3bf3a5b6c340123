//! The error of the eager-mode passes and what they report besides errors.

use std::fmt;

use nn::NnError;

use crate::QuantError;

/// Why a fuse / prepare / convert / quantize call refused the model. The model is left as it
/// was whenever one of these is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EagerError {
    /// A module path that the model does not have.
    #[error(transparent)]
    NoSuchModule(NnError),
    /// A fusion group whose module types are not a known pattern.
    #[error(
        "fuse_modules: cannot fuse [{}] of types ({}): not a known pattern; fusable: {}",
        .paths.join(", "), .types.join(", "), .known
    )]
    UnsupportedFusion {
        /// The group's module paths.
        paths: Vec<String>,
        /// Their types.
        types: Vec<String>,
        /// The patterns that can be fused, for the message.
        known: String,
    },
    /// A known pattern whose modules cannot be fused as they are (train/eval mode, channel
    /// counts, a variance that is not positive ...).
    #[error("fuse_modules: [{}]: {reason}", .paths.join(", "))]
    Fusion {
        /// The group's module paths.
        paths: Vec<String>,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// A qconfig that cannot be used for the module it was assigned to.
    #[error("{path} ({module}): {reason}")]
    QConfig {
        /// The module's path.
        path: String,
        /// Its type.
        module: String,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// The model was prepared already (observers attached); convert it or start from the float
    /// model.
    #[error("prepare: {path} has an observer attached already; the model was prepared before")]
    AlreadyPrepared {
        /// Where the existing observer is.
        path: String,
    },
    /// An observer or weight observer failed (bad configuration, bad data).
    #[error("{path}: {source}")]
    Observer {
        /// The module whose observer failed.
        path: String,
        /// The observer's error.
        source: QuantError,
    },
    /// Building the quantized module failed (a shape the kernels refuse, an engine without the
    /// kernel ...).
    #[error("convert: {path} ({module}): {reason}")]
    Convert {
        /// The module's path.
        path: String,
        /// Its type.
        module: String,
        /// What went wrong.
        reason: String,
    },
    /// The calibration function of `quantize` failed; the model was put back as it was.
    #[error("calibration failed: {0}")]
    Calibration(NnError),
}

/// A warning PyTorch would print (an observer that saw nothing, a qconfig for a path the model
/// does not have ...): the pass went on.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The module concerned (`""` for the model).
    pub path: String,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// What `prepare` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrepareReport {
    /// Paths of the observers attached (`"conv1.activation_post_process"`).
    pub observers: Vec<String>,
    /// Warnings.
    pub notices: Vec<Notice>,
}

/// What `convert` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvertReport {
    /// Each swap: path, float type, quantized type.
    pub swapped: Vec<(String, String, String)>,
    /// Warnings (observers that saw no data: PyTorch's default scale 1.0 and zero point 0 were
    /// used).
    pub notices: Vec<Notice>,
}
