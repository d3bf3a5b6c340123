//! relu / relu6 / hardswish / sigmoid / tanh / leaky_relu / elu against
//! float references, plus input validation.

mod common;

use common::{assert_within_one, bytes, deq, quant};
use proptest::prelude::*;
use qkernels_x86::activation;
use qkernels_x86::op_error::OpError;
use qkernels_x86::quant::{Affine, QInt, QView};

fn reference<T: QInt>(x: &[T], qx: Affine, qo: Affine, f: impl Fn(f64) -> f64) -> Vec<T> {
    x.iter().map(|&v| quant(f(deq(v, qx)), qo)).collect()
}

fn hardswish(v: f64) -> f64 {
    v * (v + 3.0).clamp(0.0, 6.0) / 6.0
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Runs every activation on `x` and checks it against its reference;
/// returns the number of elements off by one.
fn check_all<T: QInt>(x: &[T], qx: Affine, qo: Affine, slope: f64, alpha: f64) -> usize {
    let v = QView::new(x, qx);
    let mut off = 0;
    // Integer clamps keep the input parameters and are exact.
    assert_eq!(
        activation::relu(v).unwrap(),
        reference(x, qx, qx, |y| y.max(0.0))
    );
    off += assert_within_one(
        "relu6",
        &activation::relu6(v).unwrap(),
        &reference(x, qx, qx, |y| y.clamp(0.0, 6.0)),
    );
    off += assert_within_one(
        "hardswish",
        &activation::hardswish(v, qo).unwrap(),
        &reference(x, qx, qo, hardswish),
    );
    off += assert_within_one(
        "sigmoid",
        &activation::sigmoid(v, qo).unwrap(),
        &reference(x, qx, qo, sigmoid),
    );
    let t = activation::tanh(v).unwrap();
    assert_eq!(t.q, activation::tanh_output_qparams::<T>());
    off += assert_within_one("tanh", &t.data, &reference(x, qx, t.q, f64::tanh));
    off += assert_within_one(
        "leaky_relu",
        &activation::leaky_relu(v, slope, qo).unwrap(),
        &reference(x, qx, qo, |y| if y > 0.0 { y } else { y * slope }),
    );
    off += assert_within_one(
        "elu",
        &activation::elu(v, alpha, qo).unwrap(),
        &reference(x, qx, qo, |y| if y > 0.0 { y } else { y.exp_m1() * alpha }),
    );
    off
}

proptest! {
    #[test]
    fn activations_match_float_reference_u8(
        x in proptest::collection::vec(any::<u8>(), 0..300),
        sx in 1e-3f64..0.2, zx in 0i32..256,
        so in 1e-3f64..0.2, zo in 0i32..256,
        slope in -1.0f64..1.0, alpha in 0.0f64..2.0,
    ) {
        check_all(&x, Affine::new(sx, zx), Affine::new(so, zo), slope, alpha);
    }

    #[test]
    fn activations_match_float_reference_i8(
        x in proptest::collection::vec(any::<i8>(), 0..300),
        sx in 1e-3f64..0.2, zx in -128i32..128,
        so in 1e-3f64..0.2, zo in -128i32..128,
        slope in -1.0f64..1.0, alpha in 0.0f64..2.0,
    ) {
        check_all(&x, Affine::new(sx, zx), Affine::new(so, zo), slope, alpha);
    }
}

#[test]
fn tanh_output_qparams_are_pytorchs_fixed_ones() {
    assert_eq!(
        activation::tanh_output_qparams::<u8>(),
        Affine::new(2.0 / 256.0, 128)
    );
    assert_eq!(
        activation::tanh_output_qparams::<i8>(),
        Affine::new(2.0 / 256.0, 0)
    );
}

#[test]
fn activations_rarely_differ_from_reference() {
    let x = bytes(256, 7);
    let mut off = 0;
    let mut total = 0;
    for k in 0..40 {
        let qx = Affine::new(0.011 + 0.0013 * f64::from(k), 40 + 5 * k);
        let qo = Affine::new(0.017 + 0.0007 * f64::from(k), 200 - 3 * k);
        off += check_all(&x, qx, qo, 0.01 * f64::from(k), 0.05 * f64::from(k));
        total += 6 * x.len();
    }
    assert!(off * 100 <= total, "{off} of {total} off by one");
}

#[test]
fn invalid_inputs_are_typed_errors() {
    let x = [0u8, 10, 255];
    let q = Affine::new(0.1, 10);
    let v = QView::new(&x[..], q);
    assert!(matches!(
        activation::relu(QView::new(&x[..], Affine::new(0.0, 0))),
        Err(OpError::InvalidScale { .. })
    ));
    assert!(matches!(
        activation::sigmoid(v, Affine::new(f64::NAN, 0)),
        Err(OpError::InvalidScale { .. })
    ));
    assert!(matches!(
        activation::hardswish(v, Affine::new(0.1, 256)),
        Err(OpError::ZeroPointOutOfRange { .. })
    ));
    assert!(matches!(
        activation::leaky_relu(v, f64::INFINITY, q),
        Err(OpError::InvalidParameter { .. })
    ));
    assert!(matches!(
        activation::elu(v, f64::NAN, q),
        Err(OpError::InvalidParameter { .. })
    ));
    assert!(matches!(
        activation::tanh(QView::new(&[0i8][..], Affine::new(0.1, -129))),
        Err(OpError::ZeroPointOutOfRange { .. })
    ));
}
