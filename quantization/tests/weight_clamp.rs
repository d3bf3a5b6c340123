//! `_quantize_weight` keeps a narrow-range weight inside its observer's `quant_min..=quant_max`
//! (`_clamp_weights`), in eager convert (`FromFloatCtx::quantize_weight`) and for dynamic
//! modules (`QConfig` as a `WeightQuantizer`), as PyTorch does for 4-bit weights stored as qint8.
//!
//! The weights are chosen so that the symmetric scale `max|w| / 7.5` is exact in `f32` and the
//! largest weight lands on `7.5` exactly: round-half-even gives 8, one past `quant_max = 7`.

use ndarray::{array, ArrayD};
use nn::Linear;
use nn_quantized_dynamic::WeightQuantizer;
use qtensor::{QScheme, QTensor};
use quantization::eager::FromFloatCtx;
use quantization::{DType, ObserverSpec, QConfig, QConfigEntry, UniformOptions};

/// PyTorch's quantization of `w` with `scale` (zero point 0), then clamped to `lo..=hi`.
fn reference(w: f32, scale: f32, lo: i64, hi: i64) -> i64 {
    ((w / scale).round_ties_even() as i64).clamp(lo, hi)
}

fn qconfig(weight: ObserverSpec) -> QConfig {
    QConfig {
        activation: QConfigEntry::Observer(ObserverSpec::MinMax(UniformOptions::per_tensor())),
        weight: QConfigEntry::Observer(weight),
    }
}

fn four_bit(options: UniformOptions) -> UniformOptions {
    options.dtype(DType::QInt8).quant_range(-8, 7)
}

fn per_tensor_4bit() -> ObserverSpec {
    ObserverSpec::MinMax(four_bit(
        UniformOptions::per_tensor().qscheme(QScheme::PerTensorSymmetric),
    ))
}

fn per_channel_4bit() -> ObserverSpec {
    ObserverSpec::PerChannelMinMax {
        ch_axis: 0,
        options: four_bit(UniformOptions::per_channel().qscheme(QScheme::PerChannelSymmetric)),
    }
}

/// Two output rows; row 0 peaks at 0.9375 (scale 0.125), row 1 at 0.46875 (scale 0.0625).
fn weight() -> ArrayD<f32> {
    array![
        [0.9375f32, -0.5, 0.25, -0.9375],
        [-0.46875, 0.1875, 0.0, 0.3125]
    ]
    .into_dyn()
}

/// Checks `q` against the reference with one scale per row.
fn check(q: &QTensor, w: &ArrayD<f32>, row_scales: [f32; 2]) {
    let ints = q.int_repr().to_i64();
    assert_eq!(ints.shape(), w.shape());
    for ((idx, &v), &x) in w.indexed_iter().zip(ints.iter()) {
        let want = reference(v, row_scales[idx[0]], -8, 7);
        assert_eq!(x, want, "weight {v} at {idx:?}");
    }
    // The case the clamp exists for: unclamped, the row maximum would round to 8.
    assert_eq!((0.9375f32 / 0.125).round_ties_even(), 8.0);
    assert_eq!(ints.iter().copied().max(), Some(7));
    assert_eq!(ints.iter().copied().min(), Some(-8));
}

#[test]
fn eager_convert_clamps_a_per_tensor_4bit_weight() {
    let w = weight();
    let lin = Linear::new(4, 2, false);
    let qc = qconfig(per_tensor_4bit());
    let ctx = FromFloatCtx::new("fc", &lin, &qc, None);
    let q = ctx.quantize_weight(w.view(), DType::QInt8).unwrap();
    assert_eq!(q.q_scale().unwrap(), 0.125);
    check(&q, &w, [0.125, 0.125]);
}

#[test]
fn eager_convert_clamps_a_per_channel_4bit_weight() {
    let w = weight();
    let lin = Linear::new(4, 2, false);
    let qc = qconfig(per_channel_4bit());
    let ctx = FromFloatCtx::new("fc", &lin, &qc, None);
    let q = ctx.quantize_weight(w.view(), DType::QInt8).unwrap();
    assert_eq!(q.q_per_channel_scales().unwrap(), vec![0.125, 0.0625]);
    check(&q, &w, [0.125, 0.0625]);
}

#[test]
fn dynamic_weights_are_clamped_too() {
    let w = weight();
    for (spec, scales) in [
        (per_tensor_4bit(), [0.125, 0.125]),
        (per_channel_4bit(), [0.125, 0.0625]),
    ] {
        let q = qconfig(spec).quantize_weight(w.view()).unwrap();
        check(&q, &w, scales);
    }
}

#[test]
fn a_full_range_weight_is_left_as_quantized() {
    // Default symmetric qint8 range (-128..127): nothing to clamp; max|w| / scale = 127.5
    // rounds to 128 and saturates at 127 in the quantizer itself, as in PyTorch.
    let w = array![[1.0f32, -1.0, 0.5, 0.25]].into_dyn();
    let lin = Linear::new(4, 1, false);
    let qc = qconfig(ObserverSpec::MinMax(
        UniformOptions::per_tensor()
            .dtype(DType::QInt8)
            .qscheme(QScheme::PerTensorSymmetric),
    ));
    let ctx = FromFloatCtx::new("fc", &lin, &qc, None);
    let q = ctx.quantize_weight(w.view(), DType::QInt8).unwrap();
    let s = q.q_scale().unwrap() as f32;
    let ints = q.int_repr().to_i64();
    for (&v, &x) in w.iter().zip(ints.iter()) {
        assert_eq!(x, reference(v, s, -128, 127), "weight {v}");
    }
}
