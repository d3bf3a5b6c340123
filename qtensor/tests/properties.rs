//! Properties of quantize / dequantize and the shape operations, checked on random inputs.

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use qtensor::{
    fake_quantize_per_tensor_affine, quantize_per_channel, quantize_per_tensor,
    quantize_per_tensor_dynamic, QDType, QError, QParams,
};

fn dtype() -> impl Strategy<Value = QDType> {
    prop_oneof![
        Just(QDType::QUInt8),
        Just(QDType::QInt8),
        Just(QDType::QInt32)
    ]
}

/// A random shape of rank 1..=4 with dims 1..=5 and matching random values in -10..10.
fn tensor() -> impl Strategy<Value = ArrayD<f32>> {
    prop::collection::vec(1usize..=5, 1..=4).prop_flat_map(|shape| {
        let n = shape.iter().product::<usize>();
        prop::collection::vec(-10.0f32..10.0, n)
            .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap())
    })
}

proptest! {
    #[test]
    fn round_trip_within_half_a_step(x in tensor(), scale in 0.001f64..1.0, dtype in dtype(), zp_frac in 0.0f64..1.0) {
        let zp = dtype.min().max(-1000) + ((dtype.max().min(1000) - dtype.min().max(-1000)) as f64 * zp_frac) as i64;
        let q = quantize_per_tensor(x.view(), scale, zp, dtype).unwrap();
        let dq = q.dequantize();
        let lo = scale * (dtype.min() - zp) as f64;
        let hi = scale * (dtype.max() - zp) as f64;
        for (&v, &d) in x.iter().zip(dq.iter()) {
            let v = v as f64;
            if v >= lo && v <= hi {
                // Half a step, plus the f32 rounding of the reciprocal and of the product.
                prop_assert!((v - d as f64).abs() <= scale * 0.5 * (1.0 + 1e-5) + 1e-6,
                    "x={v} dq={d} scale={scale} zp={zp}");
            } else {
                let clamped = v.clamp(lo, hi);
                prop_assert!((clamped - d as f64).abs() <= scale * 1e-3 + 1e-6);
            }
        }
    }

    #[test]
    fn per_channel_is_per_tensor_slice_by_slice(x in tensor(), axis_pick in 0usize..4, seed in 0u64..1000) {
        let axis = axis_pick % x.ndim();
        let c = x.shape()[axis];
        let scales: Vec<f64> = (0..c).map(|i| 0.01 + ((seed as usize + i * 7) % 13) as f64 * 0.03).collect();
        let zps: Vec<i64> = (0..c).map(|i| ((seed as usize + i * 11) % 40) as i64 - 20).collect();
        let q = quantize_per_channel(x.view(), &scales, &zps, axis, QDType::QInt8).unwrap();
        let ints = q.int_repr().to_i64();
        let dq = q.dequantize();
        for i in 0..c {
            let slice = x.index_axis(Axis(axis), i).to_owned();
            let qi = quantize_per_tensor(slice.view(), scales[i], zps[i], QDType::QInt8).unwrap();
            prop_assert_eq!(ints.index_axis(Axis(axis), i).to_owned(), qi.int_repr().to_i64());
            prop_assert_eq!(dq.index_axis(Axis(axis), i).to_owned(), qi.dequantize());
        }
    }

    #[test]
    fn shape_ops_commute_with_dequantize(x in tensor(), per_channel in any::<bool>(), pick in 0usize..100) {
        let q = if per_channel {
            let axis = pick % x.ndim();
            let c = x.shape()[axis];
            let scales: Vec<f64> = (0..c).map(|i| 0.05 + i as f64 * 0.01).collect();
            quantize_per_channel(x.view(), &scales, &vec![3; c], axis, QDType::QUInt8).unwrap()
        } else {
            quantize_per_tensor(x.view(), 0.07, 128, QDType::QUInt8).unwrap()
        };
        let dq = q.dequantize();
        let rank = x.ndim();
        // permute: reverse the dims
        let dims: Vec<usize> = (0..rank).rev().collect();
        prop_assert_eq!(q.permute(&dims).unwrap().dequantize(), dq.clone().permuted_axes(IxDyn(&dims)));
        // narrow / select / unsqueeze along a dim
        let d = pick % rank;
        let n = x.shape()[d];
        let start = pick % n;
        let len = n - start;
        prop_assert_eq!(
            q.narrow(d, start, len).unwrap().dequantize(),
            dq.slice_axis(Axis(d), ndarray::Slice::from(start..start + len)).to_owned()
        );
        prop_assert_eq!(q.select(d, start).unwrap().dequantize(), dq.index_axis(Axis(d), start).to_owned());
        prop_assert_eq!(q.unsqueeze(d).unwrap().dequantize(), dq.clone().insert_axis(Axis(d)));
        // flatten and reshape, when the per-channel axis survives
        let flat = q.flatten(0, rank - 1);
        match q.qparams() {
            QParams::PerTensor { .. } => {
                let flat = flat.unwrap();
                prop_assert_eq!(flat.dequantize().iter().copied().collect::<Vec<_>>(), dq.iter().copied().collect::<Vec<_>>());
            }
            _ if rank == 1 || x.len() == x.shape()[q.q_per_channel_axis().unwrap()] => {
                prop_assert!(flat.is_ok());
            }
            _ => { let ok = matches!(flat, Err(QError::BadShapeOp { .. })); prop_assert!(ok); }
        }
    }

    #[test]
    fn fake_quant_equals_quantize_dequantize(x in tensor(), scale in 0.01f32..0.5, zp in 0i64..=255) {
        let fq = fake_quantize_per_tensor_affine(x.view(), scale, zp, 0, 255).unwrap();
        let q = quantize_per_tensor(x.view(), f64::from(scale), zp, QDType::QUInt8).unwrap();
        prop_assert_eq!(fq.y, q.dequantize());
    }

    #[test]
    fn dynamic_qparams_cover_the_range(x in tensor(), reduce_range in any::<bool>(), dtype in prop_oneof![Just(QDType::QUInt8), Just(QDType::QInt8)]) {
        let q = quantize_per_tensor_dynamic(x.view(), dtype, reduce_range).unwrap();
        let scale = q.q_scale().unwrap();
        let zp = q.q_zero_point().unwrap();
        prop_assert!(scale.is_finite() && scale > 0.0);
        prop_assert!(zp >= dtype.min() && zp <= dtype.max());
        let dq = q.dequantize();
        for (&v, &d) in x.iter().zip(dq.iter()) {
            prop_assert!((v - d).abs() as f64 <= scale * 0.51 + 1e-5);
        }
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
        assert!(matches!(
            quantize_per_tensor(x.view(), scale, 0, QDType::QUInt8),
            Err(QError::BadScale { .. })
        ));
    }
    assert!(matches!(
        quantize_per_tensor(x.view(), 0.1, 256, QDType::QUInt8),
        Err(QError::ZeroPointOutOfRange { .. })
    ));
    assert!(matches!(
        quantize_per_tensor(x.view(), 0.1, -129, QDType::QInt8),
        Err(QError::ZeroPointOutOfRange { .. })
    ));
    assert!(matches!(
        quantize_per_channel(x.view(), &[0.1, 0.2], &[0, 0], 1, QDType::QInt8),
        Err(QError::ChannelCountMismatch { .. })
    ));
    assert!(matches!(
        quantize_per_channel(x.view(), &[0.1, 0.2], &[0, 0], 2, QDType::QInt8),
        Err(QError::AxisOutOfRange { .. })
    ));
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0]));
    assert!(matches!(
        quantize_per_tensor_dynamic(empty.view(), QDType::QUInt8, false),
        Err(QError::Empty { .. })
    ));
    let nan = ArrayD::from_shape_vec(IxDyn(&[2]), vec![1.0, f32::NAN]).unwrap();
    assert!(matches!(
        quantize_per_tensor_dynamic(nan.view(), QDType::QUInt8, false),
        Err(QError::NaN { .. })
    ));
    let q = quantize_per_tensor(x.view(), 0.1, 0, QDType::QUInt8).unwrap();
    assert!(q.q_per_channel_axis().is_err());
    assert!(q.reshape(&[4]).is_err());
    assert!(q.permute(&[0, 0]).is_err());
    assert!(q.narrow(1, 2, 2).is_err());
    assert!(q.select(2, 0).is_err());
}

#[test]
fn nan_quantizes_to_the_zero_point() {
    let x = ArrayD::from_shape_vec(IxDyn(&[1]), vec![f32::NAN]).unwrap();
    let q = quantize_per_tensor(x.view(), 0.1, 7, QDType::QUInt8).unwrap();
    assert_eq!(q.as_u8().unwrap()[[0]], 7);
}
