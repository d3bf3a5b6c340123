//! `nn.Upsample`.

use crate::error::{NnError, Result};
use crate::functional::{interpolate, UpsampleMode, UpsampleSize};
use crate::layers::{repr, training_flag};
use crate::module::{Module, Value};
use crate::quant_ops::quant_ops;

/// Resizes `(N, C, H, W)` by nearest or bilinear interpolation (`nn.Upsample`); quantized
/// inputs go to the registered kernels.
#[derive(Debug, Clone)]
pub struct Upsample {
    /// Output size or scale factor.
    pub size: UpsampleSize,
    /// Interpolation.
    pub mode: UpsampleMode,
    training: bool,
}

impl Upsample {
    /// `Upsample(size | scale_factor, mode)`.
    pub fn new(size: UpsampleSize, mode: UpsampleMode) -> Upsample {
        Upsample {
            size,
            mode,
            training: true,
        }
    }
}

impl Module for Upsample {
    fn type_name(&self) -> &'static str {
        "Upsample"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        match input {
            Value::Quant(q) => {
                let s = q.shape();
                if s.len() != 4 {
                    return Err(NnError::input_shape("Upsample", "(N, C, H, W)", s));
                }
                let size = match self.size {
                    UpsampleSize::Size(sz) => sz,
                    UpsampleSize::Scale(f) => [
                        (s[2] as f64 * f[0]).floor() as usize,
                        (s[3] as f64 * f[1]).floor() as usize,
                    ],
                };
                let (mode, ac) = match self.mode {
                    UpsampleMode::Nearest => ("nearest", false),
                    UpsampleMode::Bilinear { align_corners } => ("bilinear", align_corners),
                };
                Ok(Value::Quant(
                    quant_ops("upsample")?.upsample(&q, size, mode, ac)?,
                ))
            }
            other => {
                let x = other.into_float("Upsample")?;
                let y = interpolate(&x, self.size, self.mode).map_err(|e| match e {
                    NnError::InputShape { expected, got, .. } => NnError::InputShape {
                        module: "Upsample".into(),
                        expected,
                        got,
                    },
                    e => e,
                })?;
                Ok(Value::Float(y))
            }
        }
    }
    fn extra_repr(&self) -> String {
        let size = match self.size {
            UpsampleSize::Size(s) => format!("size={}", repr::tuple(&s)),
            UpsampleSize::Scale(f) if f[0] == f[1] => format!("scale_factor={}", repr::float(f[0])),
            UpsampleSize::Scale(f) => format!(
                "scale_factor=({}, {})",
                repr::float(f[0]),
                repr::float(f[1])
            ),
        };
        match self.mode {
            UpsampleMode::Nearest => format!("{size}, mode='nearest'"),
            UpsampleMode::Bilinear { align_corners } => format!(
                "{size}, mode='bilinear'{}",
                if align_corners {
                    ", align_corners=True"
                } else {
                    ""
                }
            ),
        }
    }
    training_flag!();
}
