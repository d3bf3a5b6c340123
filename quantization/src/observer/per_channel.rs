//! `PerChannelMinMaxObserver` and `MovingAveragePerChannelMinMaxObserver`: min / max per index
//! of `ch_axis`.

use std::any::Any;

use ndarray::ArrayViewD;
use qtensor::QScheme;

use super::minmax::{check_averaging_constant, moving_average, uniform_rule};
use super::qparams::{QParamsRule, UniformOptions};
use super::{scan, Observation, Observer, QParamsOut};
use crate::{DType, QuantError};

/// Per-channel running state: `(min, max)` per channel, `(+inf, -inf)` for a channel not yet
/// observed; empty before the first batch.
#[derive(Debug, Clone, Default)]
struct ChannelState {
    min: Vec<f32>,
    max: Vec<f32>,
}

impl ChannelState {
    /// Merges one batch's per-channel extrema with `merge(old, new)`; a channel seen for the
    /// first time takes the batch's values.
    fn update(
        &mut self,
        observer: &'static str,
        cur: &[Option<(f32, f32)>],
        merge: impl Fn(f32, f32, bool) -> f32,
    ) -> Result<(), QuantError> {
        if self.min.is_empty() {
            self.min = vec![f32::INFINITY; cur.len()];
            self.max = vec![f32::NEG_INFINITY; cur.len()];
        } else if self.min.len() != cur.len() {
            return Err(QuantError::ChannelCountChanged {
                observer,
                expected: self.min.len(),
                got: cur.len(),
            });
        }
        for (c, v) in cur.iter().enumerate() {
            if let Some((lo, hi)) = *v {
                if self.min[c] > self.max[c] {
                    self.min[c] = lo;
                    self.max[c] = hi;
                } else {
                    self.min[c] = merge(self.min[c], lo, false);
                    self.max[c] = merge(self.max[c], hi, true);
                }
            }
        }
        Ok(())
    }

    fn qparams(&self, rule: &QParamsRule, ch_axis: usize) -> QParamsOut {
        if self.min.is_empty() {
            rule.fallback()
        } else {
            rule.calculate(&self.min, &self.max, Some(ch_axis))
        }
    }
}

macro_rules! per_channel_common {
    () => {
        fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
            Ok(self.state.qparams(&self.rule, self.ch_axis))
        }

        fn reset(&mut self) {
            self.state = ChannelState::default();
        }

        fn min_val(&self) -> Vec<f32> {
            self.state.min.clone()
        }

        fn max_val(&self) -> Vec<f32> {
            self.state.max.clone()
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

        fn ch_axis(&self) -> Option<usize> {
            Some(self.ch_axis)
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    };
}

/// Running min and max per channel (`PerChannelMinMaxObserver`, default `ch_axis` 0 and
/// `per_channel_affine`).
#[derive(Debug, Clone)]
pub struct PerChannelMinMaxObserver {
    rule: QParamsRule,
    ch_axis: usize,
    state: ChannelState,
}

impl PerChannelMinMaxObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "PerChannelMinMaxObserver";

    /// A fresh observer; the scheme must be a per-channel one. `ch_axis` is checked against
    /// each input's rank when observing.
    pub fn new(ch_axis: usize, opts: UniformOptions) -> Result<Self, QuantError> {
        Ok(PerChannelMinMaxObserver {
            rule: uniform_rule(&opts, Self::NAME, true)?,
            ch_axis,
            state: ChannelState::default(),
        })
    }

    /// The rule that turns min/max into parameters.
    pub fn rule(&self) -> &QParamsRule {
        &self.rule
    }
}

impl Observer for PerChannelMinMaxObserver {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        let (cur, obs) = scan::per_channel_min_max(&x, self.ch_axis, Self::NAME)?;
        self.state
            .update(Self::NAME, &cur, |old, new, is_max| match is_max {
                true => old.max(new),
                false => old.min(new),
            })?;
        Ok(obs)
    }

    per_channel_common!();
}

/// Moving average of each batch's per-channel min and max
/// (`MovingAveragePerChannelMinMaxObserver`).
#[derive(Debug, Clone)]
pub struct MovingAveragePerChannelMinMaxObserver {
    rule: QParamsRule,
    ch_axis: usize,
    averaging_constant: f32,
    state: ChannelState,
}

impl MovingAveragePerChannelMinMaxObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "MovingAveragePerChannelMinMaxObserver";

    /// A fresh observer (`averaging_constant` in `(0, 1]`, PyTorch's default 0.01).
    pub fn new(
        averaging_constant: f32,
        ch_axis: usize,
        opts: UniformOptions,
    ) -> Result<Self, QuantError> {
        check_averaging_constant(Self::NAME, averaging_constant)?;
        Ok(MovingAveragePerChannelMinMaxObserver {
            rule: uniform_rule(&opts, Self::NAME, true)?,
            ch_axis,
            averaging_constant,
            state: ChannelState::default(),
        })
    }

    /// The averaging constant.
    pub fn averaging_constant(&self) -> f32 {
        self.averaging_constant
    }

    /// The rule that turns min/max into parameters.
    pub fn rule(&self) -> &QParamsRule {
        &self.rule
    }
}

impl Observer for MovingAveragePerChannelMinMaxObserver {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        let (cur, obs) = scan::per_channel_min_max(&x, self.ch_axis, Self::NAME)?;
        let c = self.averaging_constant;
        self.state
            .update(Self::NAME, &cur, |old, new, _| moving_average(old, new, c))?;
        Ok(obs)
    }

    per_channel_common!();
}

/// One moving-average step of a per-channel observer with a batch's per-channel extrema (what
/// the fused fake-quant kernel does to its running min / max).
pub(crate) fn per_channel_update(
    o: &mut MovingAveragePerChannelMinMaxObserver,
    cur: &[Option<(f32, f32)>],
) -> Result<(), QuantError> {
    let c = o.averaging_constant;
    o.state.update(
        MovingAveragePerChannelMinMaxObserver::NAME,
        cur,
        |old, new, _| moving_average(old, new, c),
    )
}
