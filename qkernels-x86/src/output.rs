//! The fused output pipeline, described as data.
//!
//! After the integer GEMM, each accumulator goes through PyTorch's fbgemm
//! `ReQuantizeOutput` with a float bias, as its vectorised x86 code computes
//! it (PyTorch's build contracts `a * b + c` into one fused multiply-add, which
//! the fixtures confirm):
//!
//! ```text
//! x   = acc - a_zp * col_offset[j] - row_sum[i] * w_zp[j]     (wrapping i32)
//! f   = fma(bias[j], rcp, f32(x))          per-tensor weight: rcp = f32(1.0 / f64(act_times_w_scale))
//!     = f32(x) + bias[j] / act_times_w_scale[j]               per-channel weight
//! y   = f * multiplier[j]                                     (f32)
//! r   = round_to_nearest_even(y)        (out of i32 range or NaN -> i32::MIN, as cvtps2dq)
//! out = clamp(r + out_zp, clamp_min, clamp_max)               (ReLU: clamp_min = out_zp)
//! ```
//!
//! with `act_times_w_scale[j] = f32(act_scale) * f32(w_scale[j])` and
//! `multiplier[j] = act_times_w_scale[j] / f32(out_scale)`.
//!
//! The float pipeline (dynamic linear, fbgemm `ReQuantizeForFloat`) is
//! `out = fma(f32(x), f32(act_scale) * f32(w_scale[j]), bias[j])`, then ReLU as
//! `max(0, out)` (keeping `-0.0` and NaN like `maxps`).

use crate::error::{KernelError, Result};
use crate::quant::{cvt_f32_i32_nearest, validate_zero_point, QParams, WeightQuant};

/// A per-tensor value or one value per output column.
#[derive(Debug, Clone, PartialEq)]
pub enum Granular<T> {
    /// One value for every column.
    PerTensor(T),
    /// One value per output column.
    PerChannel(Vec<T>),
}

impl<T: Copy> Granular<T> {
    /// The value for column `j`.
    pub fn get(&self, j: usize) -> T {
        match self {
            Granular::PerTensor(v) => *v,
            Granular::PerChannel(v) => v[j],
        }
    }

    fn check_len(&self, n: usize, what: &'static str) -> Result<()> {
        match self {
            Granular::PerChannel(v) if v.len() != n => Err(KernelError::LengthMismatch {
                what,
                expected: n,
                got: v.len(),
            }),
            _ => Ok(()),
        }
    }

    fn expand(&self, n: usize) -> Vec<T> {
        (0..n).map(|j| self.get(j)).collect()
    }
}

/// What to apply after requantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Nothing: clamp to 0..=255.
    #[default]
    Identity,
    /// ReLU: clamp below at the output zero point (fbgemm's fused ReLU).
    Relu,
    /// Clamp the quantized output to `min..=max`.
    Clamp {
        /// Lower bound (quantized).
        min: u8,
        /// Upper bound (quantized).
        max: u8,
    },
}

/// How a float bias is brought into accumulator units.
#[derive(Debug, Clone, PartialEq)]
pub enum BiasScaling {
    /// `fma(bias[j], reciprocal, f32(x))` (fbgemm, per-tensor weights).
    Reciprocal(f32),
    /// `f32(x) + bias[j] / act_times_w_scale[j]` (fbgemm, per-channel weights).
    Divide(Vec<f32>),
}

/// A float bias and how it enters the accumulator.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineBias {
    /// Float bias, one per output column.
    pub values: Vec<f32>,
    /// Scaling into accumulator units.
    pub scaling: BiasScaling,
}

/// Requantizing output pipeline for u8 outputs (see the module docs for the formula).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputPipeline {
    /// `act_times_w_scale / out_scale`, per tensor or per column.
    pub multiplier: Granular<f32>,
    /// Optional float bias.
    pub bias: Option<PipelineBias>,
    /// Output zero point (0..=255).
    pub zero_point: i32,
    /// Lowest quantized output (ReLU sets it to the zero point).
    pub clamp_min: u8,
    /// Highest quantized output.
    pub clamp_max: u8,
}

impl OutputPipeline {
    /// Builds the pipeline exactly as PyTorch's fbgemm linear/conv do from the
    /// activation scale, the weight quantization, a float bias and the output
    /// quantization. `n` is the number of output columns (channels).
    pub fn requantize(
        act_scale: f64,
        weight: &WeightQuant,
        bias: Option<&[f32]>,
        out: QParams,
        activation: Activation,
        n: usize,
    ) -> Result<Self> {
        crate::quant::validate_scale(act_scale, "activation scale")?;
        out.validate_u8("output")?;
        weight.validate(n)?;
        let act = act_scale as f32;
        let out_scale = out.scale as f32;
        let ats_of = |j: usize| act * weight.scale_f32(j);
        let count = if weight.is_per_channel() { n } else { 1 };
        for j in 0..count {
            let ats = ats_of(j);
            let mult = ats / out_scale;
            if !(ats.is_normal() && ats > 0.0 && mult.is_finite() && mult > 0.0) {
                return Err(KernelError::InvalidScale {
                    what: "activation scale * weight scale (as f32)",
                    value: ats as f64,
                });
            }
        }
        let multiplier = if weight.is_per_channel() {
            Granular::PerChannel((0..n).map(|j| ats_of(j) / out_scale).collect())
        } else {
            Granular::PerTensor(ats_of(0) / out_scale)
        };
        let bias = match bias {
            None => None,
            Some(b) => {
                check_bias(b, n)?;
                let scaling = if weight.is_per_channel() {
                    BiasScaling::Divide((0..n).map(ats_of).collect())
                } else {
                    BiasScaling::Reciprocal((1.0f64 / ats_of(0) as f64) as f32)
                };
                Some(PipelineBias {
                    values: b.to_vec(),
                    scaling,
                })
            }
        };
        let (clamp_min, clamp_max) = match activation {
            Activation::Identity => (0, 255),
            Activation::Relu => (out.zero_point as u8, 255),
            Activation::Clamp { min, max } => {
                if min > max {
                    return Err(KernelError::InvalidClamp {
                        min: min as i64,
                        max: max as i64,
                    });
                }
                (min, max)
            }
        };
        Ok(OutputPipeline {
            multiplier,
            bias,
            zero_point: out.zero_point,
            clamp_min,
            clamp_max,
        })
    }

    /// Checks the pipeline against `n` output columns.
    pub(crate) fn validate(&self, n: usize) -> Result<()> {
        self.multiplier.check_len(n, "output multipliers")?;
        if let Some(b) = &self.bias {
            if b.values.len() != n {
                return Err(KernelError::LengthMismatch {
                    what: "bias",
                    expected: n,
                    got: b.values.len(),
                });
            }
            if let BiasScaling::Divide(d) = &b.scaling {
                if d.len() != n {
                    return Err(KernelError::LengthMismatch {
                        what: "bias divisors",
                        expected: n,
                        got: d.len(),
                    });
                }
            }
        }
        validate_zero_point(self.zero_point, "output", 0, 255)?;
        if self.clamp_min > self.clamp_max {
            return Err(KernelError::InvalidClamp {
                min: self.clamp_min as i64,
                max: self.clamp_max as i64,
            });
        }
        Ok(())
    }
}

/// Float output pipeline of dynamic linear (fbgemm `ReQuantizeForFloat`).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatPipeline {
    /// `f32(act_scale) * f32(w_scale)`, per tensor or per column.
    pub scale: Granular<f32>,
    /// Float bias, one per column.
    pub bias: Option<Vec<f32>>,
    /// Apply `max(0, y)`.
    pub relu: bool,
}

impl FloatPipeline {
    /// Builds the pipeline as fbgemm's dynamic linear does.
    pub fn dequantize(
        act_scale: f32,
        weight: &WeightQuant,
        bias: Option<&[f32]>,
        relu: bool,
        n: usize,
    ) -> Result<Self> {
        weight.validate(n)?;
        let scale = if weight.is_per_channel() {
            Granular::PerChannel((0..n).map(|j| act_scale * weight.scale_f32(j)).collect())
        } else {
            Granular::PerTensor(act_scale * weight.scale_f32(0))
        };
        if let Some(b) = bias {
            check_bias(b, n)?;
        }
        Ok(FloatPipeline {
            scale,
            bias: bias.map(<[f32]>::to_vec),
            relu,
        })
    }

    pub(crate) fn validate(&self, n: usize) -> Result<()> {
        self.scale.check_len(n, "output scales")?;
        if let Some(b) = &self.bias {
            if b.len() != n {
                return Err(KernelError::LengthMismatch {
                    what: "bias",
                    expected: n,
                    got: b.len(),
                });
            }
        }
        Ok(())
    }
}

fn check_bias(b: &[f32], n: usize) -> Result<()> {
    if b.len() != n {
        return Err(KernelError::LengthMismatch {
            what: "bias",
            expected: n,
            got: b.len(),
        });
    }
    if b.iter().any(|v| !v.is_finite()) {
        return Err(KernelError::NonFinite("bias"));
    }
    Ok(())
}

/// What the GEMM does with a finished tile, with every per-column value expanded.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// Store raw accumulators (no zero-point corrections).
    Raw,
    /// Requantize to u8.
    Requant {
        mult: Vec<f32>,
        bias: Vec<f32>,
        bias_scale: Vec<f32>,
        zp: i32,
        lo: i32,
        hi: i32,
    },
    /// Dequantize to f32.
    Float {
        scale: Vec<f32>,
        bias: Vec<f32>,
        relu: bool,
    },
}

/// A prepared epilogue: zero-point corrections plus the output stage, per column.
#[derive(Debug, Clone)]
pub(crate) struct Epilogue {
    /// `a_zp * col_offset[j]` (wrapping).
    pub col_corr: Vec<i32>,
    /// Weight zero point per column.
    pub w_zp: Vec<i32>,
    /// Whether any weight zero point is non-zero (row sums needed).
    pub needs_row_sums: bool,
    /// The output stage.
    pub stage: Stage,
}

impl Epilogue {
    /// An epilogue of `width` columns that all use column `j`'s values.
    pub fn broadcast_column(&self, j: usize, width: usize) -> Self {
        let stage = match &self.stage {
            Stage::Raw => Stage::Raw,
            Stage::Requant {
                mult,
                bias,
                bias_scale,
                zp,
                lo,
                hi,
            } => Stage::Requant {
                mult: vec![mult[j]; width],
                bias: vec![bias[j]; width],
                bias_scale: vec![bias_scale[j]; width],
                zp: *zp,
                lo: *lo,
                hi: *hi,
            },
            Stage::Float { scale, bias, relu } => Stage::Float {
                scale: vec![scale[j]; width],
                bias: vec![bias[j]; width],
                relu: *relu,
            },
        };
        Epilogue {
            col_corr: vec![self.col_corr[j]; width],
            w_zp: vec![self.w_zp[j]; width],
            needs_row_sums: self.needs_row_sums,
            stage,
        }
    }

    /// Raw accumulators, no corrections.
    pub fn raw(n: usize) -> Self {
        Epilogue {
            col_corr: vec![0; n],
            w_zp: vec![0; n],
            needs_row_sums: false,
            stage: Stage::Raw,
        }
    }

    fn corrections(a_zp: i32, col_offsets: &[i32], w_zp: Vec<i32>) -> (Vec<i32>, Vec<i32>, bool) {
        let col_corr = col_offsets.iter().map(|&c| a_zp.wrapping_mul(c)).collect();
        let needs = w_zp.iter().any(|&z| z != 0);
        (col_corr, w_zp, needs)
    }

    /// u8 requantization.
    pub fn requant(a_zp: i32, col_offsets: &[i32], w_zp: Vec<i32>, p: &OutputPipeline) -> Self {
        let n = col_offsets.len();
        let (col_corr, w_zp, needs_row_sums) = Self::corrections(a_zp, col_offsets, w_zp);
        let lo = (p.clamp_min as i32).max(0);
        let hi = (p.clamp_max as i32).min(255);
        let (bias, bias_scale) = bias_terms(p.bias.as_ref(), n);
        Epilogue {
            col_corr,
            w_zp,
            needs_row_sums,
            stage: Stage::Requant {
                mult: p.multiplier.expand(n),
                bias,
                bias_scale,
                zp: p.zero_point,
                lo,
                hi,
            },
        }
    }

    /// f32 dequantization.
    pub fn float(a_zp: i32, col_offsets: &[i32], w_zp: Vec<i32>, p: &FloatPipeline) -> Self {
        let n = col_offsets.len();
        let (col_corr, w_zp, needs_row_sums) = Self::corrections(a_zp, col_offsets, w_zp);
        Epilogue {
            col_corr,
            w_zp,
            needs_row_sums,
            stage: Stage::Float {
                scale: p.scale.expand(n),
                bias: p.bias.clone().unwrap_or_else(|| vec![0.0; n]),
                relu: p.relu,
            },
        }
    }
}

/// Per-column `(b, s)` with `f = fma(b, s, f32(x))` equal to the bias step.
pub(crate) fn bias_terms(bias: Option<&PipelineBias>, n: usize) -> (Vec<f32>, Vec<f32>) {
    match bias {
        None => (vec![0.0; n], vec![0.0; n]),
        Some(PipelineBias {
            values,
            scaling: BiasScaling::Reciprocal(r),
        }) => (values.clone(), vec![*r; n]),
        // fma(q, 1, x) == q + x rounded once: the division result is added exactly as fbgemm does.
        Some(PipelineBias {
            values,
            scaling: BiasScaling::Divide(d),
        }) => (
            values.iter().zip(d).map(|(&b, &a)| b / a).collect(),
            vec![1.0; n],
        ),
    }
}

/// The corrected accumulator of one element.
#[inline(always)]
pub(crate) fn corrected(acc: i32, col_corr: i32, row_sum: i32, w_zp: i32) -> i32 {
    acc.wrapping_sub(col_corr)
        .wrapping_sub(row_sum.wrapping_mul(w_zp))
}

/// Requantizes one corrected accumulator (the reference numerics).
#[inline(always)]
pub(crate) fn requant_one(
    x: i32,
    bias: f32,
    bias_scale: f32,
    mult: f32,
    zp: i32,
    lo: i32,
    hi: i32,
) -> u8 {
    let y = bias.mul_add(bias_scale, x as f32) * mult;
    let r = cvt_f32_i32_nearest(y) as i64 + zp as i64;
    r.clamp(lo as i64, hi as i64) as u8
}

/// Dequantizes one corrected accumulator (the reference numerics).
#[inline(always)]
pub(crate) fn float_one(x: i32, scale: f32, bias: f32, relu: bool) -> f32 {
    let y = (x as f32).mul_add(scale, bias);
    // maxps(0, y): y unless 0 > y (keeps NaN and -0.0 like the vector code).
    if relu && 0.0 > y {
        0.0
    } else {
        y
    }
}

/// The columns `c0..c0 + width` of an [`Epilogue`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct EpView<'a> {
    pub col_corr: &'a [i32],
    pub w_zp: &'a [i32],
    pub needs_row_sums: bool,
    pub stage: StageView<'a>,
}

/// The columns of a [`Stage`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum StageView<'a> {
    Raw,
    Requant {
        mult: &'a [f32],
        bias: &'a [f32],
        bias_scale: &'a [f32],
        zp: i32,
        lo: i32,
        hi: i32,
    },
    Float {
        scale: &'a [f32],
        bias: &'a [f32],
        relu: bool,
    },
}

impl Epilogue {
    /// The view of columns `c0..c0 + width`.
    pub fn view(&self, c0: usize, width: usize) -> EpView<'_> {
        let r = c0..c0 + width;
        let stage = match &self.stage {
            Stage::Raw => StageView::Raw,
            Stage::Requant {
                mult,
                bias,
                bias_scale,
                zp,
                lo,
                hi,
            } => StageView::Requant {
                mult: &mult[r.clone()],
                bias: &bias[r.clone()],
                bias_scale: &bias_scale[r.clone()],
                zp: *zp,
                lo: *lo,
                hi: *hi,
            },
            Stage::Float { scale, bias, relu } => StageView::Float {
                scale: &scale[r.clone()],
                bias: &bias[r.clone()],
                relu: *relu,
            },
        };
        EpView {
            col_corr: &self.col_corr[r.clone()],
            w_zp: &self.w_zp[r],
            needs_row_sums: self.needs_row_sums,
            stage,
        }
    }
}
