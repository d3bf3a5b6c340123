//! Small parameter structs at the public boundary: quantization parameters, tensor views and
//! owned results.

use crate::KernelError;

/// Affine parameters of a `quint8` tensor: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct U8Quant {
    /// Step between adjacent integers (PyTorch keeps it as `f64`).
    pub scale: f64,
    /// Integer that represents real 0.
    pub zero_point: u8,
}

impl U8Quant {
    /// Builds parameters, checking the scale.
    pub fn new(scale: f64, zero_point: u8) -> Result<Self, KernelError> {
        check_scale("scale", scale)?;
        Ok(U8Quant { scale, zero_point })
    }

    /// The scale as PyTorch's kernels see it (`float`).
    pub fn scale_f32(&self) -> f32 {
        self.scale as f32
    }

    pub(crate) fn validate(&self, arg: &'static str) -> Result<(), KernelError> {
        check_scale(arg, self.scale)
    }
}

/// Errors unless `scale` is finite, positive and a normal `f32` (QNNPACK's `isnormal` check).
pub(crate) fn check_scale(arg: &'static str, scale: f64) -> Result<(), KernelError> {
    let s = scale as f32;
    if scale.is_finite() && scale > 0.0 && s.is_normal() {
        Ok(())
    } else {
        Err(KernelError::BadScale { arg, value: scale })
    }
}

/// Quantization of `qint8` weights, one entry per output channel or one for all.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightQuant {
    /// One scale and zero point for the whole weight.
    PerTensor {
        /// Scale (`f64`, as PyTorch stores it).
        scale: f64,
        /// `qint8` zero point.
        zero_point: i8,
    },
    /// One scale and zero point per output channel.
    PerChannel {
        /// One scale per output channel.
        scales: Vec<f64>,
        /// One `qint8` zero point per output channel.
        zero_points: Vec<i8>,
    },
}

impl WeightQuant {
    /// Scale and zero point of output channel `c`.
    pub(crate) fn channel(&self, c: usize) -> (f64, i8) {
        match self {
            WeightQuant::PerTensor { scale, zero_point } => (*scale, *zero_point),
            WeightQuant::PerChannel {
                scales,
                zero_points,
            } => (scales[c], zero_points[c]),
        }
    }

    /// Checks scales and, for per-channel parameters, the channel count.
    pub(crate) fn validate(&self, channels: usize) -> Result<(), KernelError> {
        match self {
            WeightQuant::PerTensor { scale, .. } => check_scale("weight scale", *scale),
            WeightQuant::PerChannel {
                scales,
                zero_points,
            } => {
                for (arg, got) in [
                    ("weight scales", scales.len()),
                    ("weight zero_points", zero_points.len()),
                ] {
                    if got != channels {
                        return Err(KernelError::LengthMismatch {
                            arg,
                            expected: channels,
                            got,
                        });
                    }
                }
                scales
                    .iter()
                    .try_for_each(|&s| check_scale("weight scales", s))
            }
        }
    }
}

/// Memory order of a 3-, 4- or 5-dimensional activation; shapes are always given in PyTorch's
/// logical order `(N, C, spatial...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Contiguous `(N, C, spatial...)` (PyTorch's default).
    #[default]
    Nchw,
    /// Channels last: `(N, spatial..., C)` in memory (QNNPACK's native order).
    Nhwc,
}

/// A borrowed `quint8` tensor: integer values, logical shape, parameters and memory layout.
#[derive(Debug, Clone, Copy)]
pub struct QView<'a> {
    /// The integer values, `shape.iter().product()` of them.
    pub data: &'a [u8],
    /// Logical shape (PyTorch order).
    pub shape: &'a [usize],
    /// Quantization parameters.
    pub quant: U8Quant,
    /// Memory order of `data` (matters only for spatial operations).
    pub layout: Layout,
}

impl<'a> QView<'a> {
    /// A contiguous (`Nchw`) view.
    pub fn new(data: &'a [u8], shape: &'a [usize], quant: U8Quant) -> Self {
        QView {
            data,
            shape,
            quant,
            layout: Layout::Nchw,
        }
    }

    /// The same view with another memory layout.
    pub fn with_layout(self, layout: Layout) -> Self {
        QView { layout, ..self }
    }

    /// Checks the length against the shape and the parameters.
    pub(crate) fn validate(&self, arg: &'static str) -> Result<(), KernelError> {
        self.quant.validate(arg)?;
        let expected = self.shape.iter().product::<usize>();
        if self.data.len() != expected {
            return Err(KernelError::LengthMismatch {
                arg,
                expected,
                got: self.data.len(),
            });
        }
        Ok(())
    }
}

/// An owned `quint8` result: values, logical shape, parameters and layout (that of the input).
#[derive(Debug, Clone, PartialEq)]
pub struct QBuf {
    /// The integer values.
    pub data: Vec<u8>,
    /// Logical shape (PyTorch order).
    pub shape: Vec<usize>,
    /// Quantization parameters of the result.
    pub quant: U8Quant,
    /// Memory order of `data`.
    pub layout: Layout,
}

impl QBuf {
    /// Borrows the result as a view (to feed it to the next kernel).
    pub fn view(&self) -> QView<'_> {
        QView {
            data: &self.data,
            shape: &self.shape,
            quant: self.quant,
            layout: self.layout,
        }
    }
}

/// Output parameters of a linear or convolution: quantization and a fused ReLU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputSpec {
    /// Quantization of the output.
    pub quant: U8Quant,
    /// Clamp below at the zero point (`linear_relu`, `conv2d_relu`).
    pub relu: bool,
}

impl OutputSpec {
    /// Output parameters without ReLU.
    pub fn new(quant: U8Quant) -> Self {
        OutputSpec { quant, relu: false }
    }

    /// Output parameters with a fused ReLU.
    pub fn relu(quant: U8Quant) -> Self {
        OutputSpec { quant, relu: true }
    }

    /// `(output_min, output_max)` as PyTorch's `activationLimits` computes them.
    pub(crate) fn limits(&self) -> (u8, u8) {
        if self.relu {
            (crate::requant::relu_min(self.quant), 255)
        } else {
            (0, 255)
        }
    }
}
