//! `QTensor`: integer storage plus the quantization parameters that give it meaning.

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::rounding::dequantize_val;
use crate::{QDType, QError, QParams, QScheme};

/// An integer element type that can hold quantized values.
pub trait QStorage: Copy + Default + Send + Sync + 'static {
    /// The quantized dtype stored in this integer type.
    const DTYPE: QDType;
    /// Converts an already clamped value.
    fn from_i64(v: i64) -> Self;
    /// Widens to `i64`.
    fn to_i64(self) -> i64;
    /// Wraps an array of this type as [`QData`].
    fn wrap(a: ArrayD<Self>) -> QData;
}

macro_rules! storage {
    ($t:ty, $dtype:ident) => {
        impl QStorage for $t {
            const DTYPE: QDType = QDType::$dtype;
            #[inline]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline]
            fn to_i64(self) -> i64 {
                i64::from(self)
            }
            fn wrap(a: ArrayD<Self>) -> QData {
                QData::$dtype(a)
            }
        }
    };
}
storage!(u8, QUInt8);
storage!(i8, QInt8);
storage!(i32, QInt32);

/// The integer representation of a quantized tensor, one variant per dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum QData {
    /// `torch.quint8` values.
    QUInt8(ArrayD<u8>),
    /// `torch.qint8` values.
    QInt8(ArrayD<i8>),
    /// `torch.qint32` values.
    QInt32(ArrayD<i32>),
}

/// Applies `$f` to the array inside a [`QData`] whatever its element type, rewrapping the result.
macro_rules! map_qdata {
    ($data:expr, |$a:ident| $body:expr) => {
        match $data {
            $crate::QData::QUInt8($a) => $crate::QData::QUInt8($body),
            $crate::QData::QInt8($a) => $crate::QData::QInt8($body),
            $crate::QData::QInt32($a) => $crate::QData::QInt32($body),
        }
    };
}
pub(crate) use map_qdata;

/// Evaluates `$body` on the array inside a [`QData`] whatever its element type.
macro_rules! with_qdata {
    ($data:expr, |$a:ident| $body:expr) => {
        match $data {
            $crate::QData::QUInt8($a) => $body,
            $crate::QData::QInt8($a) => $body,
            $crate::QData::QInt32($a) => $body,
        }
    };
}

impl QData {
    /// The dtype of the values.
    pub fn dtype(&self) -> QDType {
        match self {
            QData::QUInt8(_) => QDType::QUInt8,
            QData::QInt8(_) => QDType::QInt8,
            QData::QInt32(_) => QDType::QInt32,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        with_qdata!(self, |a| a.shape())
    }

    /// The values widened to `i64`, in row-major order.
    pub fn to_i64(&self) -> ArrayD<i64> {
        with_qdata!(self, |a| a.mapv(QStorage::to_i64))
    }
}

/// A quantized tensor (`torch.Tensor` with a quantized dtype): integer values plus [`QParams`].
///
/// Real value of an element: `scale * (q - zero_point)`, with the channel's parameters for
/// per-channel tensors. Storage is always row-major (contiguous).
#[derive(Debug, Clone, PartialEq)]
pub struct QTensor {
    data: QData,
    qparams: QParams,
}

impl QTensor {
    /// Builds a quantized tensor from an integer representation and its parameters
    /// (`torch._make_per_tensor_quantized_tensor` / `_make_per_channel_quantized_tensor`).
    ///
    /// Errors if a scale is not finite and positive, a zero point does not fit the dtype, or the
    /// per-channel parameters do not match the channel axis.
    pub fn from_int_repr(data: QData, qparams: QParams) -> Result<Self, QError> {
        qparams.validate(data.dtype(), data.shape())?;
        let data = map_qdata!(data, |a| a.as_standard_layout().into_owned());
        Ok(QTensor { data, qparams })
    }

    /// Internal constructor for results whose parameters are known to be valid.
    pub(crate) fn from_parts(data: QData, qparams: QParams) -> Self {
        QTensor { data, qparams }
    }

    /// The integer values (`int_repr()`).
    pub fn int_repr(&self) -> &QData {
        &self.data
    }

    /// Consumes the tensor, returning its integer values and parameters.
    pub fn into_parts(self) -> (QData, QParams) {
        (self.data, self.qparams)
    }

    /// The values as `u8` if the dtype is quint8.
    pub fn as_u8(&self) -> Option<ArrayViewD<'_, u8>> {
        match &self.data {
            QData::QUInt8(a) => Some(a.view()),
            _ => None,
        }
    }

    /// The values as `i8` if the dtype is qint8.
    pub fn as_i8(&self) -> Option<ArrayViewD<'_, i8>> {
        match &self.data {
            QData::QInt8(a) => Some(a.view()),
            _ => None,
        }
    }

    /// The values as `i32` if the dtype is qint32.
    pub fn as_i32(&self) -> Option<ArrayViewD<'_, i32>> {
        match &self.data {
            QData::QInt32(a) => Some(a.view()),
            _ => None,
        }
    }

    /// The quantization parameters.
    pub fn qparams(&self) -> &QParams {
        &self.qparams
    }

    /// The dtype (`quint8`, `qint8`, `qint32`).
    pub fn dtype(&self) -> QDType {
        self.data.dtype()
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The scheme (`qscheme()`); always an affine variant, as PyTorch reports.
    pub fn qscheme(&self) -> QScheme {
        self.qparams.qscheme()
    }

    /// The scale of a per-tensor quantized tensor (`q_scale()`).
    pub fn q_scale(&self) -> Result<f64, QError> {
        match &self.qparams {
            QParams::PerTensor { scale, .. } => Ok(*scale),
            _ => Err(self.wrong_scheme("q_scale", "per-tensor")),
        }
    }

    /// The zero point of a per-tensor quantized tensor (`q_zero_point()`).
    pub fn q_zero_point(&self) -> Result<i64, QError> {
        match &self.qparams {
            QParams::PerTensor { zero_point, .. } => Ok(*zero_point),
            _ => Err(self.wrong_scheme("q_zero_point", "per-tensor")),
        }
    }

    /// The scales of a per-channel tensor (`q_per_channel_scales()`), as `f64`.
    pub fn q_per_channel_scales(&self) -> Result<Vec<f64>, QError> {
        match &self.qparams {
            QParams::PerChannel { scales, .. } => Ok(scales.clone()),
            QParams::PerChannelFloat { scales, .. } => {
                Ok(scales.iter().map(|&s| f64::from(s)).collect())
            }
            QParams::PerTensor { .. } => {
                Err(self.wrong_scheme("q_per_channel_scales", "per-channel"))
            }
        }
    }

    /// The zero points of a per-channel tensor (`q_per_channel_zero_points()`), as `f64`
    /// (integers for `per_channel_affine`, arbitrary floats for the float-qparams scheme).
    pub fn q_per_channel_zero_points(&self) -> Result<Vec<f64>, QError> {
        match &self.qparams {
            QParams::PerChannel { zero_points, .. } => {
                Ok(zero_points.iter().map(|&z| z as f64).collect())
            }
            QParams::PerChannelFloat { zero_points, .. } => {
                Ok(zero_points.iter().map(|&z| f64::from(z)).collect())
            }
            QParams::PerTensor { .. } => {
                Err(self.wrong_scheme("q_per_channel_zero_points", "per-channel"))
            }
        }
    }

    /// The channel axis of a per-channel tensor (`q_per_channel_axis()`).
    pub fn q_per_channel_axis(&self) -> Result<usize, QError> {
        self.qparams
            .axis()
            .ok_or_else(|| self.wrong_scheme("q_per_channel_axis", "per-channel"))
    }

    fn wrong_scheme(&self, op: &'static str, expected: &'static str) -> QError {
        QError::WrongScheme {
            op,
            expected,
            got: self.qscheme().name(),
        }
    }

    /// Real values: `scale * (q - zero_point)` per element (`dequantize()`).
    pub fn dequantize(&self) -> ArrayD<f32> {
        with_qdata!(&self.data, |a| dequantize_array(a, &self.qparams))
    }
}

/// Size of the dimensions after `axis` (the stride of the channel index in row-major order).
pub(crate) fn inner_size(shape: &[usize], axis: usize) -> usize {
    shape[axis + 1..].iter().product()
}

fn dequantize_array<T: QStorage>(a: &ArrayD<T>, qparams: &QParams) -> ArrayD<f32> {
    let shape = IxDyn(a.shape());
    let values = a.iter().copied();
    let out: Vec<f32> = match qparams {
        QParams::PerTensor { scale, zero_point } => values
            .map(|q| dequantize_val(q.to_i64(), *scale, *zero_point))
            .collect(),
        QParams::PerChannel {
            scales,
            zero_points,
            axis,
        } => {
            let inner = inner_size(a.shape(), *axis).max(1);
            let channels = scales.len().max(1);
            values
                .enumerate()
                .map(|(i, q)| {
                    let c = (i / inner) % channels;
                    dequantize_val(q.to_i64(), scales[c], zero_points[c])
                })
                .collect()
        }
        QParams::PerChannelFloat {
            scales,
            zero_points,
            axis,
        } => {
            let inner = inner_size(a.shape(), *axis).max(1);
            let channels = scales.len().max(1);
            values
                .enumerate()
                .map(|(i, q)| {
                    let c = (i / inner) % channels;
                    (q.to_i64() as f32 - zero_points[c]) * scales[c]
                })
                .collect()
        }
    };
    ArrayD::from_shape_vec(shape, out).expect("same element count as the input")
}
