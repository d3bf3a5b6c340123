//! PyTorch's named observer configurations (`torch.ao.quantization.observer.default_*`).

use qtensor::QScheme;

use super::{ObserverSpec, PlaceholderObserver, UniformOptions};
use crate::DType;

/// `default_observer`: MinMaxObserver over quint8 0..=127.
pub fn default_observer() -> ObserverSpec {
    ObserverSpec::MinMax(UniformOptions::per_tensor().quant_range(0, 127))
}

/// `default_placeholder_observer`: PlaceholderObserver (float32).
pub fn default_placeholder_observer() -> ObserverSpec {
    ObserverSpec::Placeholder(PlaceholderObserver::default())
}

/// `default_debug_observer`: RecordingObserver.
pub fn default_debug_observer() -> ObserverSpec {
    ObserverSpec::Recording(DType::QUInt8)
}

/// `default_weight_observer`: MinMaxObserver, qint8, per-tensor symmetric.
pub fn default_weight_observer() -> ObserverSpec {
    ObserverSpec::MinMax(
        UniformOptions::per_tensor()
            .dtype(DType::QInt8)
            .qscheme(QScheme::PerTensorSymmetric),
    )
}

/// `weight_observer_range_neg_127_to_127`: as [`default_weight_observer`] over -127..=127,
/// eps 2^-12.
pub fn weight_observer_range_neg_127_to_127() -> ObserverSpec {
    ObserverSpec::MinMax(
        UniformOptions::per_tensor()
            .dtype(DType::QInt8)
            .qscheme(QScheme::PerTensorSymmetric)
            .quant_range(-127, 127)
            .eps(2f32.powi(-12)),
    )
}

/// `default_histogram_observer`: HistogramObserver over quint8 0..=127.
pub fn default_histogram_observer() -> ObserverSpec {
    ObserverSpec::histogram().with_options(UniformOptions::per_tensor().quant_range(0, 127))
}

/// `default_per_channel_weight_observer`: PerChannelMinMaxObserver, qint8, per-channel
/// symmetric, axis 0.
pub fn default_per_channel_weight_observer() -> ObserverSpec {
    ObserverSpec::PerChannelMinMax {
        ch_axis: 0,
        options: UniformOptions::per_channel()
            .dtype(DType::QInt8)
            .qscheme(QScheme::PerChannelSymmetric),
    }
}

/// `per_channel_weight_observer_range_neg_127_to_127`.
pub fn per_channel_weight_observer_range_neg_127_to_127() -> ObserverSpec {
    ObserverSpec::PerChannelMinMax {
        ch_axis: 0,
        options: UniformOptions::per_channel()
            .dtype(DType::QInt8)
            .qscheme(QScheme::PerChannelSymmetric)
            .quant_range(-127, 127)
            .eps(2f32.powi(-12)),
    }
}

/// `default_dynamic_quant_observer`: dynamic PlaceholderObserver, quint8 0..=255.
pub fn default_dynamic_quant_observer() -> ObserverSpec {
    ObserverSpec::Placeholder(PlaceholderObserver {
        dtype: DType::QUInt8,
        quant_min: Some(0),
        quant_max: Some(255),
        is_dynamic: true,
        ..PlaceholderObserver::default()
    })
}

/// `default_float_qparams_observer`: PerChannelMinMaxObserver, quint8, float-qparams, axis 0.
pub fn default_float_qparams_observer() -> ObserverSpec {
    ObserverSpec::PerChannelMinMax {
        ch_axis: 0,
        options: UniformOptions::per_channel()
            .dtype(DType::QUInt8)
            .qscheme(QScheme::PerChannelAffineFloatQParams),
    }
}

/// `default_float_qparams_observer_4bit`: as [`default_float_qparams_observer`] with quint4x2.
pub fn default_float_qparams_observer_4bit() -> ObserverSpec {
    ObserverSpec::PerChannelMinMax {
        ch_axis: 0,
        options: UniformOptions::per_channel()
            .dtype(DType::QUInt4x2)
            .qscheme(QScheme::PerChannelAffineFloatQParams),
    }
}

/// `default_fixed_qparams_range_neg1to1_observer`: scale 2/256, zero point 128, quint8.
pub fn default_fixed_qparams_range_neg1to1_observer() -> ObserverSpec {
    ObserverSpec::FixedQParams {
        scale: 2.0 / 256.0,
        zero_point: 128,
        dtype: DType::QUInt8,
        quant_min: 0,
        quant_max: 255,
    }
}

/// `default_fixed_qparams_range_0to1_observer`: scale 1/256, zero point 0, quint8.
pub fn default_fixed_qparams_range_0to1_observer() -> ObserverSpec {
    ObserverSpec::FixedQParams {
        scale: 1.0 / 256.0,
        zero_point: 0,
        dtype: DType::QUInt8,
        quant_min: 0,
        quant_max: 255,
    }
}
