//! Every ISA path of the GEMM equals the reference bit for bit.

mod common;

use common::{isas, Rng};
use proptest::prelude::*;
use qkernels_x86::output::Granular;
use qkernels_x86::reference;
use qkernels_x86::*;

const DIMS: [usize; 9] = [0, 1, 3, 15, 16, 17, 63, 64, 65];

fn pack(
    w: &[i8],
    n: usize,
    k: usize,
    per_channel: bool,
    rng: &mut Rng,
) -> (PackedWeight, Vec<i32>) {
    let quant = if per_channel {
        WeightQuant::PerChannel {
            scales: (0..n).map(|_| rng.f32_in(0.001, 0.02) as f64).collect(),
            zero_points: (0..n).map(|_| rng.below(21) as i32 - 10).collect(),
        }
    } else {
        WeightQuant::PerTensor {
            scale: 0.01,
            zero_point: rng.below(7) as i32 - 3,
        }
    };
    let zps = (0..n).map(|j| quant.zero_point(j)).collect();
    (PackedWeight::pack(w, n, k, quant).unwrap(), zps)
}

fn pipeline(n: usize, rng: &mut Rng, per_channel: bool, relu: bool) -> OutputPipeline {
    let multiplier = if per_channel {
        Granular::PerChannel((0..n).map(|_| rng.f32_in(1e-4, 5e-3)).collect())
    } else {
        Granular::PerTensor(rng.f32_in(1e-4, 5e-3))
    };
    OutputPipeline {
        multiplier,
        bias: Some(PipelineBias {
            values: rng.f32s(n, -30.0, 30.0),
            scaling: if per_channel {
                BiasScaling::Divide(rng.f32s(n, 1e-4, 1e-2))
            } else {
                BiasScaling::Reciprocal(rng.f32_in(100.0, 1000.0))
            },
        }),
        zero_point: rng.below(256) as i32,
        clamp_min: if relu { 100 } else { 0 },
        clamp_max: if relu { 255 } else { 200 },
    }
}

fn check_case(m: usize, n: usize, k: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let a = rng.u8s(m * k);
    let w = rng.i8s(n * k);
    let per_channel = seed.is_multiple_of(2);
    let (pw, zps) = pack(&w, n, k, per_channel, &mut rng);
    let a_zp = rng.below(256) as i32;
    let raw_ref = reference::gemm_i32(&a, m, k, &w, n);
    let corr = reference::gemm_corrected(&a, m, k, a_zp, &w, n, &zps);
    let p = pipeline(n, &mut rng, per_channel, seed.is_multiple_of(3));
    let q_ref = reference::requantize(&corr, n, &p);
    let fp = FloatPipeline {
        scale: Granular::PerTensor(1e-3),
        bias: Some(rng.f32s(n, -1.0, 1.0)),
        relu: seed % 3 == 1,
    };
    let f_ref = reference::dequantize(&corr, n, &fp);
    for isa in isas() {
        let raw = gemm_u8s8_i32_with_isa(isa, &a, m, &pw).unwrap();
        assert_eq!(raw, raw_ref, "raw {isa} m={m} n={n} k={k}");
        let q = gemm_u8s8_requant_with_isa(isa, &a, m, a_zp, &pw, &p).unwrap();
        assert_eq!(q, q_ref, "requant {isa} m={m} n={n} k={k}");
        let f = gemm_u8s8_f32_with_isa(isa, &a, m, a_zp, &pw, &fp).unwrap();
        let same = f
            .iter()
            .zip(&f_ref)
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "float {isa} m={m} n={n} k={k}");
    }
}

#[test]
fn ragged_shapes_equal_reference_on_every_isa() {
    let mut seed = 1;
    for &m in &DIMS {
        for &n in DIMS.iter().chain(&[129usize]) {
            for &k in &DIMS {
                check_case(m, n, k, seed);
                seed += 1;
            }
        }
    }
}

#[test]
fn large_k_equals_reference() {
    check_case(5, 70, 4099, 101);
    check_case(13, 33, 1029, 102);
    // Several K blocks (with a partial last one) and several row tiles.
    check_case(40, 70, 5001, 103);
    check_case(7, 130, 2052, 104);
}

#[test]
fn wrapping_accumulation_matches_reference() {
    // K large enough that sum(a * w) leaves the i32 range: all paths must wrap alike.
    let (m, n, k) = (2, 3, 70_000);
    let a = vec![255u8; m * k];
    let w = vec![-128i8; n * k];
    let pw = PackedWeight::pack(
        &w,
        n,
        k,
        WeightQuant::PerTensor {
            scale: 0.1,
            zero_point: 0,
        },
    )
    .unwrap();
    let expect = reference::gemm_i32(&a, m, k, &w, n);
    assert_ne!(expect[0] as i64, 255i64 * -128 * k as i64);
    for isa in isas() {
        assert_eq!(
            gemm_u8s8_i32_with_isa(isa, &a, m, &pw).unwrap(),
            expect,
            "{isa}"
        );
    }
}

#[test]
fn saturation_free_extremes() {
    // 255 * 127 * 2 overflows i16: the AVX2 path must still be exact.
    let (m, n, k) = (4, 16, 64);
    let a = vec![255u8; m * k];
    for wv in [127i8, -128] {
        let w = vec![wv; n * k];
        let pw = PackedWeight::pack(
            &w,
            n,
            k,
            WeightQuant::PerTensor {
                scale: 0.1,
                zero_point: 0,
            },
        )
        .unwrap();
        let expect = vec![255 * wv as i32 * k as i32; m * n];
        for isa in isas() {
            assert_eq!(
                gemm_u8s8_i32_with_isa(isa, &a, m, &pw).unwrap(),
                expect,
                "{isa}"
            );
        }
    }
}

#[test]
fn thread_count_does_not_change_results() {
    let (m, n, k) = (67, 200, 300);
    let mut rng = Rng::new(7);
    let a = rng.u8s(m * k);
    let w = rng.i8s(n * k);
    let (pw, _) = pack(&w, n, k, true, &mut rng);
    let p = pipeline(n, &mut rng, true, false);
    let before = num_threads();
    let mut outs = Vec::new();
    for t in [1, 2, 3] {
        set_num_threads(t).unwrap();
        for isa in isas() {
            outs.push(gemm_u8s8_requant_with_isa(isa, &a, m, 17, &pw, &p).unwrap());
        }
    }
    set_num_threads(before).unwrap();
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn bad_lengths_are_errors() {
    let pw = PackedWeight::pack(
        &[0; 6],
        2,
        3,
        WeightQuant::PerTensor {
            scale: 0.1,
            zero_point: 0,
        },
    )
    .unwrap();
    assert!(matches!(
        gemm_u8s8_i32(&[0; 5], 2, &pw),
        Err(KernelError::LengthMismatch { .. })
    ));
    let p = OutputPipeline {
        multiplier: Granular::PerChannel(vec![0.1; 3]),
        bias: None,
        zero_point: 0,
        clamp_min: 0,
        clamp_max: 255,
    };
    assert!(gemm_u8s8_requant(&[0; 6], 2, 0, &pw, &p).is_err());
    assert!(set_num_threads(0).is_err());
}

#[test]
fn unavailable_isa_is_an_error_not_ub() {
    for isa in Isa::ALL {
        let pw = PackedWeight::pack(
            &[1; 4],
            2,
            2,
            WeightQuant::PerTensor {
                scale: 0.1,
                zero_point: 0,
            },
        )
        .unwrap();
        let r = gemm_u8s8_i32_with_isa(isa, &[1; 2], 1, &pw);
        assert_eq!(r.is_ok(), isa.is_available());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn random_shapes_equal_reference(m in 0usize..20, n in 0usize..140, k in 0usize..150, seed in any::<u64>()) {
        check_case(m, n, k, seed);
    }
}

#[test]
fn large_multi_block_gemm_equals_reference() {
    // Several row blocks and panel chunks, run with 2 threads.
    let (m, n, k) = (100, 300, 2048);
    let mut rng = Rng::new(99);
    let a = rng.u8s(m * k);
    let w = rng.i8s(n * k);
    let pw = PackedWeight::pack(
        &w,
        n,
        k,
        WeightQuant::PerTensor {
            scale: 0.01,
            zero_point: 0,
        },
    )
    .unwrap();
    let expect = reference::gemm_i32(&a, m, k, &w, n);
    let before = num_threads();
    set_num_threads(2).unwrap();
    for isa in isas() {
        assert_eq!(
            gemm_u8s8_i32_with_isa(isa, &a, m, &pw).unwrap(),
            expect,
            "{isa}"
        );
    }
    set_num_threads(before).unwrap();
}

#[test]
fn pipeline_construction_rejects_bad_parameters() {
    let w = WeightQuant::PerTensor {
        scale: 0.01,
        zero_point: 0,
    };
    let out = QParams::new(0.1, 10);
    let ok = OutputPipeline::requantize(0.02, &w, Some(&[0.5, 1.0]), out, Activation::Identity, 2);
    assert!(ok.is_ok());
    let bad = |r: Result<OutputPipeline>| assert!(r.is_err());
    bad(OutputPipeline::requantize(
        f64::NAN,
        &w,
        None,
        out,
        Activation::Identity,
        2,
    ));
    bad(OutputPipeline::requantize(
        0.0,
        &w,
        None,
        out,
        Activation::Identity,
        2,
    ));
    bad(OutputPipeline::requantize(
        0.02,
        &w,
        None,
        QParams::new(0.1, 300),
        Activation::Identity,
        2,
    ));
    bad(OutputPipeline::requantize(
        0.02,
        &w,
        None,
        QParams::new(-1.0, 0),
        Activation::Identity,
        2,
    ));
    bad(OutputPipeline::requantize(
        0.02,
        &w,
        Some(&[f32::INFINITY, 0.0]),
        out,
        Activation::Identity,
        2,
    ));
    bad(OutputPipeline::requantize(
        0.02,
        &w,
        Some(&[0.0]),
        out,
        Activation::Identity,
        2,
    ));
    bad(OutputPipeline::requantize(
        0.02,
        &w,
        None,
        out,
        Activation::Clamp { min: 9, max: 3 },
        2,
    ));
    let relu = OutputPipeline::requantize(0.02, &w, None, out, Activation::Relu, 2).unwrap();
    assert_eq!((relu.clamp_min, relu.clamp_max), (10, 255));
    let clamp =
        OutputPipeline::requantize(0.02, &w, None, out, Activation::Clamp { min: 3, max: 9 }, 2)
            .unwrap();
    assert_eq!((clamp.clamp_min, clamp.clamp_max), (3, 9));
}
