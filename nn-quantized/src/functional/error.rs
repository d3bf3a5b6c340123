//! The error type of the quantized operators.

use qtensor::{Engine, QDType, QError};

/// Why a quantized operator refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QOpError {
    /// An operand of a dtype the operator does not take.
    #[error("quantized::{op}: {arg} has dtype {got}, expected {expected}")]
    DType {
        /// The operator.
        op: &'static str,
        /// The operand.
        arg: &'static str,
        /// Its dtype.
        got: QDType,
        /// What the operator takes.
        expected: &'static str,
    },
    /// A per-channel quantized activation where per-tensor is required.
    #[error("quantized::{op}: {arg} must be per-tensor quantized; requantize it with quantize_per_tensor")]
    PerChannelActivation {
        /// The operator.
        op: &'static str,
        /// The operand.
        arg: &'static str,
    },
    /// Shapes that do not fit the operator.
    #[error("quantized::{op}: {msg}")]
    Shape {
        /// The operator.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The kernel rejected its input.
    #[error("quantized::{op}: {msg}")]
    Kernel {
        /// The operator.
        op: &'static str,
        /// The kernel's message.
        msg: String,
    },
    /// The current engine has no kernel for this operator in this build.
    #[error("quantized::{op} is not available on the {engine} engine in this build; use set_engine(Engine::Fbgemm)")]
    EngineUnavailable {
        /// The operator.
        op: &'static str,
        /// The current engine.
        engine: Engine,
    },
    /// An invalid quantized tensor or parameters.
    #[error(transparent)]
    QTensor(#[from] QError),
}
