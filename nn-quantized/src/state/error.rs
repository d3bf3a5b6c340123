//! The error type of saving and loading quantized state.

use std::fmt;

/// One entry (or module) whose file form differs from what the model holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The dotted key (`"conv1.weight"`), or a module path for a module-type difference.
    pub key: String,
    /// What the model holds (`"qint8 [4, 3, 3, 3]"`, `"QuantizedConvReLU2d"`).
    pub expected: String,
    /// What the file holds.
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the model has {}, the file has {}",
            self.key, self.expected, self.found
        )
    }
}

fn describe(missing: &[String], unexpected: &[String], mismatched: &[Mismatch]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing keys [{}]", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected keys [{}]", unexpected.join(", ")));
    }
    if !mismatched.is_empty() {
        let m: Vec<String> = mismatched.iter().map(Mismatch::to_string).collect();
        parts.push(format!("mismatched [{}]", m.join("; ")));
    }
    parts.join("; ")
}

/// Why a quantized state could not be saved or loaded. A failed load leaves the model as it was.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written.
    #[error("cannot {action} '{path}': {reason}")]
    Io {
        /// `"read"` or `"write"`.
        action: &'static str,
        /// The file.
        path: String,
        /// The system's message.
        reason: String,
    },
    /// The bytes are not a well-formed file of this format (truncated, damaged, checksum
    /// mismatch, inconsistent metadata).
    #[error("corrupted or truncated quantized-model file: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: String,
    },
    /// A well-formed safetensors file that is not a quantized-model file (no or foreign
    /// metadata header), e.g. a float state dict.
    #[error("not a quantized-model file: {reason}")]
    NotQuantizedFile {
        /// What is missing.
        reason: String,
    },
    /// A file written by a newer version of this format.
    #[error(
        "the file has format version {found}, this build reads versions up to {supported}; \
         load it with a newer build"
    )]
    FutureVersion {
        /// The file's version.
        found: u64,
        /// The newest version this build reads.
        supported: u64,
    },
    /// The file describes a different architecture than the model's.
    #[error("the file does not fit the model (a different architecture, or prepared / converted differently): {}", describe(missing, unexpected, mismatched))]
    Mismatch {
        /// Keys the model has and the file lacks.
        missing: Vec<String>,
        /// Keys the file has and the model lacks.
        unexpected: Vec<String>,
        /// Keys (or modules) present in both with a different dtype, shape or module type.
        mismatched: Vec<Mismatch>,
    },
    /// The model has no quantized module with state (a float or only prepared model).
    #[error(
        "the model ({model}) has no quantized modules with state; convert it first (prepare, calibrate, \
         convert), or use nn's state_dict / load_state_dict for a float model"
    )]
    NotQuantized {
        /// The model's type name.
        model: String,
    },
    /// An entry whose values the module cannot take (a bad scale or zero point, a per-channel
    /// axis the kernel does not support ...).
    #[error("'{key}': {reason}")]
    InvalidEntry {
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Two entries with the same name (a module's entry colliding with another's).
    #[error("two state entries are both named '{key}'")]
    DuplicateKey {
        /// The name.
        key: String,
    },
    /// A staged state given to a module of another type than the one that staged it.
    #[error("a state staged by {staged_by} cannot be committed to {module}")]
    StagedMismatch {
        /// The module type that was expected.
        staged_by: &'static str,
        /// The module type it was given to.
        module: &'static str,
    },
}

impl StateError {
    /// The same error with its keys placed under the module path `path` (what the model-level
    /// loader does with a module's local errors).
    pub fn in_module(self, path: &str) -> StateError {
        let join = |k: String| nn::join(path, &k);
        match self {
            StateError::InvalidEntry { key, reason } => StateError::InvalidEntry {
                key: join(key),
                reason,
            },
            StateError::DuplicateKey { key } => StateError::DuplicateKey { key: join(key) },
            StateError::Mismatch {
                missing,
                unexpected,
                mismatched,
            } => StateError::Mismatch {
                missing: missing.into_iter().map(join).collect(),
                unexpected: unexpected.into_iter().map(join).collect(),
                mismatched: mismatched
                    .into_iter()
                    .map(|m| Mismatch {
                        key: join(m.key),
                        ..m
                    })
                    .collect(),
            },
            other => other,
        }
    }

    pub(crate) fn invalid(key: &str, reason: impl fmt::Display) -> StateError {
        StateError::InvalidEntry {
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> StateError {
        StateError::Corrupt {
            reason: reason.into(),
        }
    }
}
