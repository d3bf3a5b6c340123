//! `MinMaxObserver` and `MovingAverageMinMaxObserver`: per-tensor running min / max.

use std::any::Any;

use ndarray::ArrayViewD;
use qtensor::QScheme;

use super::qparams::{QParamsRule, UniformOptions};
use super::{scan, Observation, Observer, QParamsOut};
use crate::{DType, QuantError};

/// Running min and max of everything observed; parameters as PyTorch's `MinMaxObserver`.
#[derive(Debug, Clone)]
pub struct MinMaxObserver {
    rule: QParamsRule,
    state: Option<(f32, f32)>,
}

pub(crate) fn uniform_rule(
    opts: &UniformOptions,
    observer: &'static str,
    per_channel: bool,
) -> Result<QParamsRule, QuantError> {
    let range = opts.resolve(observer, per_channel)?;
    Ok(QParamsRule {
        dtype: opts.dtype,
        qscheme: opts.qscheme,
        range,
        eps: opts.eps,
    })
}

impl MinMaxObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "MinMaxObserver";

    /// A fresh observer. Errors on a per-channel scheme, a bad custom range, a float dtype,
    /// or symmetric quint8 with reduce_range.
    pub fn new(opts: UniformOptions) -> Result<Self, QuantError> {
        Ok(MinMaxObserver {
            rule: uniform_rule(&opts, Self::NAME, false)?,
            state: None,
        })
    }

    /// The rule that turns min/max into parameters.
    pub fn rule(&self) -> &QParamsRule {
        &self.rule
    }
}

fn per_tensor_qparams(rule: &QParamsRule, state: Option<(f32, f32)>) -> QParamsOut {
    match state {
        Some((lo, hi)) => rule.calculate(&[lo], &[hi], None),
        None => rule.fallback(),
    }
}

macro_rules! per_tensor_common {
    () => {
        fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
            Ok(per_tensor_qparams(&self.rule, self.state))
        }

        fn reset(&mut self) {
            self.state = None;
        }

        fn min_val(&self) -> Vec<f32> {
            vec![self.state.map_or(f32::INFINITY, |s| s.0)]
        }

        fn max_val(&self) -> Vec<f32> {
            vec![self.state.map_or(f32::NEG_INFINITY, |s| s.1)]
        }

        fn dtype(&self) -> DType {
            self.rule.dtype
        }

        fn qscheme(&self) -> QScheme {
            self.rule.qscheme
        }

        fn quant_range(&self) -> Option<(i64, i64)> {
            Some((self.rule.range.quant_min, self.rule.range.quant_max))
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    };
}

impl Observer for MinMaxObserver {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        let (cur, obs) = scan::min_max(&x, Self::NAME)?;
        if let Some((lo, hi)) = cur {
            self.state = Some(match self.state {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        Ok(obs)
    }

    per_tensor_common!();
}

/// Exponential moving average of each batch's min and max
/// (`min += averaging_constant * (batch_min - min)`, in `f32`); the first batch sets them.
#[derive(Debug, Clone)]
pub struct MovingAverageMinMaxObserver {
    rule: QParamsRule,
    averaging_constant: f32,
    is_dynamic: bool,
    state: Option<(f32, f32)>,
}

/// Checks an averaging constant: finite, in `(0, 1]`.
pub(crate) fn check_averaging_constant(observer: &'static str, c: f32) -> Result<(), QuantError> {
    if c.is_finite() && c > 0.0 && c <= 1.0 {
        Ok(())
    } else {
        Err(QuantError::BadArgument {
            observer,
            arg: "averaging_constant",
            value: c.to_string(),
            reason: "must be in (0, 1]",
        })
    }
}

/// One moving-average step as PyTorch computes it on float32 tensors.
#[inline]
pub(crate) fn moving_average(old: f32, cur: f32, c: f32) -> f32 {
    old + c * (cur - old)
}

impl MovingAverageMinMaxObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "MovingAverageMinMaxObserver";

    /// PyTorch's default averaging constant.
    pub const DEFAULT_AVERAGING_CONSTANT: f32 = 0.01;

    /// A fresh observer (`averaging_constant` in `(0, 1]`, PyTorch's default 0.01).
    pub fn new(averaging_constant: f32, opts: UniformOptions) -> Result<Self, QuantError> {
        check_averaging_constant(Self::NAME, averaging_constant)?;
        Ok(MovingAverageMinMaxObserver {
            rule: uniform_rule(&opts, Self::NAME, false)?,
            averaging_constant,
            is_dynamic: false,
            state: None,
        })
    }

    /// The dynamic-quantization variant (`is_dynamic=True`), which PyTorch allows only with
    /// `averaging_constant == 1`.
    pub fn new_dynamic(averaging_constant: f32, opts: UniformOptions) -> Result<Self, QuantError> {
        let mut o = Self::new(averaging_constant, opts)?;
        if averaging_constant != 1.0 {
            return Err(QuantError::Unsupported {
                observer: Self::NAME,
                what: format!(
                    "dynamic quantization needs averaging_constant 1, got {averaging_constant}"
                ),
            });
        }
        o.is_dynamic = true;
        Ok(o)
    }

    /// The averaging constant.
    pub fn averaging_constant(&self) -> f32 {
        self.averaging_constant
    }

    /// The rule that turns min/max into parameters.
    pub fn rule(&self) -> &QParamsRule {
        &self.rule
    }

    /// Updates the running min/max with one batch's `(min, max)`, as the fused fake-quant
    /// kernel does (first batch sets them).
    pub(crate) fn update(&mut self, cur: (f32, f32)) {
        let c = self.averaging_constant;
        self.state = Some(match self.state {
            None => cur,
            Some((a, b)) => (moving_average(a, cur.0, c), moving_average(b, cur.1, c)),
        });
    }

    /// The running `(min, max)`, if any batch was observed.
    pub fn state(&self) -> Option<(f32, f32)> {
        self.state
    }
}

impl Observer for MovingAverageMinMaxObserver {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        let (cur, obs) = scan::min_max(&x, Self::NAME)?;
        if let Some(cur) = cur {
            self.update(cur);
        }
        Ok(obs)
    }

    fn is_dynamic(&self) -> bool {
        self.is_dynamic
    }

    per_tensor_common!();
}
