//! Quantization schemes (`torch.per_tensor_affine`, ...).

use std::fmt;

/// How quantization parameters are chosen and laid out.
///
/// A quantized tensor always reports an affine scheme (as PyTorch does); the symmetric schemes
/// describe how an observer picks the zero point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QScheme {
    /// One scale and zero point for the whole tensor.
    PerTensorAffine,
    /// One scale, zero point fixed at the middle of the range.
    PerTensorSymmetric,
    /// A scale and zero point per slice along one axis.
    PerChannelAffine,
    /// A scale per slice, zero points fixed at the middle of the range.
    PerChannelSymmetric,
    /// Per-channel with floating-point zero points (embedding weights).
    PerChannelAffineFloatQParams,
}

impl QScheme {
    /// True for the per-channel schemes.
    pub const fn is_per_channel(self) -> bool {
        matches!(
            self,
            QScheme::PerChannelAffine
                | QScheme::PerChannelSymmetric
                | QScheme::PerChannelAffineFloatQParams
        )
    }

    /// True for the symmetric schemes.
    pub const fn is_symmetric(self) -> bool {
        matches!(
            self,
            QScheme::PerTensorSymmetric | QScheme::PerChannelSymmetric
        )
    }

    /// PyTorch's name (`per_tensor_affine`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            QScheme::PerTensorAffine => "per_tensor_affine",
            QScheme::PerTensorSymmetric => "per_tensor_symmetric",
            QScheme::PerChannelAffine => "per_channel_affine",
            QScheme::PerChannelSymmetric => "per_channel_symmetric",
            QScheme::PerChannelAffineFloatQParams => "per_channel_affine_float_qparams",
        }
    }

    /// Parses PyTorch's name, with or without the `torch.` prefix.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            QScheme::PerTensorAffine,
            QScheme::PerTensorSymmetric,
            QScheme::PerChannelAffine,
            QScheme::PerChannelSymmetric,
            QScheme::PerChannelAffineFloatQParams,
        ]
        .into_iter()
        .find(|s| s.name() == name.trim_start_matches("torch."))
    }
}

impl fmt::Display for QScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torch.{}", self.name())
    }
}
