//! The error of `quantize_dynamic`.

use nn_quantized_dynamic::DynamicError;

/// Why `quantize_dynamic` refused; the model is left as it was.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantizeDynamicError {
    /// A name key of the spec names no module of the model.
    #[error("quantize_dynamic: the spec names module '{name}', which the model does not have")]
    NoSuchModule {
        /// The name given.
        name: String,
    },
    /// Building the dynamic module for one layer failed (unsupported qconfig dtype, bad
    /// weights ...).
    #[error("quantize_dynamic: converting '{path}' ({float_type}): {source}")]
    Convert {
        /// Dotted path of the layer.
        path: String,
        /// Its float type.
        float_type: String,
        /// What went wrong.
        source: Box<DynamicError>,
    },
    /// Putting a converted layer in place failed (the earlier swaps were undone).
    #[error("quantize_dynamic: replacing '{path}': {reason}")]
    Swap {
        /// Dotted path of the layer.
        path: String,
        /// The module tree's error.
        reason: String,
    },
}
