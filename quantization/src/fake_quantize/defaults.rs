//! PyTorch's named fake-quantize configurations (`torch.ao.quantization.fake_quantize`).

use qtensor::QScheme;

use super::FakeQuantizeSpec;
use crate::observer::{ObserverSpec, UniformOptions};
use crate::DType;

fn moving_average(options: UniformOptions, averaging_constant: f32) -> ObserverSpec {
    ObserverSpec::MovingAverageMinMax {
        averaging_constant,
        options,
        is_dynamic: false,
    }
}

fn moving_average_per_channel(options: UniformOptions, averaging_constant: f32) -> ObserverSpec {
    ObserverSpec::MovingAveragePerChannelMinMax {
        averaging_constant,
        ch_axis: 0,
        options,
    }
}

/// quint8 0..=255 with reduce_range (so 0..=127), per-tensor affine.
fn act_options(reduce_range: bool) -> UniformOptions {
    UniformOptions::per_tensor()
        .dtype(DType::QUInt8)
        .quant_range(0, 255)
        .reduce_range(reduce_range)
}

fn weight_options(qscheme: QScheme, quant_min: i64) -> UniformOptions {
    let base = if qscheme.is_per_channel() {
        UniformOptions::per_channel()
    } else {
        UniformOptions::per_tensor()
    };
    base.dtype(DType::QInt8)
        .qscheme(qscheme)
        .quant_range(quant_min, 127)
}

/// `default_fake_quant`: moving-average min/max, quint8 0..=255 with reduce_range
/// (effectively 0..=127), per-tensor affine.
pub fn default_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(moving_average(act_options(true), 0.01))
}

/// `default_weight_fake_quant`: moving-average min/max, qint8 -128..=127, per-tensor
/// symmetric.
pub fn default_weight_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(moving_average(
        weight_options(QScheme::PerTensorSymmetric, -128),
        0.01,
    ))
}

/// `default_dynamic_fake_quant`: dynamic moving-average (constant 1), quint8 0..=255.
pub fn default_dynamic_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(ObserverSpec::MovingAverageMinMax {
        averaging_constant: 1.0,
        options: act_options(false),
        is_dynamic: true,
    })
}

/// `default_per_channel_weight_fake_quant`: per-channel moving average, qint8 -128..=127,
/// per-channel symmetric on axis 0.
pub fn default_per_channel_weight_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(moving_average_per_channel(
        weight_options(QScheme::PerChannelSymmetric, -128),
        0.01,
    ))
}

/// `default_embedding_fake_quant`: per-channel float-qparams, quint8 0..=255, axis 0,
/// averaging constant 1.
pub fn default_embedding_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(moving_average_per_channel(
        UniformOptions::per_channel()
            .qscheme(QScheme::PerChannelAffineFloatQParams)
            .dtype(DType::QUInt8)
            .quant_range(0, 255),
        1.0,
    ))
}

/// `default_embedding_fake_quant_4bit`: as [`default_embedding_fake_quant`] with quint4x2
/// (0..=15).
pub fn default_embedding_fake_quant_4bit() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(moving_average_per_channel(
        UniformOptions::per_channel()
            .qscheme(QScheme::PerChannelAffineFloatQParams)
            .dtype(DType::QUInt4x2),
        1.0,
    ))
}

/// `default_histogram_fake_quant`: histogram observer, quint8 0..=255 with reduce_range.
pub fn default_histogram_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(ObserverSpec::histogram().with_options(act_options(true)))
}

/// `default_fused_act_fake_quant`: fused moving average, quint8 0..=255 (no reduce_range).
pub fn default_fused_act_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::Fused(moving_average(act_options(false), 0.01))
}

/// `default_fused_wt_fake_quant`: fused moving average, qint8 -128..=127, per-tensor symmetric.
pub fn default_fused_wt_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::Fused(moving_average(
        weight_options(QScheme::PerTensorSymmetric, -128),
        0.01,
    ))
}

/// `default_fused_per_channel_wt_fake_quant`: fused per-channel moving average, qint8
/// -128..=127, per-channel symmetric on axis 0.
pub fn default_fused_per_channel_wt_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::Fused(moving_average_per_channel(
        weight_options(QScheme::PerChannelSymmetric, -128),
        0.01,
    ))
}

/// `fused_wt_fake_quant_range_neg_127_to_127`: as [`default_fused_wt_fake_quant`] over
/// -127..=127 with eps 2^-12.
pub fn fused_wt_fake_quant_range_neg_127_to_127() -> FakeQuantizeSpec {
    FakeQuantizeSpec::Fused(moving_average(
        weight_options(QScheme::PerTensorSymmetric, -127).eps(2f32.powi(-12)),
        0.01,
    ))
}

/// `fused_per_channel_wt_fake_quant_range_neg_127_to_127`.
pub fn fused_per_channel_wt_fake_quant_range_neg_127_to_127() -> FakeQuantizeSpec {
    FakeQuantizeSpec::Fused(moving_average_per_channel(
        weight_options(QScheme::PerChannelSymmetric, -127).eps(2f32.powi(-12)),
        0.01,
    ))
}

/// `default_fixed_qparams_range_neg1to1_fake_quant` (tanh): scale 2/256, zero point 128.
pub fn default_fixed_qparams_range_neg1to1_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(
        crate::observer::defaults::default_fixed_qparams_range_neg1to1_observer(),
    )
}

/// `default_fixed_qparams_range_0to1_fake_quant` (sigmoid): scale 1/256, zero point 0.
pub fn default_fixed_qparams_range_0to1_fake_quant() -> FakeQuantizeSpec {
    FakeQuantizeSpec::FakeQuantize(
        crate::observer::defaults::default_fixed_qparams_range_0to1_observer(),
    )
}
