//! Quantized layer / group / instance norm and 8-bit row-wise embeddings against float
//! references written out here.

use ndarray::{ArrayD, IxDyn};
use nn_quantized::functional::{self as F, BagMode, Bags, NormParams};
use proptest::prelude::*;
use qtensor::{quantize_per_channel_float_qparams, quantize_per_tensor, QDType, QTensor};

fn wave(shape: &[usize], k: f32) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n)
            .map(|i| ((i as f32 * k).sin() * 2.5) + (i % 7) as f32 * 0.1)
            .collect(),
    )
    .unwrap()
}

/// Float normalization of the dequantized input over groups of `n` consecutive values, with
/// `affine(i, j)` giving (gamma, beta) for element `j` of group `i`; quantized at the end.
fn norm_reference(
    x: &QTensor,
    n: usize,
    eps: f64,
    affine: impl Fn(usize, usize) -> (f64, f64),
    scale: f64,
    zp: i64,
) -> Vec<i64> {
    let dq = x.dequantize();
    let v: Vec<f64> = dq.iter().map(|&a| f64::from(a)).collect();
    let mut out = Vec::new();
    for (i, g) in v.chunks(n).enumerate() {
        let mean = g.iter().sum::<f64>() / n as f64;
        let var = g.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n as f64;
        for (j, a) in g.iter().enumerate() {
            let (gm, bt) = affine(i, j);
            let y = (a - mean) / (var + eps).sqrt() * gm + bt;
            out.push((zp + (y / scale).round() as i64).clamp(x.dtype().min(), x.dtype().max()));
        }
    }
    out
}

fn assert_within_one(got: &QTensor, want: &[i64]) {
    let g: Vec<i64> = got.int_repr().to_i64().iter().copied().collect();
    assert_eq!(g.len(), want.len());
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1, "element {i}: {a} vs reference {b}");
    }
}

#[test]
fn layer_norm_matches_float_reference() {
    let x = quantize_per_tensor(wave(&[3, 4, 6], 0.37).view(), 0.03, 120, QDType::QUInt8).unwrap();
    let gamma: Vec<f32> = (0..24).map(|i| 0.5 + i as f32 * 0.05).collect();
    let beta: Vec<f32> = (0..24).map(|i| -0.3 + i as f32 * 0.02).collect();
    let p = NormParams {
        weight: Some(&gamma),
        bias: Some(&beta),
        eps: 1e-5,
        scale: 0.02,
        zero_point: 128,
    };
    let y = F::layer_norm(&x, &[4, 6], &p).unwrap();
    let want = norm_reference(
        &x,
        24,
        1e-5,
        |_, j| (f64::from(gamma[j]), f64::from(beta[j])),
        0.02,
        128,
    );
    assert_within_one(&y, &want);
}

#[test]
fn group_and_instance_norm_match_float_reference() {
    let shape = [2, 6, 3, 4];
    let x = quantize_per_tensor(wave(&shape, 0.21).view(), 0.025, 10, QDType::QInt8).unwrap();
    let gamma: Vec<f32> = (0..6).map(|c| 1.0 + c as f32 * 0.1).collect();
    let beta: Vec<f32> = (0..6).map(|c| c as f32 * -0.05).collect();
    let p = NormParams {
        weight: Some(&gamma),
        bias: Some(&beta),
        eps: 1e-5,
        scale: 0.03,
        zero_point: -3,
    };
    // 3 groups of 2 channels: group i of sample n covers channels 2i, 2i + 1.
    let y = F::group_norm(&x, 3, &p).unwrap();
    let per_group = 2 * 12;
    let want = norm_reference(
        &x,
        per_group,
        1e-5,
        |i, j| {
            let c = (i % 3) * 2 + j / 12;
            (f64::from(gamma[c]), f64::from(beta[c]))
        },
        0.03,
        -3,
    );
    assert_within_one(&y, &want);
    let y = F::instance_norm(&x, &p).unwrap();
    let want = norm_reference(
        &x,
        12,
        1e-5,
        |i, _| (f64::from(gamma[i % 6]), f64::from(beta[i % 6])),
        0.03,
        -3,
    );
    assert_within_one(&y, &want);
}

#[test]
fn norm_errors_are_typed() {
    let x = quantize_per_tensor(wave(&[2, 6, 4], 0.1).view(), 0.1, 0, QDType::QUInt8).unwrap();
    let p = NormParams {
        weight: None,
        bias: None,
        eps: 1e-5,
        scale: 0.1,
        zero_point: 0,
    };
    assert!(F::layer_norm(&x, &[5], &p).is_err());
    assert!(F::group_norm(&x, 4, &p).is_err());
    let bad = NormParams {
        weight: Some(&[1.0; 5]),
        ..p
    };
    assert!(F::group_norm(&x, 3, &bad).is_err());
    let bad_scale = NormParams { scale: 0.0, ..p };
    assert!(F::layer_norm(&x, &[4], &bad_scale).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// On ragged shapes (including single-element rows) the integer-statistics kernel stays
    /// within one quantum of the float reference.
    #[test]
    fn layer_norm_property(rows in 1usize..5, n in 1usize..40, k in 0.05f32..1.3) {
        let x = quantize_per_tensor(wave(&[rows, n], k).view(), 0.04, 100, QDType::QUInt8).unwrap();
        let p = NormParams { weight: None, bias: None, eps: 1e-5, scale: 0.05, zero_point: 128 };
        let y = F::layer_norm(&x, &[n], &p).unwrap();
        let want = norm_reference(&x, n, 1e-5, |_, _| (1.0, 0.0), 0.05, 128);
        let g: Vec<i64> = y.int_repr().to_i64().iter().copied().collect();
        for (a, b) in g.iter().zip(&want) {
            prop_assert!((a - b).abs() <= 1);
        }
    }
}

fn table() -> QTensor {
    let w = wave(&[5, 4], 0.9);
    // Per-row float qparams as PyTorch's float-qparams observer picks them.
    let mut scales = Vec::new();
    let mut zps = Vec::new();
    for r in 0..5 {
        let row: Vec<f32> = (0..4).map(|c| w[[r, c]]).collect();
        let (lo, hi) = row
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let s = (hi - lo) / 255.0;
        scales.push(s);
        zps.push(-lo / s);
    }
    quantize_per_channel_float_qparams(w.view(), &scales, &zps, 0, QDType::QUInt8).unwrap()
}

#[test]
fn embedding_bag_sums_dequantized_rows() {
    let q = table();
    let packed = F::embedding_bag_prepack(&q).unwrap();
    let rows = q.dequantize();
    let indices = [4i64, 0, 2, 2, 1];
    let offsets = [0i64, 2, 2];
    let weights = [0.5f32, 2.0, -1.0, 1.0, 3.0];
    for (mode, psw) in [
        (BagMode::Sum, None),
        (BagMode::Sum, Some(&weights[..])),
        (BagMode::Mean, None),
    ] {
        let y = F::embedding_bag_byte(
            &packed,
            &Bags {
                indices: &indices,
                offsets: &offsets,
                include_last_offset: false,
                per_sample_weights: psw,
                mode,
            },
        )
        .unwrap();
        assert_eq!(y.shape(), &[3, 4]);
        let bounds = [0usize, 2, 2, 5];
        for b in 0..3 {
            for c in 0..4 {
                let mut want = 0f64;
                for k in bounds[b]..bounds[b + 1] {
                    let w = psw.map_or(1.0, |p| f64::from(p[k]));
                    want += w * f64::from(rows[[indices[k] as usize, c]]);
                }
                let len = (bounds[b + 1] - bounds[b]) as f64;
                if mode == BagMode::Mean && len > 0.0 {
                    want /= len;
                }
                let got = f64::from(y[[b, c]]);
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "bag {b} col {c}: {got} vs {want}"
                );
            }
        }
    }
    let with_last = F::embedding_bag_byte(
        &packed,
        &Bags {
            indices: &indices,
            offsets: &[0, 2, 2, 5],
            include_last_offset: true,
            per_sample_weights: None,
            mode: BagMode::Sum,
        },
    )
    .unwrap();
    assert_eq!(with_last.shape(), &[3, 4]);
    let rows_out = F::embedding_byte(&packed, &[3, 1], &[2]).unwrap();
    for c in 0..4 {
        assert!((rows_out[[0, c]] - rows[[3, c]]).abs() < 1e-6);
    }
}

#[test]
fn embedding_errors_are_typed() {
    let q = table();
    let packed = F::embedding_bag_prepack(&q).unwrap();
    let bag = |indices: &[i64], offsets: &[i64]| {
        F::embedding_bag_byte(
            &packed,
            &Bags {
                indices,
                offsets,
                include_last_offset: false,
                per_sample_weights: None,
                mode: BagMode::Sum,
            },
        )
    };
    assert!(bag(&[5], &[0]).is_err(), "index out of range");
    assert!(bag(&[-1], &[0]).is_err(), "negative index");
    assert!(bag(&[0, 1], &[1, 0]).is_err(), "decreasing offsets");
    assert!(bag(&[0], &[3]).is_err(), "offset past the end");
    let per_tensor =
        quantize_per_tensor(wave(&[5, 4], 0.9).view(), 0.1, 0, QDType::QUInt8).unwrap();
    assert!(F::embedding_bag_prepack(&per_tensor).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Random bags (empty ones included) over a random table: every bag equals the f64 sum of
    /// its dequantized rows.
    #[test]
    fn embedding_bag_property(
        rows in 1usize..7,
        dim in 1usize..9,
        picks in proptest::collection::vec(0usize..100, 0..12),
        cuts in proptest::collection::vec(0usize..100, 0..4),
    ) {
        let w = wave(&[rows, dim], 0.77);
        let scales: Vec<f32> = (0..rows).map(|r| 0.01 + r as f32 * 0.003).collect();
        let zps: Vec<f32> = (0..rows).map(|r| 100.0 + r as f32).collect();
        let q = quantize_per_channel_float_qparams(w.view(), &scales, &zps, 0, QDType::QUInt8).unwrap();
        let packed = F::embedding_bag_prepack(&q).unwrap();
        let indices: Vec<i64> = picks.iter().map(|&p| (p % rows) as i64).collect();
        let mut offsets: Vec<i64> = cuts.iter().map(|&c| (c % (indices.len() + 1)) as i64).collect();
        offsets.push(0);
        offsets.sort_unstable();
        let y = F::embedding_bag_byte(
            &packed,
            &Bags { indices: &indices, offsets: &offsets, include_last_offset: false, per_sample_weights: None, mode: BagMode::Sum },
        ).unwrap();
        prop_assert_eq!(y.shape(), &[offsets.len(), dim]);
        let dq = q.dequantize();
        let mut ends: Vec<usize> = offsets.iter().map(|&o| o as usize).collect();
        ends.push(indices.len());
        for b in 0..offsets.len() {
            for c in 0..dim {
                let want: f64 = (ends[b]..ends[b + 1]).map(|k| f64::from(dq[[indices[k] as usize, c]])).sum();
                prop_assert!((f64::from(y[[b, c]]) - want).abs() <= 1e-5 * want.abs().max(1.0));
            }
        }
    }
}
