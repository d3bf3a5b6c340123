//! Observers against slow references, and their handling of bad input.

mod common;

use common::{reference_channel_extrema, reference_qparams, Lcg};
use ndarray::{array, ArrayD, IxDyn};
use qtensor::QScheme;
use quantization::{
    DType, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver, NoopObserver, Observer, ObserverSpec,
    PerChannelMinMaxObserver, PlaceholderObserver, QuantError, RecordingObserver, UniformOptions,
    ZeroPoints,
};

/// Option sets covering both dtypes, both per-tensor schemes, reduce_range and custom ranges.
fn per_tensor_options() -> Vec<(UniformOptions, i64, i64, Option<i64>)> {
    let o = UniformOptions::per_tensor;
    vec![
        (o(), 0, 255, None),
        (o().reduce_range(true), 0, 127, None),
        (o().dtype(DType::QInt8), -128, 127, None),
        (
            o().dtype(DType::QInt8)
                .qscheme(QScheme::PerTensorSymmetric)
                .reduce_range(true),
            -64,
            63,
            None,
        ),
        (o().qscheme(QScheme::PerTensorSymmetric), 0, 255, Some(128)),
        (
            o().qscheme(QScheme::PerTensorSymmetric).quant_range(0, 15),
            0,
            15,
            Some(7),
        ),
        (o().quant_range(0, 15), 0, 15, None),
        (o().quant_range(0, 255).reduce_range(true), 0, 127, None),
    ]
}

fn int_zps(z: &ZeroPoints) -> Vec<i64> {
    z.as_int().expect("integer zero points").to_vec()
}

#[test]
fn min_max_matches_the_reference_over_batches() {
    let mut rng = Lcg(7);
    for (opts, qmin, qmax, mid) in per_tensor_options() {
        let mut obs = MinMaxObserver::new(opts).unwrap();
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for (k, shape) in [[3, 5], [1, 1], [7, 2]].iter().enumerate() {
            let x = rng.tensor(shape, 1.0 + k as f32, 0.3 * k as f32);
            obs.observe(x.view()).unwrap();
            for &v in x.iter() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            let q = obs.calculate_qparams().unwrap();
            let symmetric = opts.qscheme.is_symmetric();
            let (s, z) = reference_qparams(lo, hi, qmin, qmax, symmetric, mid, opts.eps);
            assert_eq!(q.scales, vec![s], "{opts:?}");
            assert_eq!(int_zps(&q.zero_points), vec![z], "{opts:?}");
            assert_eq!((q.quant_min, q.quant_max), (qmin, qmax));
            assert_eq!((obs.min_val(), obs.max_val()), (vec![lo], vec![hi]));
        }
    }
}

#[test]
fn moving_average_matches_the_reference() {
    let mut rng = Lcg(11);
    for c in [0.01f32, 0.5, 1.0] {
        let mut obs = MovingAverageMinMaxObserver::new(c, UniformOptions::per_tensor()).unwrap();
        let mut state: Option<(f32, f32)> = None;
        for k in 0..4 {
            let x = rng.tensor(&[4, 6], 1.0 + k as f32, 0.0);
            obs.observe(x.view()).unwrap();
            let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            state = Some(match state {
                None => (lo, hi),
                Some((a, b)) => (a + c * (lo - a), b + c * (hi - b)),
            });
        }
        let (a, b) = state.unwrap();
        assert_eq!((obs.min_val(), obs.max_val()), (vec![a], vec![b]));
        let (s, z) = reference_qparams(a, b, 0, 255, false, None, f32::EPSILON);
        let q = obs.calculate_qparams().unwrap();
        assert_eq!((q.scales[0], int_zps(&q.zero_points)[0]), (s, z));
    }
}

#[test]
fn per_channel_matches_the_reference_on_every_axis() {
    let mut rng = Lcg(3);
    for shape in [vec![5], vec![3, 1], vec![2, 3, 4], vec![1, 4, 2, 3]] {
        for axis in 0..shape.len() {
            let opts = UniformOptions::per_channel()
                .dtype(DType::QInt8)
                .qscheme(QScheme::PerChannelSymmetric);
            let mut obs = PerChannelMinMaxObserver::new(axis, opts).unwrap();
            let mut avg = MovingAveragePerChannelMinMaxObserver::new(0.25, axis, opts).unwrap();
            let xs = [rng.tensor(&shape, 1.0, 0.0), rng.tensor(&shape, 2.0, 0.5)];
            for x in &xs {
                obs.observe(x.view()).unwrap();
                avg.observe(x.view()).unwrap();
            }
            let (e0, e1) = (
                reference_channel_extrema(&xs[0], axis),
                reference_channel_extrema(&xs[1], axis),
            );
            let running: Vec<(f32, f32)> = e0
                .iter()
                .zip(&e1)
                .map(|(a, b)| (a.0.min(b.0), a.1.max(b.1)))
                .collect();
            let moving: Vec<(f32, f32)> = e0
                .iter()
                .zip(&e1)
                .map(|(a, b)| (a.0 + 0.25 * (b.0 - a.0), a.1 + 0.25 * (b.1 - a.1)))
                .collect();
            for (o, want) in [
                (&obs as &dyn Observer, running),
                (&avg as &dyn Observer, moving),
            ] {
                let q = o.calculate_qparams().unwrap();
                assert_eq!(q.axis, Some(axis));
                for (c, &(lo, hi)) in want.iter().enumerate() {
                    let (s, z) = reference_qparams(lo, hi, -128, 127, true, None, f32::EPSILON);
                    assert_eq!(q.scales[c], s, "{shape:?} axis {axis} channel {c}");
                    assert_eq!(int_zps(&q.zero_points)[c], z);
                }
            }
        }
    }
}

#[test]
fn float_qparams_give_float_zero_points() {
    let opts = UniformOptions::per_channel().qscheme(QScheme::PerChannelAffineFloatQParams);
    let mut obs = PerChannelMinMaxObserver::new(0, opts).unwrap();
    obs.observe(array![[1.0f32, 3.0], [-2.0, 2.0]].into_dyn().view())
        .unwrap();
    let q = obs.calculate_qparams().unwrap();
    let (s0, s1) = ((3.0f32 - 1.0) / 255.0, (2.0f32 + 2.0) / 255.0);
    assert_eq!(q.scales, vec![s0, s1]);
    assert_eq!(q.zero_points, ZeroPoints::Float(vec![-1.0 / s0, 2.0 / s1]));
}

fn all_observers() -> Vec<Box<dyn Observer>> {
    vec![
        ObserverSpec::min_max().build().unwrap(),
        ObserverSpec::moving_average_min_max().build().unwrap(),
        ObserverSpec::per_channel_min_max().build().unwrap(),
        ObserverSpec::moving_average_per_channel_min_max()
            .build()
            .unwrap(),
        Box::new(HistogramObserver::new(64, UniformOptions::per_tensor()).unwrap()),
    ]
}

#[test]
fn nan_is_an_error_naming_the_observer_and_leaves_the_state() {
    for mut obs in all_observers() {
        obs.observe(array![[1.0f32, -1.0], [0.5, 2.0]].into_dyn().view())
            .unwrap();
        let before = (
            obs.min_val(),
            obs.max_val(),
            obs.calculate_qparams().unwrap(),
        );
        let err = obs
            .observe(array![[5.0f32, f32::NAN], [0.0, 9.0]].into_dyn().view())
            .unwrap_err();
        assert_eq!(
            err,
            QuantError::NaN {
                observer: obs.name()
            }
        );
        assert!(err.to_string().contains(obs.name()));
        let after = (
            obs.min_val(),
            obs.max_val(),
            obs.calculate_qparams().unwrap(),
        );
        assert_eq!(before, after, "{}", obs.name());
    }
}

#[test]
fn infinities_are_skipped_and_counted() {
    for mut obs in all_observers() {
        let x = array![[1.0f32, f32::INFINITY], [-1.0, f32::NEG_INFINITY]].into_dyn();
        let seen = obs.observe(x.view()).unwrap();
        assert_eq!(seen.infinities_ignored, 2, "{}", obs.name());
        assert!(!seen.all_ignored);
        let mut clean = all_observers()
            .into_iter()
            .find(|o| o.name() == obs.name())
            .unwrap();
        clean
            .observe(array![[1.0f32], [-1.0]].into_dyn().view())
            .unwrap();
        assert_eq!(
            obs.calculate_qparams().unwrap(),
            clean.calculate_qparams().unwrap(),
            "{}",
            obs.name()
        );
        let q = obs.calculate_qparams().unwrap();
        assert!(q.scales.iter().all(|s| s.is_finite() && *s > 0.0));
    }
}

#[test]
fn an_all_infinite_batch_changes_nothing() {
    for mut obs in all_observers() {
        let seen = obs
            .observe(array![[f32::INFINITY, f32::NEG_INFINITY]].into_dyn().view())
            .unwrap();
        assert!(seen.all_ignored, "{}", obs.name());
        let q = obs.calculate_qparams().unwrap();
        assert!(q.is_fallback(), "{}", obs.name());
    }
}

#[test]
fn an_observer_that_saw_nothing_returns_the_fallback_and_says_so() {
    for obs in all_observers() {
        let q = obs.calculate_qparams().unwrap();
        assert_eq!(q.scales, vec![1.0], "{}", obs.name());
        assert_eq!(q.zero_points.to_f64(), vec![0.0]);
        assert!(q.is_fallback());
    }
    let mut obs = ObserverSpec::min_max().build().unwrap();
    obs.observe(array![1.0f32, 2.0].into_dyn().view()).unwrap();
    assert!(!obs.calculate_qparams().unwrap().is_fallback());
    obs.reset();
    assert!(obs.calculate_qparams().unwrap().is_fallback());
    assert_eq!(obs.min_val(), vec![f32::INFINITY]);
}

#[test]
fn empty_input_is_an_error() {
    for mut obs in all_observers() {
        let x = ArrayD::<f32>::zeros(IxDyn(&[2, 0]));
        assert_eq!(
            obs.observe(x.view()).unwrap_err(),
            QuantError::Empty {
                observer: obs.name()
            }
        );
    }
}

#[test]
fn ch_axis_out_of_range_is_an_error() {
    let mut obs = PerChannelMinMaxObserver::new(2, UniformOptions::per_channel()).unwrap();
    let err = obs
        .observe(array![[1.0f32, 2.0]].into_dyn().view())
        .unwrap_err();
    assert_eq!(
        err,
        QuantError::ChAxisOutOfRange {
            observer: "PerChannelMinMaxObserver",
            ch_axis: 2,
            rank: 2
        }
    );
}

#[test]
fn a_changing_channel_count_is_an_error() {
    let mut obs = PerChannelMinMaxObserver::new(0, UniformOptions::per_channel()).unwrap();
    obs.observe(ArrayD::zeros(IxDyn(&[3, 2])).view()).unwrap();
    let err = obs
        .observe(ArrayD::zeros(IxDyn(&[4, 2])).view())
        .unwrap_err();
    assert!(matches!(
        err,
        QuantError::ChannelCountChanged {
            expected: 3,
            got: 4,
            ..
        }
    ));
}

#[test]
fn bad_quant_ranges_are_errors() {
    let o = UniformOptions::per_tensor;
    for opts in [
        o().quant_range(5, 5),
        o().quant_range(10, 3),
        o().quant_range(1, 10),
        o().quant_range(-3, 10),
        o().dtype(DType::QInt8).quant_range(-200, 0),
        UniformOptions {
            quant_min: Some(0),
            ..o()
        },
    ] {
        assert!(
            matches!(
                MinMaxObserver::new(opts),
                Err(QuantError::BadQuantRange { .. })
            ),
            "{opts:?}"
        );
    }
    assert!(matches!(
        MinMaxObserver::new(o().eps(0.0)),
        Err(QuantError::BadArgument { arg: "eps", .. })
    ));
    assert!(matches!(
        MovingAverageMinMaxObserver::new(1.5, o()),
        Err(QuantError::BadArgument {
            arg: "averaging_constant",
            ..
        })
    ));
}

#[test]
fn symmetric_quint8_with_reduce_range_is_an_error() {
    let sym = UniformOptions::per_tensor()
        .qscheme(QScheme::PerTensorSymmetric)
        .reduce_range(true);
    let per_channel = UniformOptions::per_channel()
        .qscheme(QScheme::PerChannelSymmetric)
        .reduce_range(true);
    let results = [
        MinMaxObserver::new(sym).map(|_| ()),
        HistogramObserver::new(16, sym).map(|_| ()),
        PerChannelMinMaxObserver::new(0, per_channel).map(|_| ()),
    ];
    for r in results {
        assert!(matches!(r, Err(QuantError::Unsupported { .. })), "{r:?}");
    }
    assert!(MinMaxObserver::new(sym.dtype(DType::QInt8)).is_ok());
}

#[test]
fn schemes_of_the_wrong_family_and_float_dtypes_are_errors() {
    assert!(matches!(
        MinMaxObserver::new(UniformOptions::per_channel()),
        Err(QuantError::Unsupported { .. })
    ));
    assert!(matches!(
        PerChannelMinMaxObserver::new(0, UniformOptions::per_tensor()),
        Err(QuantError::Unsupported { .. })
    ));
    assert!(matches!(
        MinMaxObserver::new(UniformOptions::per_tensor().dtype(DType::Float16)),
        Err(QuantError::Unsupported { .. })
    ));
}

#[test]
fn stateless_observers() {
    let x = array![1.0f32, f32::NAN].into_dyn();
    let mut p = PlaceholderObserver::new(DType::Float16, true);
    p.observe(x.view()).unwrap();
    assert!(p.is_dynamic());
    assert_eq!(
        p.calculate_qparams().unwrap_err(),
        QuantError::NoQParams {
            observer: "PlaceholderObserver"
        }
    );
    let mut n = NoopObserver::new(DType::Float16);
    n.observe(x.view()).unwrap();
    assert!(n.calculate_qparams().is_err());
    let mut r = RecordingObserver::new(DType::QUInt8);
    r.observe(x.view()).unwrap();
    r.observe(array![2.0f32].into_dyn().view()).unwrap();
    assert_eq!(r.tensor_values().len(), 2);
    assert_eq!(r.tensor_values()[1], array![2.0f32].into_dyn());
    let f = quantization::FixedQParamsObserver::range_neg1to1();
    let q = f.calculate_qparams().unwrap();
    assert_eq!(
        (q.scales[0], int_zps(&q.zero_points)[0]),
        (2.0 / 256.0, 128)
    );
    assert!(quantization::FixedQParamsObserver::new(0.0, 0, DType::QUInt8, 0, 255).is_err());
    assert!(quantization::FixedQParamsObserver::new(0.1, 300, DType::QUInt8, 0, 255).is_err());
}
