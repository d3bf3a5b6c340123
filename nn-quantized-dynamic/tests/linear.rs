//! Dynamic `Linear`: against a scalar reference (activation qparams from the input's range, an
//! integer dot product, float scaling and bias), float16 weights against an `f64` product,
//! `from_float`, the `Module` interface, and bad input.

mod common;

use common::{engines, with_engine, Lcg, TestQuantizer};
use half::f16;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use nn::{Module, NnError, Tensor, Value};
use nn_quantized_dynamic::{
    DynamicError, DynamicWeight, Linear, WeightDType, WeightQuantizer, FP16_MAX,
};
use proptest::prelude::*;
use qtensor::rounding::{choose_qparams, inv_scale, quantize_val};
use qtensor::{quantize_per_tensor, Engine, QDType, QParams, QTensor};

/// `y = x W^T + b` as dynamic quantization defines it, in f64 after the integer product; and
/// the magnitude `sum |terms|` that bounds the float rounding of a fast path.
fn reference(
    x: ArrayViewD<'_, f32>,
    w: &QTensor,
    bias: Option<&[f32]>,
    engine: Engine,
) -> (Vec<f64>, Vec<f64>) {
    let reduce = engine == Engine::Fbgemm;
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    if !x.is_empty() {
        lo = x.iter().copied().fold(f32::INFINITY, f32::min);
        hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    }
    let (scale, zp) = choose_qparams(lo, hi, 0, 255, false, reduce);
    let qmax = if reduce { 127 } else { 255 };
    let inv = inv_scale(scale);
    let (n, k) = (w.shape()[0], w.shape()[1]);
    let wi = w.as_i8().unwrap();
    let (wscales, wzps): (Vec<f64>, Vec<i64>) = match w.qparams() {
        QParams::PerTensor { scale, zero_point } => (vec![*scale; n], vec![*zero_point; n]),
        QParams::PerChannel {
            scales,
            zero_points,
            ..
        } => (scales.clone(), zero_points.clone()),
        other => panic!("{other:?}"),
    };
    let rows = x.len() / k;
    let xs: Vec<f32> = x.iter().copied().collect();
    let (mut y, mut mag) = (Vec::new(), Vec::new());
    for r in 0..rows {
        let q: Vec<i64> = xs[r * k..(r + 1) * k]
            .iter()
            .map(|&v| quantize_val(v, inv, zp, 0, qmax) - i64::from(zp))
            .collect();
        for o in 0..n {
            let acc: i64 = (0..k)
                .map(|c| q[c] * (i64::from(wi[[o, c]]) - wzps[o]))
                .sum();
            let prod = acc as f64 * f64::from(scale as f32) * f64::from(wscales[o] as f32);
            let b = bias.map_or(0.0, |b| f64::from(b[o]));
            y.push(prod + b);
            mag.push(prod.abs() + b.abs());
        }
    }
    (y, mag)
}

fn check(got: &ArrayD<f32>, want: &[f64], mag: &[f64]) -> Result<(), String> {
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        if (f64::from(g) - w).abs() > 4e-7 * m + 1e-30 {
            return Err(format!("element {i}: got {g}, reference {w}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn qint8_equals_the_reference_on_ragged_shapes(
        rows in prop_oneof![Just(0usize), Just(1usize), 2usize..20],
        k in prop_oneof![1usize..5, Just(15usize), Just(16usize), Just(17usize), 30usize..70],
        n in prop_oneof![1usize..5, Just(7usize), Just(8usize), Just(9usize), 20usize..40],
        per_channel in any::<bool>(), bias in any::<bool>(), engine in 0usize..2,
        spread in 0.01f32..50.0, offset in -1.0f32..1.0, seed in any::<u64>(),
    ) {
        let engine = engines()[engine % engines().len()];
        let mut rng = Lcg::new(seed);
        let w = rng.array(&[n, k], -1.0, 1.0);
        let b: Option<Vec<f32>> = bias.then(|| rng.array(&[n], -1.0, 1.0).iter().copied().collect());
        let x = rng.array(&[rows, k], offset * spread - spread, offset * spread + spread);
        let q = if per_channel { TestQuantizer::PerChannel } else { TestQuantizer::PerTensor };
        let (lin, y) = with_engine(engine, || {
            let lin = Linear::from_float_weights(w.view(), b.as_deref(), &q).unwrap();
            let y = lin.run(x.view()).unwrap();
            (lin, y)
        });
        prop_assert_eq!(y.shape(), &[rows, n]);
        prop_assert_eq!(lin.engine(), Some(engine));
        let DynamicWeight::QInt8(qw) = lin.weight() else { panic!("qint8 expected") };
        let (want, mag) = reference(x.view(), qw, b.as_deref(), engine);
        if let Err(e) = check(&y, &want, &mag) {
            return Err(TestCaseError::fail(format!("{engine} {rows}x{k}x{n}: {e}")));
        }
    }

    #[test]
    fn float16_equals_a_double_product_of_the_rounded_weights(
        rows in 0usize..6, k in 1usize..50, n in 1usize..40, bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Lcg::new(seed);
        let w = rng.array(&[n, k], -3.0, 3.0);
        let b: Option<Vec<f32>> = bias.then(|| rng.array(&[n], -1.0, 1.0).iter().copied().collect());
        let x = rng.array(&[rows, k], -2.0, 2.0);
        let lin = Linear::from_float_weights(w.view(), b.as_deref(), &TestQuantizer::Float16).unwrap();
        prop_assert_eq!(lin.dtype(), WeightDType::Float16);
        prop_assert_eq!(lin.engine(), None);
        let y = lin.run(x.view()).unwrap();
        for r in 0..rows {
            for o in 0..n {
                let terms: Vec<f64> = (0..k)
                    .map(|c| f64::from(x[[r, c]]) * f64::from(f16::from_f32(w[[o, c]]).to_f32()))
                    .collect();
                let bv = b.as_ref().map_or(0.0, |b| f64::from(b[o]));
                let want = terms.iter().sum::<f64>() + bv;
                let mag = terms.iter().map(|t| t.abs()).sum::<f64>() + bv.abs();
                prop_assert!((f64::from(y[[r, o]]) - want).abs() <= 1e-6 * mag + 1e-30);
            }
        }
    }
}

#[test]
fn any_leading_shape_and_empty_batches() {
    let mut rng = Lcg::new(1);
    let w = rng.array(&[5, 4], -1.0, 1.0);
    for engine in engines() {
        with_engine(engine, || {
            let lin =
                Linear::from_float_weights(w.view(), None, &TestQuantizer::PerTensor).unwrap();
            let x3 = rng.array(&[2, 3, 4], -1.0, 1.0);
            let y3 = lin.run(x3.view()).unwrap();
            assert_eq!(y3.shape(), &[2, 3, 5]);
            let flat = x3.clone().into_shape_with_order(IxDyn(&[6, 4])).unwrap();
            let y2 = lin.run(flat.view()).unwrap();
            assert_eq!(
                y3.iter().copied().collect::<Vec<_>>(),
                y2.iter().copied().collect::<Vec<_>>()
            );
            let y1 = lin
                .run(x3.index_axis(Axis(0), 0).index_axis(Axis(0), 0).into_dyn())
                .unwrap();
            assert_eq!(y1.shape(), &[5]);
            let empty = lin
                .run(ArrayD::<f32>::zeros(IxDyn(&[0, 4])).view())
                .unwrap();
            assert_eq!(empty.shape(), &[0, 5]);
        });
    }
}

#[test]
fn from_float_and_the_module_interface() {
    nn::manual_seed(3);
    let float = nn::Linear::new(6, 3, true);
    let mut lin = with_engine(Engine::Qnnpack, || {
        Linear::from_float(&float, &TestQuantizer::PerTensor)
    })
    .unwrap();
    let same = with_engine(Engine::Qnnpack, || {
        Linear::from_float_weights(
            float.weight.data().view(),
            Some(&float.bias.as_ref().unwrap().to_vec()),
            &TestQuantizer::PerTensor,
        )
    })
    .unwrap();
    assert_eq!(lin.weight(), same.weight());
    assert_eq!(lin.bias(), same.bias());
    assert_eq!((lin.in_features(), lin.out_features()), (6, 3));
    assert_eq!(lin.type_name(), "DynamicQuantizedLinear");
    assert_eq!(
        lin.extra_repr(),
        "in_features=6, out_features=3, dtype=torch.qint8, qscheme=torch.per_tensor_affine"
    );
    let x = Tensor::randn(&[2, 6]);
    let y = lin.forward(Value::Float(x.clone())).unwrap();
    assert_eq!(
        y.as_float().unwrap().to_array(),
        same.run(x.data().view()).unwrap()
    );

    let q = quantize_per_tensor(x.data().view(), 0.1, 128, QDType::QUInt8).unwrap();
    assert!(matches!(
        lin.forward(Value::Quant(q)).unwrap_err(),
        NnError::QuantizedInput { .. }
    ));
    assert!(matches!(
        lin.forward(Value::Tuple(vec![])).unwrap_err(),
        NnError::WrongValue { .. }
    ));
    let e = lin
        .forward(Value::Float(Tensor::zeros(&[2, 5])))
        .unwrap_err();
    assert!(matches!(e, NnError::InputShape { .. }), "{e}");

    let half = Linear::from_float(&float, &TestQuantizer::Float16).unwrap();
    assert_eq!(
        half.extra_repr(),
        "in_features=6, out_features=3, dtype=torch.float16"
    );
}

/// Returns a quint8 tensor: not a weight dynamic modules take.
struct Quint8Weights;

impl WeightQuantizer for Quint8Weights {
    fn weight_dtype(&self) -> Result<WeightDType, String> {
        Ok(WeightDType::QInt8)
    }
    fn quantize_weight(&self, w: ArrayViewD<'_, f32>) -> Result<QTensor, String> {
        quantize_per_tensor(w, 0.1, 128, QDType::QUInt8).map_err(|e| e.to_string())
    }
}

#[test]
fn bad_input_and_weights_are_typed_errors() {
    let w = ArrayD::from_elem(IxDyn(&[3, 4]), 0.5f32);
    for engine in engines() {
        let lin = with_engine(engine, || {
            Linear::from_float_weights(w.view(), None, &TestQuantizer::PerChannel)
        })
        .unwrap();
        let e = lin.run(ArrayD::zeros(IxDyn(&[2, 5])).view()).unwrap_err();
        assert!(matches!(e, DynamicError::InputShape { .. }), "{e}");
        let e = lin.run(ArrayD::zeros(IxDyn(&[])).view()).unwrap_err();
        assert!(matches!(e, DynamicError::InputShape { .. }), "{e}");
        let mut x = ArrayD::zeros(IxDyn(&[2, 4]));
        x[[1, 2]] = f32::NAN;
        assert!(matches!(
            lin.run(x.view()).unwrap_err(),
            DynamicError::NonFinite { .. }
        ));
        x[[1, 2]] = f32::NEG_INFINITY;
        assert!(matches!(
            lin.run(x.view()).unwrap_err(),
            DynamicError::NonFinite { .. }
        ));
    }
    let q = TestQuantizer::PerTensor;
    let bad = |w: ArrayD<f32>, b: Option<&[f32]>, q: &dyn WeightQuantizer| {
        with_engine(Engine::Qnnpack, || {
            Linear::from_float_weights(w.view(), b, q).map(|_| ())
        })
    };
    assert!(matches!(
        bad(ArrayD::zeros(IxDyn(&[3, 4, 1])), None, &q),
        Err(DynamicError::WeightShape { .. })
    ));
    assert!(matches!(
        bad(w.clone(), Some(&[1.0, 2.0]), &q),
        Err(DynamicError::WeightShape { .. })
    ));
    assert!(matches!(
        bad(w.clone(), Some(&[1.0, f32::NAN, 0.0]), &q),
        Err(DynamicError::NonFinite { .. })
    ));
    let mut nan_w = w.clone();
    nan_w[[0, 0]] = f32::NAN;
    assert!(matches!(
        bad(nan_w, None, &q),
        Err(DynamicError::NonFinite { .. })
    ));
    assert!(matches!(
        bad(w.clone(), None, &TestQuantizer::Failing),
        Err(DynamicError::WeightQuantization { .. })
    ));
    let e = bad(w.clone(), None, &Quint8Weights).unwrap_err();
    assert!(e.to_string().contains("qint8 or float16"), "{e}");
}

#[test]
fn float16_weights_saturate_at_the_largest_half() {
    let w = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![1e6f32, -1e6, 1.0]).unwrap();
    let DynamicWeight::Float16(h) = DynamicWeight::float16(w.view()) else {
        panic!()
    };
    assert_eq!(
        h.iter().map(|v| v.to_f32()).collect::<Vec<_>>(),
        vec![FP16_MAX, -FP16_MAX, 1.0]
    );
}

#[test]
fn linear_relu_is_relu_of_the_linear_output() {
    let mut rng = Lcg::new(12);
    let x = rng.array(&[4, 9], -2.0, 2.0);
    for engine in engines() {
        for q in [
            TestQuantizer::PerTensor,
            TestQuantizer::PerChannel,
            TestQuantizer::Float16,
        ] {
            let (fused, plain) = with_engine(engine, || {
                nn::manual_seed(4);
                let fused =
                    nn_intrinsic::LinearReLU::new(nn::Linear::new(9, 7, true), nn::ReLU::new());
                let d = nn_quantized_dynamic::LinearReLU::from_float(&fused, &q).unwrap();
                let lin = fused.get(0).unwrap().downcast_ref::<nn::Linear>().unwrap();
                (d, Linear::from_float(lin, &q).unwrap())
            });
            let want = plain.run(x.view()).unwrap().mapv(|v| v.max(0.0));
            let got = fused.run(x.view()).unwrap();
            assert_eq!(common::bits(&got), common::bits(&want), "{q:?} {engine}");
            assert_eq!(fused.type_name(), "DynamicQuantizedLinearReLU");
        }
    }
    let e = nn_quantized_dynamic::LinearReLU::from_float(
        &nn::Linear::new(2, 2, true),
        &TestQuantizer::PerTensor,
    )
    .unwrap_err();
    assert!(matches!(e, DynamicError::FromFloat { .. }), "{e}");
}
