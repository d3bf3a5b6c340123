//! Properties on random batches: every observer and fake-quant module yields finite positive
//! scales and zero points inside its range.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use qtensor::QScheme;
use quantization::fake_quantize::{choose_qparams_fbgemm, defaults};
use quantization::{DType, ObserverSpec, UniformOptions, ZeroPoints};

fn specs() -> Vec<ObserverSpec> {
    let t = UniformOptions::per_tensor;
    let c = UniformOptions::per_channel;
    vec![
        ObserverSpec::MinMax(t()),
        ObserverSpec::MinMax(t().dtype(DType::QInt8).qscheme(QScheme::PerTensorSymmetric)),
        ObserverSpec::MinMax(t().quant_range(0, 15).reduce_range(true)),
        ObserverSpec::moving_average_min_max(),
        ObserverSpec::MovingAverageMinMax {
            averaging_constant: 0.5,
            options: t().qscheme(QScheme::PerTensorSymmetric),
            is_dynamic: false,
        },
        ObserverSpec::per_channel_min_max(),
        ObserverSpec::PerChannelMinMax {
            ch_axis: 1,
            options: c()
                .dtype(DType::QInt8)
                .qscheme(QScheme::PerChannelSymmetric),
        },
        ObserverSpec::PerChannelMinMax {
            ch_axis: 0,
            options: c().qscheme(QScheme::PerChannelAffineFloatQParams),
        },
        ObserverSpec::moving_average_per_channel_min_max(),
        ObserverSpec::Histogram {
            bins: 64,
            upsample_rate: 16,
            options: t().reduce_range(true),
        },
        ObserverSpec::Histogram {
            bins: 7,
            upsample_rate: 3,
            options: t().dtype(DType::QInt8).qscheme(QScheme::PerTensorSymmetric),
        },
    ]
}

/// Batches of shape [rows, cols] with values of widely varying magnitude (incl. constants,
/// tiny and huge ranges) and the odd infinity.
fn batches() -> impl Strategy<Value = Vec<ArrayD<f32>>> {
    let batch = (1usize..5, 1usize..9, -30i32..30, any::<bool>()).prop_flat_map(
        |(rows, cols, exp, constant)| {
            let scale = 2f32.powi(exp / 3);
            proptest::collection::vec(
                prop_oneof![
                    20 => (-1.0f32..1.0).prop_map(move |v| if constant { scale } else { v * scale }),
                    1 => Just(f32::INFINITY),
                    1 => Just(f32::NEG_INFINITY),
                ],
                rows * cols,
            )
            .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&[rows, cols]), v).unwrap())
        },
    );
    proptest::collection::vec(batch, 1..5)
}

fn check(scales: &[f32], zps: &ZeroPoints, range: (i64, i64)) -> Result<(), TestCaseError> {
    for &s in scales {
        prop_assert!(s.is_finite() && s > 0.0, "scale {s}");
    }
    match zps {
        ZeroPoints::Int(z) => {
            for &z in z {
                prop_assert!(
                    range.0 <= z && z <= range.1,
                    "zero point {z} outside {range:?}"
                );
            }
        }
        ZeroPoints::Float(z) => prop_assert!(z.iter().all(|v| v.is_finite())),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn observers_give_finite_scales_and_zero_points_in_range(xs in batches()) {
        for spec in specs() {
            let mut obs = spec.build().unwrap();
            for x in &xs {
                // Batches whose column count differs from the first one's may change the
                // channel count of axis-1 observers: that is a typed error, not a panic.
                let _ = obs.observe(x.view());
                let q = obs.calculate_qparams().unwrap();
                check(&q.scales, &q.zero_points, (q.quant_min, q.quant_max))?;
            }
        }
    }

    #[test]
    fn fake_quant_modules_stay_in_range(xs in batches()) {
        for spec in [
            defaults::default_fake_quant(),
            defaults::default_weight_fake_quant(),
            defaults::default_fused_act_fake_quant(),
            defaults::default_fused_wt_fake_quant(),
            defaults::default_histogram_fake_quant(),
        ] {
            let mut fq = spec.build().unwrap();
            for x in &xs {
                let out = fq.forward(x.view()).unwrap();
                check(&fq.scale(), &fq.zero_point(), fq.quant_range())?;
                let ZeroPoints::Int(z) = fq.zero_point() else { unreachable!() };
                let (s, z) = (fq.scale()[0], z[0]);
                let (lo, hi) = ((fq.quant_range().0 - z) as f32 * s, (fq.quant_range().1 - z) as f32 * s);
                for &y in out.y.iter() {
                    prop_assert!(y >= lo && y <= hi, "{y} outside [{lo}, {hi}]");
                }
            }
        }
    }

    #[test]
    fn fbgemm_qparams_cover_the_range(a in -1e4f32..1e4, b in -1e4f32..1e4, sym in any::<bool>(), signed in any::<bool>()) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (qmin, qmax) = if signed { (-128, 127) } else { (0, 255) };
        let (s, z) = choose_qparams_fbgemm(lo, hi, qmin, qmax, sym);
        prop_assert!(s.is_finite() && s > 0.0);
        prop_assert!(qmin <= z && z <= qmax);
        let s64 = f64::from(s);
        let tol = 1.01 * s64;
        prop_assert!((qmin - z) as f64 * s64 <= f64::from(lo.min(0.0)) + tol);
        prop_assert!((qmax - z) as f64 * s64 >= f64::from(hi.max(0.0)) - tol);
    }
}
