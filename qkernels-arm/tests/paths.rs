//! Every path this CPU runs against the slow reference (`reference/`) and against the portable
//! path, on random ragged shapes (0, 1, tile - 1, tile, tile + 1 ...) under proptest.

mod reference;

use proptest::prelude::*;
use qkernels_arm::lut::Lut;
use qkernels_arm::{
    ConvParams, ConvWeights, Kernels, Layout, LinearWeights, OutputSpec, Path, Pool2d, QView,
    U8Quant, WeightQuant,
};
use reference::ConvCase;

/// A small deterministic generator for tensor contents (proptest drives the seed and sizes).
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
    fn weight_quant(&mut self, n: usize, per_channel: bool) -> WeightQuant {
        if per_channel {
            WeightQuant::PerChannel {
                scales: (0..n).map(|_| self.range(0.001, 0.02)).collect(),
                zero_points: (0..n).map(|_| (self.next() % 21) as i8 - 10).collect(),
            }
        } else {
            WeightQuant::PerTensor {
                scale: self.range(0.001, 0.02),
                zero_point: (self.next() % 21) as i8 - 10,
            }
        }
    }
}

fn quant(scale: f64, zero_point: u8) -> U8Quant {
    U8Quant::new(scale, zero_point).unwrap()
}

/// Sizes around the 8-wide tiles.
fn ragged() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(1usize),
        Just(7),
        Just(8),
        Just(9),
        Just(15),
        Just(16),
        Just(17),
        1usize..=24
    ]
}

#[test]
fn report_paths() {
    for path in Path::ALL {
        if path.is_available() {
            println!("path {path}: tested");
        } else {
            println!("path {path}: skipped (not available on this CPU)");
        }
    }
    assert!(Kernels::available()
        .iter()
        .any(|k| k.path() == Path::Portable));
    assert!(Kernels::available().contains(&Kernels::active()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn linear_equals_reference(rows in prop_oneof![Just(0usize), ragged()], k in ragged(), n in ragged(),
                               per_channel: bool, relu: bool, with_bias: bool, seed in 1u64..) {
        let mut g = Gen(seed);
        let x = g.u8s(rows * k);
        let w = g.i8s(n * k);
        let wq = g.weight_quant(n, per_channel);
        let bias = g.f32s(n, 2.0);
        let bias = with_bias.then_some(&bias[..]);
        let xq = quant(g.range(0.005, 0.05), g.next() as u8);
        let yq = quant(g.range(0.0005, 0.2), g.next() as u8);
        let want = reference::linear(&x, rows, k, xq, &w, n, &wq, bias, yq, relu);
        for kern in Kernels::available() {
            let mut packed = kern.pack_linear(&LinearWeights { weight: &w, out_features: n, in_features: k, quant: &wq, bias }).unwrap();
            let shape = [rows, k];
            let out = OutputSpec { quant: yq, relu };
            let y = kern.linear(&packed, &QView::new(&x, &shape, xq), out).unwrap();
            prop_assert_eq!(&y.data, &want, "path {}", kern.path());
            packed.prepare(xq);
            let y = kern.linear(&packed, &QView::new(&x, &shape, xq), out).unwrap();
            prop_assert_eq!(&y.data, &want, "path {} after prepare", kern.path());
        }
    }

    #[test]
    fn dynamic_linear_is_bit_identical_across_paths(rows in ragged(), k in ragged(), n in ragged(),
                                                    per_channel: bool, seed in 1u64..) {
        let mut g = Gen(seed);
        let x = g.f32s(rows * k, 3.0);
        let w = g.i8s(n * k);
        let wq = g.weight_quant(n, per_channel);
        let bias = g.f32s(n, 1.0);
        let mut outputs = Vec::new();
        for kern in Kernels::available() {
            let packed = kern.pack_linear(&LinearWeights { weight: &w, out_features: n, in_features: k, quant: &wq, bias: Some(&bias) }).unwrap();
            let (y, shape) = kern.linear_dynamic(&packed, &x, &[rows, k], false).unwrap();
            prop_assert_eq!(shape, vec![rows, n]);
            outputs.push((kern.path(), y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()));
        }
        for (path, y) in &outputs[1..] {
            prop_assert_eq!(y, &outputs[0].1, "path {}", path);
        }
    }

    #[test]
    fn conv_equals_reference(spatial in 1usize..=3, c_per_group in 1usize..=5, o_per_group in 1usize..=10,
                             groups in 1usize..=3, depthwise: bool, transposed: bool, kernel in 1usize..=3,
                             stride in 1usize..=2, dilation in 1usize..=2, pad in 0usize..=2, batch in 1usize..=2,
                             per_channel: bool, relu: bool, nhwc: bool, seed in 1u64..) {
        let transposed = transposed && spatial <= 2 && !depthwise;
        let (groups, cpg, opg) = if depthwise { (c_per_group * 3 + 2, 1, 1) } else { (groups, c_per_group, o_per_group) };
        let kernel = if depthwise && spatial == 2 && kernel == 3 { 5 } else { kernel };
        let ks = |v: usize| -> [usize; 3] { std::array::from_fn(|d| if d >= 3 - spatial { v } else { 1 }) };
        let mut g = Gen(seed);
        let input: [usize; 3] = std::array::from_fn(|d| if d >= 3 - spatial { 1 + (g.next() % 9) as usize } else { 1 });
        let pad = pad.min(kernel / 2 + 1);
        let case = ConvCase {
            batch, in_channels: cpg * groups, out_channels: opg * groups, groups, input,
            kernel: ks(kernel), stride: ks(stride), padding: std::array::from_fn(|d| if d >= 3 - spatial { pad } else { 0 }),
            dilation: ks(dilation), output_padding: std::array::from_fn(|d| if transposed && d >= 3 - spatial { stride - 1 } else { 0 }),
            transposed,
        };
        let spans_ok = (0..3).all(|d| {
            let span = case.dilation[d] * (case.kernel[d] - 1) + 1;
            if transposed { (input[d] - 1) * case.stride[d] + span + case.output_padding[d] > 2 * case.padding[d] }
            else { input[d] + 2 * case.padding[d] >= span }
        });
        prop_assume!(spans_ok);
        let x_shape: Vec<usize> = [batch, case.in_channels].into_iter().chain(input[3 - spatial..].iter().copied()).collect();
        let w_shape: Vec<usize> = if transposed { vec![case.in_channels, opg] } else { vec![case.out_channels, cpg] }
            .into_iter().chain(std::iter::repeat_n(kernel, spatial)).collect();
        let x = g.u8s(x_shape.iter().product());
        let w = g.i8s(w_shape.iter().product());
        let wq = g.weight_quant(case.out_channels, per_channel);
        let bias = g.f32s(case.out_channels, 2.0);
        let xq = quant(g.range(0.005, 0.05), g.next() as u8);
        let yq = quant(g.range(0.002, 0.3), g.next() as u8);
        let relu = relu && !transposed;
        let want = reference::conv(&case, &x, xq, &w, &wq, Some(&bias), yq, relu);
        let params = if transposed {
            ConvParams::transposed(&case.stride[3 - spatial..], &case.padding[3 - spatial..], &case.output_padding[3 - spatial..], &case.dilation[3 - spatial..], groups)
        } else {
            ConvParams::new(&case.stride[3 - spatial..], &case.padding[3 - spatial..], &case.dilation[3 - spatial..], groups)
        };
        // The NHWC variant feeds the same tensor in channels-last order.
        let pixels: usize = input.iter().product();
        let x_nhwc: Vec<u8> = (0..x.len()).map(|i| {
            let (b, rest) = (i / (pixels * case.in_channels), i % (pixels * case.in_channels));
            x[(b * case.in_channels + rest % case.in_channels) * pixels + rest / case.in_channels]
        }).collect();
        for kern in Kernels::available() {
            let packed = kern.pack_conv(&ConvWeights { weight: &w, shape: &w_shape, quant: &wq, bias: Some(&bias) }, &params).unwrap();
            prop_assert_eq!(packed.is_depthwise(), !transposed && cpg == 1 && opg == 1 && groups > 1);
            let view = if nhwc { QView::new(&x_nhwc, &x_shape, xq).with_layout(Layout::Nhwc) } else { QView::new(&x, &x_shape, xq) };
            let y = kern.conv(&packed, &view, OutputSpec { quant: yq, relu }).unwrap();
            let out_vol: usize = case.output().iter().product();
            let got: Vec<u8> = if nhwc {
                (0..y.data.len()).map(|i| {
                    let (b, rest) = (i / (out_vol * case.out_channels), i % (out_vol * case.out_channels));
                    let (c, p) = (rest / out_vol, rest % out_vol);
                    y.data[(b * out_vol + p) * case.out_channels + c]
                }).collect()
            } else {
                y.data.clone()
            };
            prop_assert_eq!(&got, &want, "path {} shape {:?}", kern.path(), y.shape);
        }
    }

    #[test]
    fn elementwise_paths_equal_portable(len in 0usize..=70, relu: bool, seed in 1u64..) {
        let mut g = Gen(seed);
        let (a, b) = (g.u8s(len), g.u8s(len));
        let (aq, bq) = (quant(g.range(0.01, 0.05), g.next() as u8), quant(g.range(0.01, 0.05), g.next() as u8));
        let yq = quant(g.range(0.02, 0.1), g.next() as u8);
        let lut: Lut = std::array::from_fn(|_| g.next() as u8);
        let shape = [len];
        let portable = Kernels::new(Path::Portable).unwrap();
        let (va, vb) = (QView::new(&a, &shape, aq), QView::new(&b, &shape, bq));
        let add = portable.add(&va, &vb, yq, relu).unwrap();
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            let p = qkernels_arm::requant::AddParams::new(aq, bq, yq, relu).unwrap();
            prop_assert_eq!(add.data[i], p.apply(x, y));
        }
        let table = portable.apply_lut(&lut, &a);
        prop_assert!(table.iter().zip(&a).all(|(&t, &x)| t == lut[usize::from(x)]));
        for kern in Kernels::available() {
            prop_assert_eq!(&kern.add(&va, &vb, yq, relu).unwrap().data, &add.data, "path {}", kern.path());
            prop_assert_eq!(&kern.apply_lut(&lut, &a), &table, "path {}", kern.path());
        }
    }

    #[test]
    fn pools_equal_reference(n in 1usize..=2, c in ragged(), h in 1usize..=9, w in 1usize..=9, k in 1usize..=3,
                             s in 1usize..=3, p in 0usize..=1, d in 1usize..=2, seed in 1u64..) {
        let mut g = Gen(seed);
        let p = p.min(k / 2);
        let span = d * (k - 1) + 1;
        prop_assume!(h + 2 * p >= span && w + 2 * p >= span);
        let x = g.u8s(n * c * h * w);
        let q = quant(g.range(0.01, 0.05), g.next() as u8);
        let shape = [n, c, h, w];
        let want_max = reference::max_pool(&x, shape, [k, k], [s, s], [p, p], [d, d]);
        let want_avg = (k > 1 && h + 2 * p >= k && w + 2 * p >= k).then(|| reference::avg_pool(&x, shape, [k, k], [s, s], [p, p], q));
        for kern in Kernels::available() {
            let view = QView::new(&x, &shape, q);
            let pool = Pool2d { kernel: [k, k], stride: [s, s], padding: [p, p], dilation: [d, d] };
            prop_assert_eq!(&kern.max_pool2d(&view, &pool).unwrap().data, &want_max, "path {}", kern.path());
            if let Some(want) = &want_avg {
                let got = kern.avg_pool2d(&view, &Pool2d::new([k, k], [s, s], [p, p])).unwrap();
                prop_assert_eq!(&got.data, want, "path {}", kern.path());
            }
        }
    }
}

/// Long reductions with extreme values: accumulators far from zero, every zero-point term
/// large (this is where the dot path's row and column sums must cancel exactly).
#[test]
fn linear_is_identical_for_any_thread_count() {
    // Large enough that the generic driver splits rows between threads.
    let (rows, k, n) = (203, 150, 37);
    let mut g = Gen(7);
    let x = g.u8s(rows * k);
    let xf = g.f32s(rows * k, 3.0);
    let w = g.i8s(n * k);
    let wq = g.weight_quant(n, true);
    let bias = g.f32s(n, 1.0);
    let (xq, yq) = (quant(0.02, 100), quant(0.1, 120));
    let want = reference::linear(&x, rows, k, xq, &w, n, &wq, Some(&bias), yq, false);
    let before = qtensor::threads::num_threads();
    for kern in Kernels::available() {
        let lw = LinearWeights {
            weight: &w,
            out_features: n,
            in_features: k,
            quant: &wq,
            bias: Some(&bias),
        };
        let packed = kern.pack_linear(&lw).unwrap();
        let out = OutputSpec {
            quant: yq,
            relu: false,
        };
        let mut dynamic = Vec::new();
        for threads in [1, 2, 3] {
            qtensor::threads::set_num_threads(threads).unwrap();
            let y = kern
                .linear(&packed, &QView::new(&x, &[rows, k], xq), out)
                .unwrap();
            assert_eq!(y.data, want, "path {} threads {threads}", kern.path());
            let (yd, _) = kern
                .linear_dynamic(&packed, &xf, &[rows, k], false)
                .unwrap();
            dynamic.push(yd.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
        assert!(
            dynamic.windows(2).all(|d| d[0] == d[1]),
            "path {}",
            kern.path()
        );
    }
    qtensor::threads::set_num_threads(before).unwrap();
}

#[test]
fn depthwise_conv_is_identical_for_any_thread_count() {
    // 2 x 48 planes of 30x30 outputs: large enough to be split between threads.
    let (batch, c, h) = (2, 48, 30);
    let mut g = Gen(11);
    let x = g.u8s(batch * c * h * h);
    let w = g.i8s(c * 9);
    let wq = g.weight_quant(c, true);
    let bias = g.f32s(c, 1.0);
    let (xq, yq) = (quant(0.02, 90), quant(0.05, 110));
    let params = ConvParams::new(&[1, 1], &[1, 1], &[1, 1], c);
    let before = qtensor::threads::num_threads();
    for kern in Kernels::available() {
        let cw = ConvWeights {
            weight: &w,
            shape: &[c, 1, 3, 3],
            quant: &wq,
            bias: Some(&bias),
        };
        let packed = kern.pack_conv(&cw, &params).unwrap();
        let mut outputs = Vec::new();
        for threads in [1, 2, 3] {
            qtensor::threads::set_num_threads(threads).unwrap();
            let shape = [batch, c, h, h];
            let view = QView::new(&x, &shape, xq);
            outputs.push(
                kern.conv(
                    &packed,
                    &view,
                    OutputSpec {
                        quant: yq,
                        relu: false,
                    },
                )
                .unwrap()
                .data,
            );
        }
        assert!(
            outputs.windows(2).all(|o| o[0] == o[1]),
            "path {}",
            kern.path()
        );
    }
    qtensor::threads::set_num_threads(before).unwrap();
}

#[test]
fn long_reductions_at_the_extremes_equal_reference() {
    for (k, xv, wv, xz, wz) in [
        (2053usize, 255u8, -128i8, 0u8, 127i8),
        (2053, 0, 127, 255, -128),
        (4099, 255, 127, 0, -128),
        (1, 255, -128, 0, 127),
    ] {
        let (rows, n) = (9usize, 11usize);
        let x = vec![xv; rows * k];
        let w = vec![wv; n * k];
        let wq = WeightQuant::PerTensor {
            scale: 0.001,
            zero_point: wz,
        };
        let bias = vec![-3.0f32; n];
        let xq = quant(0.01, xz);
        let yq = quant(50.0, 128);
        let want = reference::linear(&x, rows, k, xq, &w, n, &wq, Some(&bias), yq, false);
        assert!(
            want.iter().any(|&v| v != 0 && v != 255),
            "a case that saturates everywhere tests nothing"
        );
        for kern in Kernels::available() {
            let lw = LinearWeights {
                weight: &w,
                out_features: n,
                in_features: k,
                quant: &wq,
                bias: Some(&bias),
            };
            let packed = kern.pack_linear(&lw).unwrap();
            let y = kern
                .linear(
                    &packed,
                    &QView::new(&x, &[rows, k], xq),
                    OutputSpec::new(yq),
                )
                .unwrap();
            assert_eq!(y.data, want, "path {} k {k}", kern.path());
        }
    }
}
