//! Dynamic quantization of activations and dynamic linear: every ISA path is
//! bit-identical to the scalar one; qparams match PyTorch's fixtures.

mod common;

use common::fixture::*;
use common::{isas, Rng};
use qkernels_x86::*;

#[test]
fn quantize_dynamic_is_identical_on_every_isa() {
    let mut rng = Rng::new(5);
    for &len in &[0usize, 1, 7, 8, 15, 16, 17, 33, 1000] {
        for reduce_range in [false, true] {
            let mut x = rng.f32s(len, -3.0, 5.0);
            // Values that land exactly on .5 after scaling exercise ties.
            if len > 4 {
                x[1] = 0.0;
                x[2] = -3.0;
                x[3] = 5.0;
            }
            let (q0, p0) = quantize_dynamic_with_isa(Isa::Scalar, &x, reduce_range).unwrap();
            for isa in isas() {
                let (q, p) = quantize_dynamic_with_isa(isa, &x, reduce_range).unwrap();
                assert_eq!(p, p0, "{isa}");
                assert_eq!(q, q0, "{isa} len={len}");
            }
            if reduce_range {
                assert!(q0.iter().all(|&v| v <= 128));
            }
        }
    }
    assert!(quantize_dynamic(&[1.0, f32::NAN], false).is_err());
}

#[test]
fn dynamic_linear_is_identical_on_every_isa() {
    let mut rng = Rng::new(11);
    for &(m, k, n) in &[
        (1usize, 1usize, 1usize),
        (3, 17, 65),
        (17, 64, 33),
        (0, 5, 3),
    ] {
        let x = rng.f32s(m * k, -2.0, 2.0);
        let w = rng.i8s(n * k);
        let quant = WeightQuant::PerChannel {
            scales: (0..n).map(|_| rng.f32_in(0.001, 0.01) as f64).collect(),
            zero_points: (0..n).map(|_| rng.below(5) as i32 - 2).collect(),
        };
        let pw = PackedWeight::pack(&w, n, k, quant).unwrap();
        let bias = rng.f32s(n, -1.0, 1.0);
        for relu in [false, true] {
            let opts = DynamicOptions {
                reduce_range: true,
                relu,
            };
            let y0 = dynamic_linear_with_isa(Isa::Scalar, &x, m, &pw, Some(&bias), opts).unwrap();
            if relu {
                assert!(y0.iter().all(|&v| v >= 0.0));
            }
            for isa in isas() {
                let y = dynamic_linear_with_isa(isa, &x, m, &pw, Some(&bias), opts).unwrap();
                let same = y.iter().zip(&y0).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{isa} m={m} k={k} n={n}");
            }
        }
    }
}

#[test]
fn dynamic_linear_equals_quantize_then_gemm_for_any_thread_count() {
    // The fused path quantizes rows while packing them; the composition quantizes all of `x`
    // first. Both must agree bit for bit, across row blocks, panel splits and threads.
    let mut rng = Rng::new(23);
    let before = num_threads();
    for &(m, k, n) in &[
        (1usize, 4096usize, 300usize),
        (200, 300, 130),
        (37, 2100, 70),
    ] {
        let x = rng.f32s(m * k, -3.0, 1.5);
        let w = rng.i8s(n * k);
        let quant = WeightQuant::PerTensor {
            scale: 0.004,
            zero_point: 3,
        };
        let pw = PackedWeight::pack(&w, n, k, quant).unwrap();
        let bias = rng.f32s(n, -1.0, 1.0);
        for reduce_range in [false, true] {
            let (q, qp) = quantize_dynamic(&x, reduce_range).unwrap();
            let pipeline =
                FloatPipeline::dequantize(qp.scale as f32, pw.quant(), Some(&bias), false, n)
                    .unwrap();
            let want = gemm_u8s8_f32(&q, m, qp.zero_point, &pw, &pipeline).unwrap();
            for threads in [1, 2, 3] {
                set_num_threads(threads).unwrap();
                let opts = DynamicOptions {
                    reduce_range,
                    relu: false,
                };
                let got = dynamic_linear(&x, m, &pw, Some(&bias), opts).unwrap();
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "m={m} k={k} n={n} threads={threads}");
            }
        }
    }
    set_num_threads(before).unwrap();
}

#[test]
fn non_finite_activations_are_errors_wherever_they_are() {
    let pw = PackedWeight::pack(
        &[1; 3 * 8],
        3,
        8,
        WeightQuant::PerTensor {
            scale: 0.1,
            zero_point: 0,
        },
    )
    .unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for at in [0usize, 5, 16, 17, 39] {
            let mut x = vec![0.5f32; 5 * 8];
            x[at] = bad;
            let r = dynamic_linear(&x, 5, &pw, None, DynamicOptions::default());
            assert!(r.is_err(), "{bad} at {at}");
        }
    }
}

#[test]
fn choose_qparams_matches_pytorch_dynamic_quantization() {
    let fixtures = load("qtensor.json");
    let mut ran = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        if case["kind"] != "quantize_per_tensor_dynamic" {
            continue;
        }
        let x = floats(&case["inputs"]["x"]);
        let q = &case["expected"]["q"];
        let (qmin, qmax) = match q["dtype"].as_str().unwrap() {
            "quint8" => (0, 255),
            "qint8" => (-128, 127),
            other => panic!("unknown dtype {other}"),
        };
        let rr = case["params"]["reduce_range"].as_bool().unwrap();
        let (lo, hi) = find_min_max(&x);
        let p = choose_qparams(lo, hi, qmin, qmax, rr).unwrap();
        let want_scale = q["scale"].as_f64().unwrap();
        assert!(
            (p.scale - want_scale).abs() <= 1e-6 * want_scale,
            "{}",
            case["name"]
        );
        assert_eq!(
            p.zero_point as i64,
            q["zero_point"].as_i64().unwrap(),
            "{}",
            case["name"]
        );
        if qmin == 0 {
            // Values quantized with fbgemm's fma rounding: equal or off by one on <= 1%.
            let (got, _) = quantize_dynamic(&x, rr).unwrap();
            let (off, worst) = compare_ints(&got, &u8s(q));
            assert!(
                ints_pass(off, worst, got.len()),
                "{}: {off} off, worst {worst}",
                case["name"]
            );
        }
        ran += 1;
    }
    assert!(ran >= 2);
}
