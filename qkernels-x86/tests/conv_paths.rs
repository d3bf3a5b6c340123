//! Convolution on every ISA equals a naive direct convolution bit for bit.

mod common;

use common::{isas, Rng};
use proptest::prelude::*;
use qkernels_x86::reference;
use qkernels_x86::*;

struct Case {
    x_shape: Vec<usize>,
    w_shape: Vec<usize>,
    params: ConvParams,
    per_channel: bool,
    relu: bool,
}

fn run(case: &Case, seed: u64) {
    let mut rng = Rng::new(seed);
    let xn: usize = case.x_shape.iter().product();
    let wn: usize = case.w_shape.iter().product();
    let x = rng.u8s(xn);
    let w = rng.i8s(wn);
    let o = if case.params.transposed {
        case.w_shape[1] * case.params.groups
    } else {
        case.w_shape[0]
    };
    let quant = if case.per_channel {
        WeightQuant::PerChannel {
            scales: (0..o).map(|_| rng.f32_in(0.002, 0.01) as f64).collect(),
            zero_points: (0..o).map(|_| rng.below(9) as i32 - 4).collect(),
        }
    } else {
        WeightQuant::PerTensor {
            scale: 0.004,
            zero_point: rng.below(5) as i32 - 2,
        }
    };
    let w_zp: Vec<i32> = (0..o).map(|j| quant.zero_point(j)).collect();
    let xq = QParams::new(0.05, rng.below(256) as i32);
    let out = QParams::new(rng.f32_in(0.05, 0.4) as f64, rng.below(256) as i32);
    let bias = rng.f32s(o, -2.0, 2.0);
    let act = if case.relu {
        Activation::Relu
    } else {
        Activation::Identity
    };
    let pw = PackedConvWeight::pack(&w, &case.w_shape, quant.clone(), case.params.clone()).unwrap();
    assert_eq!(pw.unpack(), w, "unpack round trip");
    let pipeline = OutputPipeline::requantize(xq.scale, &quant, Some(&bias), out, act, o).unwrap();
    let (want, want_shape) = reference::conv(
        &x,
        &case.x_shape,
        xq.zero_point,
        &w,
        &case.w_shape,
        &w_zp,
        &case.params,
        &pipeline,
    );
    for isa in isas() {
        let view = QuantizedTensorView {
            data: &x,
            shape: &case.x_shape,
            qparams: xq,
        };
        let got = quantized_conv_with_isa(isa, view, &pw, Some(&bias), out, act).unwrap();
        assert_eq!(got.shape, want_shape, "{isa} shape");
        assert_eq!(
            got.data, want,
            "{isa} x={:?} w={:?} {:?}",
            case.x_shape, case.w_shape, case.params
        );
    }
}

fn p(spatial: usize, stride: usize, pad: usize, dil: usize, groups: usize) -> ConvParams {
    ConvParams {
        stride: vec![stride; spatial],
        padding: vec![pad; spatial],
        dilation: vec![dil; spatial],
        groups,
        transposed: false,
        output_padding: vec![],
    }
}

#[test]
fn conv2d_variants() {
    let mut seed: u64 = 1;
    for &(c, o, g) in &[(3, 4, 1), (8, 6, 2), (16, 32, 4), (5, 65, 1), (70, 3, 1)] {
        for &(k, s, pad, d) in &[
            (3, 1, 1, 1),
            (3, 2, 0, 1),
            (1, 1, 0, 1),
            (1, 2, 0, 1),
            (3, 1, 2, 2),
            (5, 3, 2, 1),
        ] {
            let case = Case {
                x_shape: vec![2, c, 9, 7],
                w_shape: vec![o, c / g, k, k],
                params: p(2, s, pad, d, g),
                per_channel: seed.is_multiple_of(2),
                relu: seed.is_multiple_of(3),
            };
            run(&case, seed);
            seed += 1;
        }
    }
}

#[test]
fn depthwise_variants() {
    let mut seed: u64 = 100;
    for &c in &[1usize, 8, 17, 64, 80] {
        for &(k, s, pad, d) in &[
            (3, 1, 1, 1),
            (3, 2, 1, 1),
            (5, 1, 2, 1),
            (3, 1, 2, 2),
            (2, 1, 0, 1),
        ] {
            for &hw in &[(1usize, 1usize), (6, 11), (12, 5)] {
                if hw.0 + 2 * pad < d * (k - 1) + 1 || hw.1 + 2 * pad < d * (k - 1) + 1 {
                    continue;
                }
                let case = Case {
                    x_shape: vec![2, c, hw.0, hw.1],
                    w_shape: vec![c, 1, k, k],
                    params: p(2, s, pad, d, c),
                    per_channel: seed.is_multiple_of(2),
                    relu: seed.is_multiple_of(3),
                };
                run(&case, seed);
                seed += 1;
            }
        }
    }
}

#[test]
fn depthwise_is_used_for_depthwise_shapes() {
    let q = WeightQuant::PerTensor {
        scale: 0.01,
        zero_point: 0,
    };
    let dw =
        PackedConvWeight::pack(&[1; 8 * 9], &[8, 1, 3, 3], q.clone(), p(2, 1, 1, 1, 8)).unwrap();
    assert!(dw.is_depthwise());
    let grouped =
        PackedConvWeight::pack(&[1; 8 * 2 * 9], &[8, 2, 3, 3], q, p(2, 1, 1, 1, 4)).unwrap();
    assert!(!grouped.is_depthwise());
}

#[test]
fn conv1d_and_conv3d() {
    run(
        &Case {
            x_shape: vec![2, 4, 12],
            w_shape: vec![6, 4, 3],
            params: p(1, 1, 1, 1, 1),
            per_channel: false,
            relu: false,
        },
        201,
    );
    run(
        &Case {
            x_shape: vec![1, 6, 20],
            w_shape: vec![6, 1, 5],
            params: p(1, 2, 2, 1, 6),
            per_channel: true,
            relu: true,
        },
        202,
    );
    run(
        &Case {
            x_shape: vec![1, 3, 4, 5, 5],
            w_shape: vec![4, 3, 2, 3, 3],
            params: p(3, 1, 1, 1, 1),
            per_channel: true,
            relu: false,
        },
        203,
    );
    run(
        &Case {
            x_shape: vec![2, 8, 3, 4, 5],
            w_shape: vec![8, 1, 3, 3, 3],
            params: p(3, 1, 1, 1, 8),
            per_channel: false,
            relu: true,
        },
        204,
    );
}

#[test]
fn transposed_variants() {
    let mut seed: u64 = 300;
    for &(c, o, g) in &[(4, 3, 1), (6, 4, 2), (5, 5, 5)] {
        for &(k, s, pad, d, op) in &[
            (3, 2, 1, 1, 0),
            (3, 2, 1, 1, 1),
            (2, 2, 0, 1, 0),
            (3, 1, 0, 2, 0),
            (4, 3, 1, 1, 2),
        ] {
            let params = ConvParams {
                stride: vec![s, s],
                padding: vec![pad, pad],
                dilation: vec![d, d],
                groups: g,
                transposed: true,
                output_padding: vec![op, op],
            };
            let case = Case {
                x_shape: vec![2, c, 5, 4],
                w_shape: vec![c, o / g, k, k],
                params,
                per_channel: seed.is_multiple_of(2),
                relu: seed.is_multiple_of(3),
            };
            run(&case, seed);
            seed += 1;
        }
    }
}

#[test]
fn bad_conv_inputs_are_errors() {
    let q = WeightQuant::PerTensor {
        scale: 0.01,
        zero_point: 0,
    };
    // groups do not divide channels
    assert!(matches!(
        PackedConvWeight::pack(&[0; 3 * 2 * 9], &[3, 2, 3, 3], q.clone(), p(2, 1, 1, 1, 2)),
        Err(KernelError::Groups { .. })
    ));
    // weight length
    assert!(PackedConvWeight::pack(&[0; 5], &[3, 2, 3, 3], q.clone(), p(2, 1, 1, 1, 1)).is_err());
    // zero stride, wrong rank of params
    assert!(PackedConvWeight::pack(&[0; 18], &[1, 2, 3, 3], q.clone(), p(2, 0, 1, 1, 1)).is_err());
    assert!(PackedConvWeight::pack(&[0; 18], &[1, 2, 3, 3], q.clone(), p(1, 1, 1, 1, 1)).is_err());
    let pw = PackedConvWeight::pack(&[0; 18], &[1, 2, 3, 3], q, p(2, 1, 0, 1, 1)).unwrap();
    let out = QParams::new(0.1, 0);
    let xq = QParams::new(0.1, 0);
    // zero-size output: 2x2 input, 3x3 kernel, no padding
    let v = QuantizedTensorView {
        data: &[0; 8],
        shape: &[1, 2, 2, 2],
        qparams: xq,
    };
    assert!(matches!(
        quantized_conv(v, &pw, None, out, Activation::Identity),
        Err(KernelError::EmptyOutput(_))
    ));
    // channel mismatch and data length mismatch
    let v = QuantizedTensorView {
        data: &[0; 27],
        shape: &[1, 3, 3, 3],
        qparams: xq,
    };
    assert!(quantized_conv(v, &pw, None, out, Activation::Identity).is_err());
    let v = QuantizedTensorView {
        data: &[0; 17],
        shape: &[1, 2, 3, 3],
        qparams: xq,
    };
    assert!(matches!(
        quantized_conv(v, &pw, None, out, Activation::Identity),
        Err(KernelError::LengthMismatch { .. })
    ));
    // bias length
    let v = QuantizedTensorView {
        data: &[0; 18],
        shape: &[1, 2, 3, 3],
        qparams: xq,
    };
    assert!(quantized_conv(v, &pw, Some(&[0.0, 1.0]), out, Activation::Identity).is_err());
    assert!(quantized_conv(v, &pw, Some(&[0.0]), out, Activation::Identity).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]
    #[test]
    fn random_conv2d_equals_reference(
        n in 1usize..3, cg in 1usize..12, og in 1usize..6, g in 1usize..4,
        h in 1usize..9, w in 1usize..9, k in 1usize..4, s in 1usize..3,
        pad in 0usize..3, d in 1usize..3, transposed in any::<bool>(), seed in any::<u64>(),
    ) {
        let span = d * (k - 1) + 1;
        prop_assume!(transposed || (h + 2 * pad >= span && w + 2 * pad >= span));
        prop_assume!(!transposed || ((h - 1) * s + span > 2 * pad && (w - 1) * s + span > 2 * pad));
        let (c, o) = (cg * g, og * g);
        let w_shape = if transposed { vec![c, og, k, k] } else { vec![o, cg, k, k] };
        let params = ConvParams { transposed, ..p(2, s, pad, d, g) };
        run(&Case { x_shape: vec![n, c, h, w], w_shape, params, per_channel: seed.is_multiple_of(2), relu: seed.is_multiple_of(3) }, seed);
    }
}

#[test]
fn thread_count_does_not_change_conv_results() {
    let mut rng = Rng::new(77);
    let xq = QParams::new(0.05, 9);
    let out = QParams::new(0.2, 100);
    let before = num_threads();
    for &(c, o, g, k) in &[
        (32usize, 48usize, 1usize, 3usize),
        (64, 64, 64, 3),
        (40, 24, 1, 1),
        (16, 16, 4, 3),
    ] {
        let x_shape = [2, c, 23, 31];
        let x = rng.u8s(x_shape.iter().product());
        let w_shape = [o, c / g, k, k];
        let w = rng.i8s(w_shape.iter().product());
        let params = ConvParams {
            padding: vec![k / 2, k / 2],
            groups: g,
            ..ConvParams::new(2)
        };
        let q = WeightQuant::PerTensor {
            scale: 0.01,
            zero_point: 1,
        };
        let pw = PackedConvWeight::pack(&w, &w_shape, q, params).unwrap();
        let mut outs = Vec::new();
        for t in [1, 2, 3] {
            set_num_threads(t).unwrap();
            for isa in isas() {
                let v = QuantizedTensorView {
                    data: &x,
                    shape: &x_shape,
                    qparams: xq,
                };
                outs.push(
                    quantized_conv_with_isa(isa, v, &pw, None, out, Activation::Identity)
                        .unwrap()
                        .data,
                );
            }
        }
        assert!(outs.windows(2).all(|w| w[0] == w[1]), "c={c} o={o} g={g}");
    }
    set_num_threads(before).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]
    #[test]
    fn random_depthwise_equals_reference(
        n in 1usize..3, c in 2usize..40, h in 1usize..12, w in 1usize..80,
        kh in 1usize..4, kw in 1usize..6, s in 1usize..4, pad in 0usize..3, d in 1usize..3,
        seed in any::<u64>(),
    ) {
        prop_assume!(h + 2 * pad > d * (kh - 1) && w + 2 * pad > d * (kw - 1));
        let params = ConvParams {
            stride: vec![s, s],
            padding: vec![pad, pad],
            dilation: vec![d, d],
            groups: c,
            transposed: false,
            output_padding: vec![],
        };
        let case = Case {
            x_shape: vec![n, c, h, w],
            w_shape: vec![c, 1, kh, kw],
            params,
            per_channel: seed.is_multiple_of(2),
            relu: seed.is_multiple_of(3),
        };
        run(&case, seed);
    }
}
