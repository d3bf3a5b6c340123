//! The options shared by the uniform observers and PyTorch's
//! `UniformQuantizationObserverBase._calculate_qparams`, in `f32` like PyTorch's tensors.

use qtensor::QScheme;

use super::{QParamsOut, ZeroPoints};
use crate::{DType, QuantError};

/// `torch.finfo(torch.float32).eps`, the default lower bound of a scale.
pub const DEFAULT_EPS: f32 = f32::EPSILON;

/// Options of every uniform observer (`dtype`, `qscheme`, `reduce_range`, `quant_min`,
/// `quant_max`, `eps`), with PyTorch's defaults from [`UniformOptions::per_tensor`] /
/// [`UniformOptions::per_channel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UniformOptions {
    /// Target dtype (default `quint8`).
    pub dtype: DType,
    /// Scheme (default `per_tensor_affine`, or `per_channel_affine` for per-channel observers).
    pub qscheme: QScheme,
    /// Halve the range (7-bit activations for fbgemm); deprecated in PyTorch in favour of
    /// `quant_min` / `quant_max`.
    pub reduce_range: bool,
    /// Custom lower end of the integer range; give both ends or neither.
    pub quant_min: Option<i64>,
    /// Custom upper end of the integer range.
    pub quant_max: Option<i64>,
    /// Smallest scale allowed.
    pub eps: f32,
}

impl Default for UniformOptions {
    fn default() -> Self {
        Self::per_tensor()
    }
}

impl UniformOptions {
    /// PyTorch's defaults for per-tensor observers: quint8, per_tensor_affine, no reduce_range,
    /// the dtype's full range, eps = f32 epsilon.
    pub const fn per_tensor() -> Self {
        UniformOptions {
            dtype: DType::QUInt8,
            qscheme: QScheme::PerTensorAffine,
            reduce_range: false,
            quant_min: None,
            quant_max: None,
            eps: DEFAULT_EPS,
        }
    }

    /// PyTorch's defaults for per-channel observers (as [`Self::per_tensor`] with
    /// `per_channel_affine`).
    pub const fn per_channel() -> Self {
        let mut o = Self::per_tensor();
        o.qscheme = QScheme::PerChannelAffine;
        o
    }

    /// Sets the dtype.
    pub const fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Sets the scheme.
    pub const fn qscheme(mut self, qscheme: QScheme) -> Self {
        self.qscheme = qscheme;
        self
    }

    /// Sets reduce_range.
    pub const fn reduce_range(mut self, on: bool) -> Self {
        self.reduce_range = on;
        self
    }

    /// Sets a custom integer range (e.g. `0, 15` for 4-bit).
    pub const fn quant_range(mut self, quant_min: i64, quant_max: i64) -> Self {
        self.quant_min = Some(quant_min);
        self.quant_max = Some(quant_max);
        self
    }

    /// Sets eps.
    pub const fn eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// Checks the options for observer `observer` and computes the effective integer range
    /// (PyTorch's `calculate_qmin_qmax`). `per_channel` says which family of schemes the
    /// observer accepts.
    pub fn resolve(
        &self,
        observer: &'static str,
        per_channel: bool,
    ) -> Result<ResolvedRange, QuantError> {
        if self.qscheme.is_per_channel() != per_channel {
            let family = if per_channel {
                "per_channel_affine, per_channel_symmetric or per_channel_affine_float_qparams"
            } else {
                "per_tensor_affine or per_tensor_symmetric"
            };
            return Err(QuantError::Unsupported {
                observer,
                what: format!("qscheme {} is not supported; use {family}", self.qscheme),
            });
        }
        let Some((dmin, dmax)) = self.dtype.int_range() else {
            return Err(QuantError::Unsupported {
                observer,
                what: format!(
                    "dtype {} is not a quantized dtype; use PlaceholderObserver for float dtypes",
                    self.dtype
                ),
            });
        };
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(QuantError::BadArgument {
                observer,
                arg: "eps",
                value: self.eps.to_string(),
                reason: "must be finite and > 0",
            });
        }
        if self.qscheme.is_symmetric() && self.reduce_range && self.dtype == DType::QUInt8 {
            return Err(QuantError::Unsupported {
                observer,
                what: "cannot reduce range for symmetric quantization for quint8 \
                       (PyTorch raises NotImplementedError); use qint8 or quant_min/quant_max"
                    .into(),
            });
        }
        let (quant_min, quant_max, customized) = match (self.quant_min, self.quant_max) {
            (Some(lo), Some(hi)) => {
                check_custom_range(observer, self.dtype, lo, hi, dmin, dmax)?;
                if self.reduce_range {
                    (lo.div_euclid(2), hi.div_euclid(2), true)
                } else {
                    (lo, hi, true)
                }
            }
            (None, None) => {
                let (lo, hi) = default_range(self.dtype, self.reduce_range);
                (lo, hi, false)
            }
            (lo, hi) => {
                return Err(QuantError::BadQuantRange {
                    observer,
                    quant_min: lo.unwrap_or(dmin),
                    quant_max: hi.unwrap_or(dmax),
                    reason: "give both quant_min and quant_max, or neither".into(),
                })
            }
        };
        Ok(ResolvedRange {
            quant_min,
            quant_max,
            customized,
        })
    }
}

/// The effective integer range of an observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedRange {
    /// Effective lower end (after reduce_range).
    pub quant_min: i64,
    /// Effective upper end (after reduce_range).
    pub quant_max: i64,
    /// True if the user gave quant_min / quant_max (`has_customized_qrange`).
    pub customized: bool,
}

fn check_custom_range(
    observer: &'static str,
    dtype: DType,
    lo: i64,
    hi: i64,
    dmin: i64,
    dmax: i64,
) -> Result<(), QuantError> {
    let bad = |reason: String| QuantError::BadQuantRange {
        observer,
        quant_min: lo,
        quant_max: hi,
        reason,
    };
    if !(lo <= 0 && 0 <= hi) {
        return Err(bad("the range must include 0".into()));
    }
    if lo >= hi {
        return Err(bad("quant_min must be strictly less than quant_max".into()));
    }
    if lo < dmin || hi > dmax {
        return Err(bad(format!("the range must fit {dtype}'s {dmin}..={dmax}")));
    }
    Ok(())
}

/// PyTorch's 8-bit defaults (`calculate_qmin_qmax` without a custom range).
fn default_range(dtype: DType, reduce_range: bool) -> (i64, i64) {
    match (dtype, reduce_range) {
        (DType::QInt8, true) => (-64, 63),
        (DType::QInt8, false) => (-128, 127),
        (DType::QUInt8, true) => (0, 127),
        (DType::QUInt8, false) => (0, 255),
        (DType::QInt32, _) => (i32::MIN as i64, i32::MAX as i64),
        _ => (0, 15),
    }
}

/// Everything `_calculate_qparams` needs besides min/max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParamsRule {
    /// Target dtype.
    pub dtype: DType,
    /// Scheme (decides symmetric / affine / float zero points).
    pub qscheme: QScheme,
    /// Effective range.
    pub range: ResolvedRange,
    /// Smallest scale.
    pub eps: f32,
}

impl QParamsRule {
    /// `_calculate_qparams(min_val, max_val)` for one channel, all arithmetic in `f32` as
    /// PyTorch's float32 tensors. Returns the scale and the zero point (an integer, or a float
    /// for `per_channel_affine_float_qparams`, as `f64`). The caller guarantees
    /// `min <= max`, both finite.
    pub fn channel(&self, min: f32, max: f32) -> (f32, f64) {
        let (qmin, qmax) = (self.range.quant_min, self.range.quant_max);
        let min_neg = min.min(0.0);
        let max_pos = max.max(0.0);
        if self.qscheme.is_symmetric() {
            let m = (-min_neg).max(max_pos);
            let scale = (m / ((qmax - qmin) as f64 / 2.0) as f32).max(self.eps);
            let zp = if self.dtype == DType::QUInt8 {
                if self.range.customized {
                    (qmin + qmax).div_euclid(2)
                } else {
                    128
                }
            } else {
                0
            };
            (scale, zp as f64)
        } else if self.qscheme == QScheme::PerChannelAffineFloatQParams {
            let scale = (max - min) / (qmax - qmin) as f32;
            let scale = if scale > self.eps { scale } else { 1.0 };
            (scale, f64::from(-min / scale))
        } else {
            let scale = ((max_pos - min_neg) / (qmax - qmin) as f32).max(self.eps);
            // `.to(torch.int)` of the rounded quotient, then `quant_min - ...` and clamp.
            let r = (min_neg / scale).round_ties_even() as i64;
            let zp = (qmin - r).clamp(qmin, qmax);
            (scale, zp as f64)
        }
    }

    /// `_calculate_qparams` over channels. A channel never observed (min `+inf`, max `-inf`)
    /// gets PyTorch's fallback (scale 1, zero point 0) and sets `fallback` in the result.
    pub fn calculate(&self, min: &[f32], max: &[f32], axis: Option<usize>) -> QParamsOut {
        let float_zp = self.qscheme == QScheme::PerChannelAffineFloatQParams;
        let mut scales = Vec::with_capacity(min.len());
        let mut zps = Vec::with_capacity(min.len());
        let mut unobserved = 0usize;
        for (&lo, &hi) in min.iter().zip(max) {
            if lo > hi || !lo.is_finite() || !hi.is_finite() {
                unobserved += 1;
                scales.push(1.0);
                zps.push(0.0);
            } else {
                let (s, z) = self.channel(lo, hi);
                scales.push(s);
                zps.push(z);
            }
        }
        let zero_points = if float_zp {
            ZeroPoints::Float(zps.iter().map(|&z| z as f32).collect())
        } else {
            ZeroPoints::Int(zps.iter().map(|&z| z as i64).collect())
        };
        QParamsOut {
            scales,
            zero_points,
            qscheme: self.qscheme,
            axis,
            dtype: self.dtype,
            quant_min: self.range.quant_min,
            quant_max: self.range.quant_max,
            fallback_channels: unobserved,
        }
    }

    /// PyTorch's result for an observer that saw nothing: scale `[1.0]`, zero point `[0]`.
    pub fn fallback(&self) -> QParamsOut {
        let zero_points = if self.qscheme == QScheme::PerChannelAffineFloatQParams {
            ZeroPoints::Float(vec![0.0])
        } else {
            ZeroPoints::Int(vec![0])
        };
        QParamsOut {
            scales: vec![1.0],
            zero_points,
            qscheme: self.qscheme,
            axis: None,
            dtype: self.dtype,
            quant_min: self.range.quant_min,
            quant_max: self.range.quant_max,
            fallback_channels: 1,
        }
    }
}
