//! Every SIMD path against the portable one on sizes around the SIMD tile shapes: output
//! channels around the 16-channel panels and 4-panel blocks (15, 16, 17, 63, 64, 65 ...), rows
//! around the row tiles (0, 1, 5 ... 9), reduction lengths around the 4-index groups, weight
//! zero points all 0 (the x86 GEMM then skips the row sums) or not, grouped and depthwise
//! convolutions with ragged channel counts, both memory layouts. A path this CPU cannot run
//! is reported as skipped.

use proptest::prelude::*;
use qkernels_arm::{
    ConvParams, ConvWeights, Kernels, Layout, LinearWeights, OutputSpec, Path, QView, U8Quant,
    WeightQuant,
};

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn u8s(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as i8).collect()
    }
    fn f32s(&mut self, n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|_| ((self.next() % 20001) as f32 / 10000.0 - 1.0) * amp)
            .collect()
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() % 10001) as f64 / 10000.0
    }
    /// Per-tensor or per-channel; zero points all 0 when `symmetric`.
    fn weight_quant(&mut self, n: usize, per_channel: bool, symmetric: bool) -> WeightQuant {
        let mut zp = || {
            if symmetric {
                0
            } else {
                (self.next() % 41) as i8 - 20
            }
        };
        if per_channel {
            let zero_points = (0..n).map(|_| zp()).collect();
            WeightQuant::PerChannel {
                scales: (0..n).map(|_| self.range(0.001, 0.02)).collect(),
                zero_points,
            }
        } else {
            let zero_point = zp();
            WeightQuant::PerTensor {
                scale: self.range(0.001, 0.02),
                zero_point,
            }
        }
    }
}

fn quant(scale: f64, zero_point: u8) -> U8Quant {
    U8Quant::new(scale, zero_point).unwrap()
}

/// The portable kernels and every other path this CPU runs.
fn portable_and_others() -> (Kernels, Vec<Kernels>) {
    let portable = Kernels::new(Path::Portable).unwrap();
    let others = Kernels::available()
        .into_iter()
        .filter(|k| k.path() != Path::Portable)
        .collect();
    (portable, others)
}

#[test]
fn report_simd_paths() {
    for path in Path::ALL.into_iter().filter(|&p| p != Path::Portable) {
        if path.is_available() {
            println!("path {path}: compared with portable");
        } else {
            println!("path {path}: skipped (not available on this CPU)");
        }
    }
}

fn channels() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(1usize),
        Just(15),
        Just(16),
        Just(17),
        Just(31),
        Just(33),
        Just(47),
        Just(48),
        Just(49),
        Just(63),
        Just(64),
        Just(65),
        Just(80),
        Just(129),
        1usize..=70
    ]
}

fn rows() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        5usize..=9,
        Just(13),
        Just(17),
        1usize..=20
    ]
}

fn reduction() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..=9,
        Just(15),
        Just(16),
        Just(17),
        Just(63),
        Just(64),
        Just(67),
        Just(300)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn linear_paths_equal_portable(m in rows(), k in reduction(), n in channels(), per_channel: bool,
                                   symmetric: bool, relu: bool, with_bias: bool, seed in 1u64..) {
        let mut g = Gen(seed);
        let x = g.u8s(m * k);
        let w = g.i8s(n * k);
        let wq = g.weight_quant(n, per_channel, symmetric);
        let bias = g.f32s(n, 2.0);
        let bias = with_bias.then_some(&bias[..]);
        let xq = quant(g.range(0.005, 0.05), g.next() as u8);
        let out = OutputSpec { quant: quant(g.range(0.0005, 0.2), g.next() as u8), relu };
        let xf = g.f32s(m * k, 3.0);
        let lw = LinearWeights { weight: &w, out_features: n, in_features: k, quant: &wq, bias };
        let (portable, others) = portable_and_others();
        let pp = portable.pack_linear(&lw).unwrap();
        let shape = [m, k];
        let want = portable.linear(&pp, &QView::new(&x, &shape, xq), out).unwrap();
        let want_dyn = portable.linear_dynamic(&pp, &xf, &shape, relu).unwrap().0;
        for kern in others {
            let packed = kern.pack_linear(&lw).unwrap();
            let got = kern.linear(&packed, &QView::new(&x, &shape, xq), out).unwrap();
            prop_assert_eq!(&got, &want, "path {}", kern.path());
            let got_dyn = kern.linear_dynamic(&packed, &xf, &shape, relu).unwrap().0;
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&got_dyn), bits(&want_dyn), "path {} (dynamic)", kern.path());
        }
    }

    #[test]
    fn conv2d_paths_equal_portable(cin in prop_oneof![Just(1usize), Just(3), Just(4), Just(5), Just(17), Just(64)],
                                   cout in channels(), groups in 1usize..=3, h in 1usize..=9, w in 1usize..=9,
                                   kernel in 1usize..=3, stride in 1usize..=2, pad in 0usize..=1,
                                   batch in 1usize..=2, per_channel: bool, symmetric: bool, relu: bool,
                                   nhwc: bool, seed in 1u64..) {
        prop_assume!(h + 2 * pad >= kernel && w + 2 * pad >= kernel);
        let (cin, cout) = (cin * groups, cout * groups);
        let mut g = Gen(seed);
        let x = g.u8s(batch * cin * h * w);
        let wshape = [cout, cin / groups, kernel, kernel];
        let wt = g.i8s(wshape.iter().product());
        let wq = g.weight_quant(cout, per_channel, symmetric);
        let bias = g.f32s(cout, 2.0);
        let xq = quant(g.range(0.005, 0.05), g.next() as u8);
        let out = OutputSpec { quant: quant(g.range(0.002, 0.3), g.next() as u8), relu };
        let params = ConvParams::new(&[stride; 2], &[pad; 2], &[1; 2], groups);
        let cw = ConvWeights { weight: &wt, shape: &wshape, quant: &wq, bias: Some(&bias) };
        let xshape = [batch, cin, h, w];
        let layout = if nhwc { Layout::Nhwc } else { Layout::Nchw };
        let view = QView::new(&x, &xshape, xq).with_layout(layout);
        let (portable, others) = portable_and_others();
        let want = portable.conv(&portable.pack_conv(&cw, &params).unwrap(), &view, out).unwrap();
        for kern in others {
            let packed = kern.pack_conv(&cw, &params).unwrap();
            prop_assert_eq!(&kern.conv(&packed, &view, out).unwrap(), &want, "path {}", kern.path());
            // A second call reuses the cached indirection buffer.
            prop_assert_eq!(&kern.conv(&packed, &view, out).unwrap(), &want, "path {} again", kern.path());
        }
    }

    #[test]
    fn depthwise_paths_equal_portable(c in channels(), h in 1usize..=8, w in 1usize..=8,
                                      kernel in prop_oneof![Just(3usize), Just(5), Just(1)],
                                      stride in 1usize..=2, dilation in 1usize..=2, spatial in 1usize..=3,
                                      batch in 1usize..=2, per_channel: bool, symmetric: bool, relu: bool,
                                      nhwc: bool, seed in 1u64..) {
        let c = c.max(2);
        let pad = kernel / 2;
        let span = dilation * (kernel - 1) + 1;
        prop_assume!(h + 2 * pad >= span && w + 2 * pad >= span);
        let dims: Vec<usize> = [span.max(2), h, w][3 - spatial..].to_vec();
        let mut g = Gen(seed);
        let xshape: Vec<usize> = [batch, c].into_iter().chain(dims.iter().copied()).collect();
        let x = g.u8s(xshape.iter().product());
        let wshape: Vec<usize> = [c, 1].into_iter().chain(std::iter::repeat_n(kernel, spatial)).collect();
        let wt = g.i8s(wshape.iter().product());
        let wq = g.weight_quant(c, per_channel, symmetric);
        let bias = g.f32s(c, 2.0);
        let xq = quant(g.range(0.005, 0.05), g.next() as u8);
        let out = OutputSpec { quant: quant(g.range(0.002, 0.3), g.next() as u8), relu };
        let params = ConvParams::new(&vec![stride; spatial], &vec![pad; spatial], &vec![dilation; spatial], c);
        let cw = ConvWeights { weight: &wt, shape: &wshape, quant: &wq, bias: Some(&bias) };
        let layout = if nhwc { Layout::Nhwc } else { Layout::Nchw };
        let view = QView::new(&x, &xshape, xq).with_layout(layout);
        let (portable, others) = portable_and_others();
        let pp = portable.pack_conv(&cw, &params).unwrap();
        prop_assert!(pp.is_depthwise());
        let want = portable.conv(&pp, &view, out).unwrap();
        for kern in others {
            let packed = kern.pack_conv(&cw, &params).unwrap();
            prop_assert_eq!(&kern.conv(&packed, &view, out).unwrap(), &want, "path {}", kern.path());
            // Depthwise weights packed on another path run too.
            prop_assert_eq!(&kern.conv(&pp, &view, out).unwrap(), &want, "path {} (portable packing)", kern.path());
        }
    }
}

/// Large reductions with every term at its extreme: wrapping accumulators and zero-point
/// corrections far from zero must still give the portable bytes and floats.
#[test]
fn extreme_long_reductions_equal_portable() {
    let (portable, others) = portable_and_others();
    for (k, xv, wv, xz, wz) in [
        (4099usize, 255u8, -128i8, 0u8, 127i8),
        (4096, 0, 127, 255, -128),
        (4101, 255, 127, 0, 0),
        (65, 255, -128, 255, 0),
    ] {
        let (m, n) = (7usize, 65usize);
        let x = vec![xv; m * k];
        let w = vec![wv; n * k];
        let wq = WeightQuant::PerTensor {
            scale: 0.001,
            zero_point: wz,
        };
        let bias = vec![-3.0f32; n];
        let lw = LinearWeights {
            weight: &w,
            out_features: n,
            in_features: k,
            quant: &wq,
            bias: Some(&bias),
        };
        let shape = [m, k];
        let view = QView::new(&x, &shape, quant(0.01, xz));
        let out = OutputSpec::new(quant(50.0, 128));
        let pp = portable.pack_linear(&lw).unwrap();
        let want = portable.linear(&pp, &view, out).unwrap();
        let xf: Vec<f32> = x.iter().map(|&v| f32::from(v) - 100.0).collect();
        let want_dyn = portable.linear_dynamic(&pp, &xf, &shape, false).unwrap().0;
        for kern in &others {
            let packed = kern.pack_linear(&lw).unwrap();
            assert_eq!(
                kern.linear(&packed, &view, out).unwrap(),
                want,
                "path {} k {k}",
                kern.path()
            );
            let got = kern.linear_dynamic(&packed, &xf, &shape, false).unwrap().0;
            assert!(
                got.iter()
                    .zip(&want_dyn)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "path {} k {k} (dynamic)",
                kern.path()
            );
        }
    }
}

/// Dynamic quantization at its edges: infinities, huge values, signed zeros, exact ties of the
/// rounding, every length around the 16-value blocks; a NaN anywhere is an error on every path.
#[test]
fn dynamic_quantization_edges_equal_portable() {
    let (portable, others) = portable_and_others();
    let (k, n) = (1usize, 3usize);
    let w = [5i8, -7, 127];
    let wq = WeightQuant::PerTensor {
        scale: 0.02,
        zero_point: 0,
    };
    let lw = LinearWeights {
        weight: &w,
        out_features: n,
        in_features: k,
        quant: &wq,
        bias: None,
    };
    let pp = portable.pack_linear(&lw).unwrap();
    let specials = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.0,
        1e30,
        -1e30,
        0.5,
        1.5,
        -2.5,
        2.0 / 255.0 * 0.5,
    ];
    for len in [1usize, 2, 15, 16, 17, 31, 32, 33, 40] {
        let mut g = Gen(len as u64 + 7);
        let mut x = g.f32s(len, 4.0);
        for (i, v) in x.iter_mut().enumerate() {
            if i % 3 == 0 {
                *v = specials[(i / 3 + len) % specials.len()];
            }
        }
        let shape = [len, k];
        // An infinity makes the range, and so the requantization scale, infinite: that is an
        // error, and it must be the same error on every path.
        let bits = |r: Result<(Vec<f32>, Vec<usize>), qkernels_arm::KernelError>| {
            r.map(|(v, _)| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
        };
        let finite: Vec<f32> = x
            .iter()
            .map(|&v| if v.is_finite() { v } else { -v.signum() * 3e29 })
            .collect();
        for x in [&x, &finite] {
            let want = bits(portable.linear_dynamic(&pp, x, &shape, false));
            assert_eq!(want.is_ok(), x.iter().all(|v| v.is_finite()), "len {len}");
            for kern in &others {
                let packed = kern.pack_linear(&lw).unwrap();
                let got = bits(kern.linear_dynamic(&packed, x, &shape, false));
                assert_eq!(got, want, "path {} len {len}", kern.path());
            }
        }
        for at in [0, len / 2, len - 1] {
            let mut bad = x.clone();
            bad[at] = f32::NAN;
            for kern in std::iter::once(&portable).chain(&others) {
                let packed = kern.pack_linear(&lw).unwrap();
                assert!(
                    matches!(
                        kern.linear_dynamic(&packed, &bad, &shape, false),
                        Err(qkernels_arm::KernelError::NaN { .. })
                    ),
                    "path {} len {len} NaN at {at}",
                    kern.path()
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Wide planes: several groups of 16, 32 or 64 outputs per row (width strides 4, 2, 1),
    /// ragged row ends, kernels 1 to 5 wide with dilation, 1-d and 2-d.
    #[test]
    fn wide_depthwise_paths_equal_portable(c in prop_oneof![Just(2usize), Just(3), Just(17)],
                                           w in prop_oneof![Just(63usize), Just(64), Just(65), Just(100), Just(130), Just(261), 20usize..=200],
                                           h in 1usize..=4, kh in 1usize..=3, kw in 1usize..=5,
                                           stride in prop_oneof![Just(1usize), Just(2), Just(3), Just(4)],
                                           dilation in 1usize..=2, pad in 0usize..=2, two_d: bool,
                                           symmetric: bool, relu: bool, seed in 1u64..) {
        let (h, kh) = if two_d { (h + kh * dilation, kh) } else { (1, 1) };
        let span_w = dilation * (kw - 1) + 1;
        prop_assume!(w + 2 * pad >= span_w);
        let mut g = Gen(seed);
        let xshape: Vec<usize> = if two_d { vec![1, c, h, w] } else { vec![1, c, w] };
        let wshape: Vec<usize> = if two_d { vec![c, 1, kh, kw] } else { vec![c, 1, kw] };
        let spatial = xshape.len() - 2;
        let pads: Vec<usize> = if two_d { vec![0, pad] } else { vec![pad] };
        let x = g.u8s(xshape.iter().product());
        let wt = g.i8s(wshape.iter().product());
        let wq = g.weight_quant(c, true, symmetric);
        let bias = g.f32s(c, 2.0);
        let xq = quant(g.range(0.005, 0.05), g.next() as u8);
        let out = OutputSpec { quant: quant(g.range(0.002, 0.3), g.next() as u8), relu };
        let params = ConvParams::new(&vec![stride; spatial], &pads, &vec![dilation; spatial], c);
        let cw = ConvWeights { weight: &wt, shape: &wshape, quant: &wq, bias: Some(&bias) };
        let view = QView::new(&x, &xshape, xq);
        let (portable, others) = portable_and_others();
        let want = portable.conv(&portable.pack_conv(&cw, &params).unwrap(), &view, out).unwrap();
        for kern in others {
            let packed = kern.pack_conv(&cw, &params).unwrap();
            prop_assert_eq!(&kern.conv(&packed, &view, out).unwrap(), &want, "path {}", kern.path());
        }
    }
}
