//! Quantization parameters: scale(s), zero point(s) and, for per-channel, the axis.

use crate::{QDType, QError, QScheme};

/// The parameters that map integers to reals: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, PartialEq)]
pub enum QParams {
    /// One scale and zero point for the whole tensor (`per_tensor_affine`).
    PerTensor {
        /// Step between adjacent integers, > 0.
        scale: f64,
        /// Integer that represents real 0.
        zero_point: i64,
    },
    /// One scale and zero point per index of `axis` (`per_channel_affine`).
    PerChannel {
        /// One scale per channel.
        scales: Vec<f64>,
        /// One zero point per channel.
        zero_points: Vec<i64>,
        /// The channel axis.
        axis: usize,
    },
    /// Per-channel with float zero points (`per_channel_affine_float_qparams`, embeddings):
    /// `q = round(x / scale + zero_point)`, `real = (q - zero_point) * scale`.
    PerChannelFloat {
        /// One scale per channel.
        scales: Vec<f32>,
        /// One (float) zero point per channel.
        zero_points: Vec<f32>,
        /// The channel axis.
        axis: usize,
    },
}

impl QParams {
    /// The scheme a tensor with these parameters reports (always an affine one, as PyTorch).
    pub fn qscheme(&self) -> QScheme {
        match self {
            QParams::PerTensor { .. } => QScheme::PerTensorAffine,
            QParams::PerChannel { .. } => QScheme::PerChannelAffine,
            QParams::PerChannelFloat { .. } => QScheme::PerChannelAffineFloatQParams,
        }
    }

    /// The channel axis, if per-channel.
    pub fn axis(&self) -> Option<usize> {
        match self {
            QParams::PerTensor { .. } => None,
            QParams::PerChannel { axis, .. } | QParams::PerChannelFloat { axis, .. } => Some(*axis),
        }
    }

    /// The same parameters with the channel axis moved to `axis`.
    pub(crate) fn with_axis(&self, new_axis: usize) -> QParams {
        let mut p = self.clone();
        if let QParams::PerChannel { axis, .. } | QParams::PerChannelFloat { axis, .. } = &mut p {
            *axis = new_axis;
        }
        p
    }

    /// Checks scales, zero points and channel counts against a dtype and a shape.
    pub fn validate(&self, dtype: QDType, shape: &[usize]) -> Result<(), QError> {
        match self {
            QParams::PerTensor { scale, zero_point } => {
                check_scale("scale", *scale)?;
                check_zero_point("zero_point", *zero_point, dtype)
            }
            QParams::PerChannel {
                scales,
                zero_points,
                axis,
            } => {
                let channels = channel_count(shape, *axis)?;
                check_len("scales", scales.len(), channels, *axis)?;
                check_len("zero_points", zero_points.len(), channels, *axis)?;
                scales.iter().try_for_each(|&s| check_scale("scales", s))?;
                zero_points
                    .iter()
                    .try_for_each(|&z| check_zero_point("zero_points", z, dtype))
            }
            QParams::PerChannelFloat {
                scales,
                zero_points,
                axis,
            } => {
                let channels = channel_count(shape, *axis)?;
                check_len("scales", scales.len(), channels, *axis)?;
                check_len("zero_points", zero_points.len(), channels, *axis)?;
                scales
                    .iter()
                    .try_for_each(|&s| check_scale("scales", f64::from(s)))?;
                match zero_points.iter().find(|z| !z.is_finite()) {
                    Some(&z) => Err(QError::BadScale {
                        arg: "zero_points",
                        value: f64::from(z),
                    }),
                    None => Ok(()),
                }
            }
        }
    }
}

fn channel_count(shape: &[usize], axis: usize) -> Result<usize, QError> {
    shape.get(axis).copied().ok_or(QError::AxisOutOfRange {
        arg: "axis",
        axis,
        rank: shape.len(),
    })
}

fn check_len(arg: &'static str, got: usize, expected: usize, axis: usize) -> Result<(), QError> {
    if got == expected {
        Ok(())
    } else {
        Err(QError::ChannelCountMismatch {
            arg,
            got,
            expected,
            axis,
        })
    }
}

/// Errors unless `scale` is finite and > 0.
pub fn check_scale(arg: &'static str, scale: f64) -> Result<(), QError> {
    if scale.is_finite() && scale > 0.0 && (scale as f32) > 0.0 {
        Ok(())
    } else {
        Err(QError::BadScale { arg, value: scale })
    }
}

/// Errors unless `zero_point` fits `dtype`.
pub fn check_zero_point(arg: &'static str, zero_point: i64, dtype: QDType) -> Result<(), QError> {
    if (dtype.min()..=dtype.max()).contains(&zero_point) {
        Ok(())
    } else {
        Err(QError::ZeroPointOutOfRange {
            arg,
            value: zero_point,
            dtype,
            min: dtype.min(),
            max: dtype.max(),
        })
    }
}
