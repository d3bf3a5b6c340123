//! `ObserverSpec`: an observer's class and constructor arguments as data (PyTorch's
//! `Observer.with_args(...)`), buildable any number of times.

use super::qparams::UniformOptions;
use super::{
    FixedQParamsObserver, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver, NoopObserver, Observer, PerChannelMinMaxObserver,
    PlaceholderObserver, RecordingObserver,
};
use crate::{DType, QuantError};

/// An observer class with its arguments; [`ObserverSpec::build`] makes a fresh instance.
#[derive(Debug, Clone, PartialEq)]
pub enum ObserverSpec {
    /// `MinMaxObserver.with_args(...)`.
    MinMax(UniformOptions),
    /// `MovingAverageMinMaxObserver.with_args(averaging_constant, ...)`.
    MovingAverageMinMax {
        /// Weight of the new batch (default 0.01).
        averaging_constant: f32,
        /// Shared options.
        options: UniformOptions,
        /// `is_dynamic=True` (needs averaging_constant 1).
        is_dynamic: bool,
    },
    /// `PerChannelMinMaxObserver.with_args(ch_axis, ...)`.
    PerChannelMinMax {
        /// Channel axis (default 0).
        ch_axis: usize,
        /// Shared options (a per-channel scheme).
        options: UniformOptions,
    },
    /// `MovingAveragePerChannelMinMaxObserver.with_args(averaging_constant, ch_axis, ...)`.
    MovingAveragePerChannelMinMax {
        /// Weight of the new batch (default 0.01).
        averaging_constant: f32,
        /// Channel axis (default 0).
        ch_axis: usize,
        /// Shared options (a per-channel scheme).
        options: UniformOptions,
    },
    /// `HistogramObserver.with_args(bins, ...)`.
    Histogram {
        /// Number of bins (default 2048).
        bins: usize,
        /// Upsample rate for re-binning (PyTorch: 16).
        upsample_rate: usize,
        /// Shared options.
        options: UniformOptions,
    },
    /// `PlaceholderObserver.with_args(...)`.
    Placeholder(PlaceholderObserver),
    /// `NoopObserver.with_args(dtype)`.
    Noop(DType),
    /// `FixedQParamsObserver.with_args(scale, zero_point, dtype, quant_min, quant_max)`.
    FixedQParams {
        /// Fixed scale.
        scale: f32,
        /// Fixed zero point.
        zero_point: i64,
        /// Target dtype.
        dtype: DType,
        /// Range lower end.
        quant_min: i64,
        /// Range upper end.
        quant_max: i64,
    },
    /// `RecordingObserver.with_args(dtype)`.
    Recording(DType),
}

impl ObserverSpec {
    /// `MinMaxObserver` with PyTorch's defaults.
    pub fn min_max() -> Self {
        ObserverSpec::MinMax(UniformOptions::per_tensor())
    }

    /// `MovingAverageMinMaxObserver` with PyTorch's defaults (averaging constant 0.01).
    pub fn moving_average_min_max() -> Self {
        ObserverSpec::MovingAverageMinMax {
            averaging_constant: MovingAverageMinMaxObserver::DEFAULT_AVERAGING_CONSTANT,
            options: UniformOptions::per_tensor(),
            is_dynamic: false,
        }
    }

    /// `PerChannelMinMaxObserver` with PyTorch's defaults (ch_axis 0, per_channel_affine).
    pub fn per_channel_min_max() -> Self {
        ObserverSpec::PerChannelMinMax {
            ch_axis: 0,
            options: UniformOptions::per_channel(),
        }
    }

    /// `MovingAveragePerChannelMinMaxObserver` with PyTorch's defaults.
    pub fn moving_average_per_channel_min_max() -> Self {
        ObserverSpec::MovingAveragePerChannelMinMax {
            averaging_constant: MovingAverageMinMaxObserver::DEFAULT_AVERAGING_CONSTANT,
            ch_axis: 0,
            options: UniformOptions::per_channel(),
        }
    }

    /// `HistogramObserver` with PyTorch's defaults (2048 bins).
    pub fn histogram() -> Self {
        ObserverSpec::Histogram {
            bins: HistogramObserver::DEFAULT_BINS,
            upsample_rate: HistogramObserver::DEFAULT_UPSAMPLE_RATE,
            options: UniformOptions::per_tensor(),
        }
    }

    /// Replaces the shared options of a uniform observer (no effect on the others).
    pub fn with_options(mut self, new: UniformOptions) -> Self {
        match &mut self {
            ObserverSpec::MinMax(options)
            | ObserverSpec::MovingAverageMinMax { options, .. }
            | ObserverSpec::PerChannelMinMax { options, .. }
            | ObserverSpec::MovingAveragePerChannelMinMax { options, .. }
            | ObserverSpec::Histogram { options, .. } => *options = new,
            _ => {}
        }
        self
    }

    /// The shared options of a uniform observer.
    pub fn options(&self) -> Option<&UniformOptions> {
        match self {
            ObserverSpec::MinMax(options)
            | ObserverSpec::MovingAverageMinMax { options, .. }
            | ObserverSpec::PerChannelMinMax { options, .. }
            | ObserverSpec::MovingAveragePerChannelMinMax { options, .. }
            | ObserverSpec::Histogram { options, .. } => Some(options),
            _ => None,
        }
    }

    /// The target dtype the observer will have.
    pub fn dtype(&self) -> DType {
        match self {
            ObserverSpec::Placeholder(p) => p.dtype,
            ObserverSpec::Noop(d) | ObserverSpec::Recording(d) => *d,
            ObserverSpec::FixedQParams { dtype, .. } => *dtype,
            other => other.options().map_or(DType::QUInt8, |o| o.dtype),
        }
    }

    /// PyTorch's class name of the observer this builds.
    pub fn class_name(&self) -> &'static str {
        match self {
            ObserverSpec::MinMax(_) => MinMaxObserver::NAME,
            ObserverSpec::MovingAverageMinMax { .. } => MovingAverageMinMaxObserver::NAME,
            ObserverSpec::PerChannelMinMax { .. } => PerChannelMinMaxObserver::NAME,
            ObserverSpec::MovingAveragePerChannelMinMax { .. } => {
                MovingAveragePerChannelMinMaxObserver::NAME
            }
            ObserverSpec::Histogram { .. } => HistogramObserver::NAME,
            ObserverSpec::Placeholder(_) => PlaceholderObserver::NAME,
            ObserverSpec::Noop(_) => NoopObserver::NAME,
            ObserverSpec::FixedQParams { .. } => FixedQParamsObserver::NAME,
            ObserverSpec::Recording(_) => RecordingObserver::NAME,
        }
    }

    /// A fresh observer; errors as the observer's constructor.
    pub fn build(&self) -> Result<Box<dyn Observer>, QuantError> {
        Ok(match self {
            ObserverSpec::MinMax(o) => Box::new(MinMaxObserver::new(*o)?),
            ObserverSpec::MovingAverageMinMax {
                averaging_constant,
                options,
                is_dynamic,
            } => Box::new(if *is_dynamic {
                MovingAverageMinMaxObserver::new_dynamic(*averaging_constant, *options)?
            } else {
                MovingAverageMinMaxObserver::new(*averaging_constant, *options)?
            }),
            ObserverSpec::PerChannelMinMax { ch_axis, options } => {
                Box::new(PerChannelMinMaxObserver::new(*ch_axis, *options)?)
            }
            ObserverSpec::MovingAveragePerChannelMinMax {
                averaging_constant,
                ch_axis,
                options,
            } => Box::new(MovingAveragePerChannelMinMaxObserver::new(
                *averaging_constant,
                *ch_axis,
                *options,
            )?),
            ObserverSpec::Histogram {
                bins,
                upsample_rate,
                options,
            } => Box::new(
                HistogramObserver::new(*bins, *options)?.with_upsample_rate(*upsample_rate)?,
            ),
            ObserverSpec::Placeholder(p) => Box::new(p.clone()),
            ObserverSpec::Noop(d) => Box::new(NoopObserver::new(*d)),
            ObserverSpec::FixedQParams {
                scale,
                zero_point,
                dtype,
                quant_min,
                quant_max,
            } => Box::new(FixedQParamsObserver::new(
                *scale,
                *zero_point,
                *dtype,
                *quant_min,
                *quant_max,
            )?),
            ObserverSpec::Recording(d) => Box::new(RecordingObserver::new(*d)),
        })
    }
}
