//! Fake-quantize modules against element-wise references.

mod common;

use common::Lcg;
use ndarray::{array, ArrayD, Axis};
use qtensor::QScheme;
use quantization::fake_quantize::{choose_qparams_fbgemm, defaults};
use quantization::{
    DType, FakeQuantize, FakeQuantizeSpec, FakeQuantizer, FusedMovingAvgObsFakeQuantize,
    LearnableFakeQuantize, MovingAverageMinMaxObserver, ObserverSpec, QuantError, UniformOptions,
    ZeroPoints,
};

/// Reference fake quantization of one value: `q = zp + round(x * (1/s))` in f32, clamped,
/// `y = (q - zp) * s`; returns (y, inside range).
fn reference_fq(x: f32, s: f32, zp: i64, qmin: i64, qmax: i64) -> (f32, bool) {
    let q = zp as f32 + (x * (1.0 / s)).round_ties_even();
    let inside = q >= qmin as f32 && q <= qmax as f32;
    let qc = q.max(qmin as f32).min(qmax as f32) as i64;
    ((qc - zp) as f32 * s, inside)
}

#[test]
fn fake_quantize_uses_the_observers_parameters() {
    let mut rng = Lcg(1);
    let spec =
        ObserverSpec::min_max().with_options(UniformOptions::per_tensor().quant_range(0, 15));
    let mut fq = FakeQuantize::new(spec.build().unwrap()).unwrap();
    let mut obs = spec.build().unwrap();
    for k in 0..3 {
        let x = rng.tensor(&[4, 5], 1.0 + k as f32, 0.0);
        let out = fq.forward(x.view()).unwrap();
        obs.observe(x.view()).unwrap();
        let q = obs.calculate_qparams().unwrap();
        let (s, z) = (q.scales[0], q.zero_points.as_int().unwrap()[0]);
        assert_eq!(fq.scale(), vec![s]);
        let grad = out.backward(ArrayD::ones(x.raw_dim()).view()).unwrap();
        for ((&xv, &yv), &g) in x.iter().zip(out.y.iter()).zip(grad.iter()) {
            let (want, inside) = reference_fq(xv, s, z, 0, 15);
            assert_eq!(yv, want);
            assert_eq!(g, if inside { 1.0 } else { 0.0 });
        }
    }
}

#[test]
fn per_channel_fake_quantize_matches_the_reference() {
    let mut rng = Lcg(2);
    let mut fq = defaults::default_per_channel_weight_fake_quant()
        .build()
        .unwrap();
    let x = rng.tensor(&[3, 4, 2], 1.0, 0.0);
    let out = fq.forward(x.view()).unwrap();
    let scales = fq.scale();
    let ZeroPoints::Int(zps) = fq.zero_point() else {
        panic!("integer zero points expected")
    };
    assert_eq!(fq.ch_axis(), Some(0));
    for (c, (xc, yc)) in x
        .axis_iter(Axis(0))
        .zip(out.y.axis_iter(Axis(0)))
        .enumerate()
    {
        for (&xv, &yv) in xc.iter().zip(yc.iter()) {
            assert_eq!(yv, reference_fq(xv, scales[c], zps[c], -128, 127).0);
        }
    }
}

#[test]
fn observer_and_fake_quant_switches() {
    let mut rng = Lcg(3);
    let mut fq = defaults::default_fake_quant().build().unwrap();
    assert_eq!(fq.quant_range(), (0, 127));
    fq.forward(rng.tensor(&[10], 1.0, 0.0).view()).unwrap();
    let frozen = (fq.scale(), fq.zero_point());
    fq.enable_observer(false);
    fq.forward(rng.tensor(&[10], 9.0, 3.0).view()).unwrap();
    assert_eq!((fq.scale(), fq.zero_point()), frozen);
    fq.enable_fake_quant(false);
    let x = rng.tensor(&[2, 3], 1.0, 0.0);
    let out = fq.forward(x.view()).unwrap();
    assert_eq!(out.y, x);
    assert_eq!(out.mask, None);
    let g = rng.tensor(&[2, 3], 1.0, 0.0);
    assert_eq!(out.backward(g.view()).unwrap(), g);
    assert!(out.backward(ArrayD::zeros(vec![3]).view()).is_err());
}

#[test]
fn fused_matches_a_reference_loop() {
    let mut rng = Lcg(4);
    for (spec, symmetric, qmin, qmax) in [
        (
            defaults::default_fused_act_fake_quant(),
            false,
            0i64,
            255i64,
        ),
        (defaults::default_fused_wt_fake_quant(), true, -128, 127),
    ] {
        let mut fq = spec.build().unwrap();
        let mut state: Option<(f32, f32)> = None;
        for k in 0..4 {
            let x = rng.tensor(&[6, 3], 1.0 + k as f32, 0.2);
            let out = fq.forward(x.view()).unwrap();
            let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            state = Some(match state {
                None => (lo, hi),
                Some((a, b)) => (a + 0.01 * (lo - a), b + 0.01 * (hi - b)),
            });
            let (a, b) = state.unwrap();
            let (s, z) = choose_qparams_fbgemm(a, b, qmin, qmax, symmetric);
            assert_eq!(fq.scale(), vec![s]);
            for (&xv, &yv) in x.iter().zip(out.y.iter()) {
                assert_eq!(yv, reference_fq(xv, s, z, qmin, qmax).0);
            }
        }
        assert_eq!(fq.observer().min_val(), vec![state.unwrap().0]);
    }
}

#[test]
fn fused_rejects_what_pytorch_rejects() {
    let axis1 = ObserverSpec::MovingAveragePerChannelMinMax {
        averaging_constant: 0.01,
        ch_axis: 1,
        options: UniformOptions::per_channel()
            .dtype(DType::QInt8)
            .qscheme(QScheme::PerChannelSymmetric),
    };
    assert!(matches!(
        FakeQuantizeSpec::Fused(axis1).build(),
        Err(QuantError::Unsupported { .. })
    ));
    assert!(matches!(
        FakeQuantizeSpec::Fused(ObserverSpec::min_max()).build(),
        Err(QuantError::Unsupported { .. })
    ));
    let obs = MovingAverageMinMaxObserver::new(0.01, UniformOptions::per_tensor()).unwrap();
    let mut fq = FusedMovingAvgObsFakeQuantize::per_tensor(obs);
    let err = fq.forward(array![1.0f32, f32::NAN].into_dyn().view());
    assert_eq!(
        err.unwrap_err(),
        QuantError::NaN {
            observer: "FusedMovingAvgObsFakeQuantize"
        }
    );
}

#[test]
fn float_qparams_fake_quantize_matches_the_reference() {
    let mut fq = defaults::default_embedding_fake_quant().build().unwrap();
    let x = array![[0.5f32, 1.5, 3.0], [-2.0, 0.0, 2.0]].into_dyn();
    let out = fq.forward(x.view()).unwrap();
    let ZeroPoints::Float(zps) = fq.zero_point() else {
        panic!("float zero points expected")
    };
    let scales = fq.scale();
    for (c, row) in x.axis_iter(Axis(0)).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let q = (zps[c] + v * (1.0 / scales[c])).round_ties_even();
            let want = (q.clamp(0.0, 255.0) - zps[c]) * scales[c];
            assert_eq!(out.y[[c, j]], want);
        }
    }
}

#[test]
fn learnable_per_tensor_follows_qtensor() {
    let mut rng = Lcg(5);
    let spec = ObserverSpec::moving_average_min_max();
    let mut fq = LearnableFakeQuantize::new(spec.build().unwrap(), 1.0, 0.0, None, false).unwrap();
    let x = rng.tensor(&[4, 4], 1.0, 0.0);
    fq.forward(x.view()).unwrap();
    let mut obs = spec.build().unwrap();
    obs.observe(x.view()).unwrap();
    assert_eq!(fq.scale(), obs.calculate_qparams().unwrap().scales);
    fq.enable_param_learning();
    fq.set_params(&[0.05], &[7.3]).unwrap();
    let x = rng.tensor(&[4, 4], 3.0, 0.0);
    let y = fq.forward(x.view()).unwrap().y;
    let want =
        qtensor::learnable_fake_quantize_per_tensor_affine(x.view(), 0.05, 7.3, 0, 255).unwrap();
    assert_eq!(y, want);
    let gy = rng.tensor(&[4, 4], 1.0, 0.0);
    let g = fq.backward(gy.view()).unwrap();
    let want = qtensor::learnable_fake_quantize_per_tensor_affine_backward(
        gy.view(),
        x.view(),
        0.05,
        7.3,
        0,
        255,
        1.0,
    )
    .unwrap();
    assert_eq!(g.grad_x, want.grad_x);
    assert_eq!(g.grad_scale, vec![want.grad_scale]);
    assert_eq!(g.grad_zero_point, vec![want.grad_zero_point]);
    assert!(fq.set_params(&[0.0], &[1.0]).is_err());
}

#[test]
fn learnable_per_channel_equals_per_tensor_on_each_channel() {
    let mut rng = Lcg(6);
    let spec = ObserverSpec::moving_average_per_channel_min_max();
    let mut fq =
        LearnableFakeQuantize::new(spec.build().unwrap(), 1.0, 0.0, Some(3), false).unwrap();
    fq.enable_param_learning();
    let (scales, zps) = ([0.02f32, 0.05, 0.1], [3.0f32, 100.0, 250.0]);
    fq.set_params(&scales, &zps).unwrap();
    let x = rng.tensor(&[3, 8], 4.0, 0.0);
    let y = fq.forward(x.view()).unwrap().y;
    let gy = rng.tensor(&[3, 8], 1.0, 0.0);
    let g = fq.backward(gy.view()).unwrap();
    for c in 0..3 {
        let (xc, gc) = (
            x.index_axis(Axis(0), c).into_dyn(),
            gy.index_axis(Axis(0), c).into_dyn(),
        );
        let want_y = qtensor::learnable_fake_quantize_per_tensor_affine(
            xc.view(),
            scales[c],
            zps[c],
            0,
            255,
        )
        .unwrap();
        assert_eq!(y.index_axis(Axis(0), c).into_dyn(), want_y);
        let want = qtensor::learnable_fake_quantize_per_tensor_affine_backward(
            gc.view(),
            xc.view(),
            scales[c],
            zps[c],
            0,
            255,
            1.0,
        )
        .unwrap();
        assert_eq!(g.grad_x.index_axis(Axis(0), c).into_dyn(), want.grad_x);
        assert!((g.grad_scale[c] - want.grad_scale).abs() <= 1e-5 * want.grad_scale.abs().max(1.0));
        assert!(
            (g.grad_zero_point[c] - want.grad_zero_point).abs()
                <= 1e-5 * want.grad_zero_point.abs().max(1.0)
        );
    }
}

#[test]
fn fixed_qparams_fake_quantize_never_changes() {
    let mut fq = defaults::default_fixed_qparams_range_0to1_fake_quant()
        .build()
        .unwrap();
    assert_eq!(fq.name(), "FixedQParamsFakeQuantize");
    let out = fq
        .forward(array![0.0f32, 0.5, 2.0].into_dyn().view())
        .unwrap();
    assert_eq!(fq.scale(), vec![1.0 / 256.0]);
    assert_eq!(out.y, array![0.0f32, 0.5, 255.0 / 256.0].into_dyn());
}
