//! Quantized layer, group and instance normalization (`quantized::layer_norm`, `group_norm`,
//! `instance_norm`) with the numerics of PyTorch's `quantized_normalize_kernel`.
//!
//! Statistics come from integer sums of the stored values (`sum q`, `sum q^2`), so the mean and
//! variance are exact up to their final `f32` rounding:
//!
//! - `mean_shifted = (sum q) as f32 / N`, `mean = mean_shifted - zero_point` (in units of the
//!   input scale),
//! - `var = max((sum q^2) as f32 / N - mean_shifted^2, 0)`,
//! - `s = scale_x / sqrt(var * scale_x^2 + eps)` (the square root in `f64`, as `eps` is a
//!   double in PyTorch),
//! - `y = ((q - zp) - mean) * s * gamma + beta` for layer norm, `((q - zp) - mean) * (s * gamma)
//!   + beta` when the affine parameters are per channel (group / instance norm),
//! - quantized with the output parameters (`round_half_even(y * (1 / scale_y)) + zp_y`).

use ndarray::ArrayD;
use qtensor::rounding::{inv_scale, quantize_val};
use qtensor::{QDType, QData, QParams, QTensor};

use super::QOpError;

/// The shared kernel: `rows` rows of `n` values, each row normalized on its own; `affine`
/// describes how gamma / beta are indexed.
struct Normalize<'a> {
    op: &'static str,
    n: usize,
    affine: Affine<'a>,
    eps: f64,
    out_scale: f64,
    out_zero_point: i64,
}

/// How gamma / beta apply to a row.
enum Affine<'a> {
    /// One value per element of the row (layer norm), or none.
    PerElement(Option<&'a [f32]>, Option<&'a [f32]>),
    /// One value per channel; a row holds `channels_per_row` channels of `per_channel` values,
    /// row `i` starting at channel `(i * channels_per_row) % channels` (group / instance norm).
    PerChannel {
        gamma: Option<&'a [f32]>,
        beta: Option<&'a [f32]>,
        channels: usize,
        channels_per_row: usize,
    },
}

fn per_tensor(op: &'static str, x: &QTensor) -> Result<(f32, i64), QOpError> {
    match x.qparams() {
        QParams::PerTensor { scale, zero_point } => Ok((*scale as f32, *zero_point)),
        _ => Err(QOpError::PerChannelActivation { op, arg: "input" }),
    }
}

fn check_len(op: &'static str, what: &str, v: Option<&[f32]>, want: usize) -> Result<(), QOpError> {
    match v {
        Some(v) if v.len() != want => Err(QOpError::Shape {
            op,
            msg: format!("{what} has {} values, expected {want}", v.len()),
        }),
        _ => Ok(()),
    }
}

impl Normalize<'_> {
    fn run(&self, x: &QTensor) -> Result<QTensor, QOpError> {
        let op = self.op;
        if x.dtype() == QDType::QInt32 {
            return Err(QOpError::DType {
                op,
                arg: "input",
                got: x.dtype(),
                expected: "quint8 or qint8",
            });
        }
        qtensor::check_scale("output scale", self.out_scale)?;
        qtensor::check_zero_point("output zero_point", self.out_zero_point, x.dtype())?;
        let (x_scale, x_zp) = per_tensor(op, x)?;
        let q = x.int_repr().to_i64();
        let values = q.as_slice().expect("to_i64 is row-major");
        let (lo, hi) = (x.dtype().min(), x.dtype().max());
        let inv = inv_scale(self.out_scale);
        let y_zp = self.out_zero_point as i32;
        let n = self.n;
        let mut out = vec![0i64; values.len()];
        if n > 0 {
            for (i, (row, dst)) in values.chunks(n).zip(out.chunks_mut(n)).enumerate() {
                let sum: i64 = row.iter().sum();
                let sum_sq: i64 = row.iter().map(|v| v * v).sum();
                let mean_shifted = sum as f32 / n as f32;
                let mean = mean_shifted - x_zp as f32;
                let var = (sum_sq as f32 / n as f32 - mean_shifted * mean_shifted).max(0.0);
                let denom = (f64::from(var * x_scale * x_scale) + self.eps).sqrt();
                let s = (f64::from(x_scale) / denom) as f32;
                match &self.affine {
                    Affine::PerElement(gamma, beta) => {
                        for (j, (&v, d)) in row.iter().zip(dst.iter_mut()).enumerate() {
                            let g = gamma.map_or(1.0, |g| g[j]);
                            let b = beta.map_or(0.0, |b| b[j]);
                            let y = ((v - x_zp) as f32 - mean) * s * g + b;
                            *d = quantize_val(y, inv, y_zp, lo, hi);
                        }
                    }
                    Affine::PerChannel {
                        gamma,
                        beta,
                        channels,
                        channels_per_row,
                    } => {
                        let per_channel = n / channels_per_row;
                        for (c, (src, d)) in row
                            .chunks(per_channel.max(1))
                            .zip(dst.chunks_mut(per_channel.max(1)))
                            .enumerate()
                        {
                            let idx = (i * channels_per_row + c) % channels;
                            let g = s * gamma.map_or(1.0, |g| g[idx]);
                            let b = beta.map_or(0.0, |b| b[idx]);
                            for (&v, o) in src.iter().zip(d.iter_mut()) {
                                let y = ((v - x_zp) as f32 - mean) * g + b;
                                *o = quantize_val(y, inv, y_zp, lo, hi);
                            }
                        }
                    }
                }
            }
        }
        let shape = x.shape().to_vec();
        let data = match x.dtype() {
            QDType::QUInt8 => QData::QUInt8(to_array(&shape, &out, |v| v as u8)?),
            _ => QData::QInt8(to_array(&shape, &out, |v| v as i8)?),
        };
        Ok(QTensor::from_int_repr(
            data,
            QParams::PerTensor {
                scale: self.out_scale,
                zero_point: self.out_zero_point,
            },
        )?)
    }
}

fn to_array<T>(shape: &[usize], v: &[i64], f: impl Fn(i64) -> T) -> Result<ArrayD<T>, QOpError> {
    ArrayD::from_shape_vec(shape.to_vec(), v.iter().map(|&x| f(x)).collect()).map_err(|e| {
        QOpError::Shape {
            op: "normalize",
            msg: e.to_string(),
        }
    })
}

/// Parameters of a quantized normalization: affine weights, `eps` and the output's quantization.
#[derive(Debug, Clone, Copy)]
pub struct NormParams<'a> {
    /// gamma (`None`: ones).
    pub weight: Option<&'a [f32]>,
    /// beta (`None`: zeros).
    pub bias: Option<&'a [f32]>,
    /// Added to the variance.
    pub eps: f64,
    /// Output scale.
    pub scale: f64,
    /// Output zero point.
    pub zero_point: i64,
}

/// `quantized::layer_norm`: normalizes over the trailing `normalized_shape` dimensions;
/// `weight` / `bias` have `prod(normalized_shape)` values.
pub fn layer_norm(
    x: &QTensor,
    normalized_shape: &[usize],
    p: &NormParams<'_>,
) -> Result<QTensor, QOpError> {
    const OP: &str = "layer_norm";
    let s = x.shape();
    if normalized_shape.is_empty()
        || normalized_shape.len() > s.len()
        || s[s.len() - normalized_shape.len()..] != *normalized_shape
    {
        return Err(QOpError::Shape {
            op: OP,
            msg: format!(
                "normalized_shape {normalized_shape:?} must be the trailing dimensions of the input {s:?}"
            ),
        });
    }
    let n: usize = normalized_shape.iter().product();
    check_len(OP, "weight", p.weight, n)?;
    check_len(OP, "bias", p.bias, n)?;
    Normalize {
        op: OP,
        n,
        affine: Affine::PerElement(p.weight, p.bias),
        eps: p.eps,
        out_scale: p.scale,
        out_zero_point: p.zero_point,
    }
    .run(x)
}

/// `quantized::group_norm`: input `(N, C, *)`, `C` split into `num_groups` groups normalized
/// separately; `weight` / `bias` have `C` values.
pub fn group_norm(x: &QTensor, num_groups: usize, p: &NormParams<'_>) -> Result<QTensor, QOpError> {
    group_norm_op("group_norm", x, num_groups, p)
}

/// `quantized::instance_norm`: input `(N, C, *)`, each channel of each sample normalized on its
/// own (a group norm with one channel per group, as PyTorch computes it).
pub fn instance_norm(x: &QTensor, p: &NormParams<'_>) -> Result<QTensor, QOpError> {
    let c = x.shape().get(1).copied().unwrap_or(0);
    group_norm_op("instance_norm", x, c, p)
}

fn group_norm_op(
    op: &'static str,
    x: &QTensor,
    num_groups: usize,
    p: &NormParams<'_>,
) -> Result<QTensor, QOpError> {
    let s = x.shape();
    if s.len() < 2 || num_groups == 0 || !s[1].is_multiple_of(num_groups) {
        return Err(QOpError::Shape {
            op,
            msg: format!("input {s:?} must be (N, C, *) with C divisible by {num_groups} groups"),
        });
    }
    let channels = s[1];
    check_len(op, "weight", p.weight, channels)?;
    check_len(op, "bias", p.bias, channels)?;
    let inner: usize = s[2..].iter().product();
    let channels_per_row = channels / num_groups;
    Normalize {
        op,
        n: channels_per_row * inner,
        affine: Affine::PerChannel {
            gamma: p.weight,
            beta: p.bias,
            channels,
            channels_per_row,
        },
        eps: p.eps,
        out_scale: p.scale,
        out_zero_point: p.zero_point,
    }
    .run(x)
}
