//! The operator layer refuses bad operands with typed errors, and agrees with a float reference.

use ndarray::{ArrayD, IxDyn};
use nn_quantized::functional as F;
use nn_quantized::QOpError;
use qtensor::{quantize_per_channel, quantize_per_tensor, QDType};

fn ramp(shape: &[usize]) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.03).collect(),
    )
    .unwrap()
}

#[test]
fn add_matches_dequantize_add_quantize() {
    let (a, b) = (ramp(&[2, 3, 5]), ramp(&[2, 3, 5]).mapv(|v| v * -0.7 + 0.1));
    let qa = quantize_per_tensor(a.view(), 0.02, 120, QDType::QUInt8).unwrap();
    let qb = quantize_per_tensor(b.view(), 0.015, 100, QDType::QUInt8).unwrap();
    let y = F::add(&qa, &qb, 0.03, 128).unwrap();
    let want = quantize_per_tensor(
        (&qa.dequantize() + &qb.dequantize()).view(),
        0.03,
        128,
        QDType::QUInt8,
    )
    .unwrap();
    let (g, w) = (y.int_repr().to_i64(), want.int_repr().to_i64());
    assert!(
        g.iter().zip(w.iter()).all(|(g, w)| (g - w).abs() <= 1),
        "{g:?} vs {w:?}"
    );
    assert_eq!(y.q_scale().unwrap(), 0.03);
}

#[test]
fn bad_operands_are_typed_errors() {
    let x = ramp(&[1, 2, 4, 4]);
    let qu8 = quantize_per_tensor(x.view(), 0.05, 128, QDType::QUInt8).unwrap();
    let qi8 = quantize_per_tensor(x.view(), 0.05, 0, QDType::QInt8).unwrap();
    let qi32 = quantize_per_tensor(x.view(), 0.05, 0, QDType::QInt32).unwrap();
    let per_channel =
        quantize_per_channel(x.view(), &[0.05, 0.1], &[128, 128], 1, QDType::QUInt8).unwrap();
    let small = quantize_per_tensor(ramp(&[1, 2, 2, 2]).view(), 0.05, 128, QDType::QUInt8).unwrap();

    assert!(matches!(
        F::add(&qu8, &qi8, 0.1, 0),
        Err(QOpError::DType { .. })
    ));
    assert!(matches!(
        F::add(&qu8, &small, 0.1, 0),
        Err(QOpError::Shape { .. })
    ));
    assert!(matches!(F::relu(&qi32), Err(QOpError::DType { .. })));
    assert!(matches!(
        F::relu(&per_channel),
        Err(QOpError::PerChannelActivation { .. })
    ));
    assert!(matches!(
        F::hardswish(&qu8, 0.0, 0),
        Err(QOpError::QTensor(_))
    ));
    assert!(matches!(
        F::sigmoid(&qu8, 0.1, 300),
        Err(QOpError::QTensor(_))
    ));
    let flat = qu8.flatten(0, 3).unwrap();
    assert!(matches!(
        F::max_pool2d(&flat, &F::MaxPool2d::new([2, 2])),
        Err(QOpError::Kernel { .. })
    ));
    assert!(matches!(
        F::cat(&[], 0, 0.1, 0),
        Err(QOpError::Shape { .. })
    ));
}
