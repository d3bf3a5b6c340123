//! Convolutions and linear layers against direct-loop references, and their gradients.

mod common;

use common::{assert_close, check_grad, param, rand};
use ndarray::ArrayD;
use nn::functional::{self as F, ConvOptions};
use nn::prelude::*;
use nn::{Conv2d, ConvConfig, ConvTranspose2d, Linear, NnError};
use proptest::prelude::*;

/// Direct 2-D convolution: `out[n,o,y,x] = b[o] + sum w[o,c,i,j] * in[n, g*cg + c, y*s - p + i*d, ...]`.
fn conv2d_ref(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    s: usize,
    p: usize,
    d: usize,
    g: usize,
) -> Vec<f32> {
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    assert_eq!(cg * g, c);
    let oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1;
    let ow = (wd + 2 * p - d * (kw - 1) - 1) / s + 1;
    let og = o / g;
    let mut out = vec![0.0f32; n * o * oh * ow];
    for ni in 0..n {
        for oi in 0..o {
            let grp = oi / og;
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = b.map_or(0.0, |b| f64::from(b[[oi]]));
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (y * s + i * d) as isize - p as isize;
                                let ix = (xx * s + j * d) as isize - p as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                    acc += f64::from(w[[oi, ci, i, j]])
                                        * f64::from(
                                            x[[ni, grp * cg + ci, iy as usize, ix as usize]],
                                        );
                                }
                            }
                        }
                    }
                    out[((ni * o + oi) * oh + y) * ow + xx] = acc as f32;
                }
            }
        }
    }
    out
}

/// Direct transposed 2-D convolution (scatter form).
fn conv_transpose2d_ref(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    s: usize,
    p: usize,
    op: usize,
    d: usize,
    g: usize,
) -> (Vec<usize>, Vec<f32>) {
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (og, kh, kw) = (w.shape()[1], w.shape()[2], w.shape()[3]);
    let o = og * g;
    let cg = c / g;
    let oh = (h - 1) * s + d * (kh - 1) + op + 1 - 2 * p;
    let ow = (wd - 1) * s + d * (kw - 1) + op + 1 - 2 * p;
    let mut out = vec![0.0f64; n * o * oh * ow];
    for ni in 0..n {
        for ci in 0..c {
            let grp = ci / cg;
            for y in 0..h {
                for xx in 0..wd {
                    for ol in 0..og {
                        for i in 0..kh {
                            for j in 0..kw {
                                let oy = (y * s + i * d) as isize - p as isize;
                                let ox = (xx * s + j * d) as isize - p as isize;
                                if oy >= 0 && ox >= 0 && (oy as usize) < oh && (ox as usize) < ow {
                                    let oc = grp * og + ol;
                                    out[((ni * o + oc) * oh + oy as usize) * ow + ox as usize] +=
                                        f64::from(x[[ni, ci, y, xx]])
                                            * f64::from(w[[ci, ol, i, j]]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (
        vec![n, o, oh, ow],
        out.into_iter().map(|v| v as f32).collect(),
    )
}

fn opts2(s: usize, p: usize, d: usize, g: usize) -> ConvOptions {
    ConvOptions::new(2)
        .stride(s)
        .padding(p)
        .dilation(d)
        .groups(g)
}

#[test]
fn conv2d_matches_reference_across_options() {
    // (n, c, h, w, o, k, stride, pad, dil, groups): plain, strided, dilated, grouped, depthwise,
    // pointwise, 3-channel first layer, odd sizes.
    let cases = [
        (2, 3, 7, 6, 4, 3, 1, 1, 1, 1),
        (1, 4, 9, 9, 6, 3, 2, 1, 1, 2),
        (2, 2, 8, 7, 3, 3, 1, 2, 2, 1),
        (1, 6, 6, 5, 6, 3, 1, 1, 1, 6),
        (1, 4, 5, 5, 8, 3, 2, 0, 1, 4),
        (2, 5, 4, 3, 7, 1, 1, 0, 1, 1),
        (1, 3, 11, 11, 8, 3, 2, 1, 1, 1),
        (1, 2, 5, 6, 3, 5, 3, 2, 1, 1),
        (1, 6, 6, 6, 12, 3, 1, 1, 1, 6),
        (2, 4, 7, 6, 4, 3, 2, 1, 1, 4),
        (1, 3, 8, 9, 3, 3, 1, 2, 2, 3),
        (1, 3, 6, 7, 3, 5, 1, 2, 1, 3),
        (1, 5, 9, 17, 5, 3, 1, 1, 1, 5),
    ];
    for (i, &(n, c, h, w, o, k, s, p, d, g)) in cases.iter().enumerate() {
        let x = rand(&[n, c, h, w], i as u64);
        let wt = rand(&[o, c / g, k, k], 100 + i as u64);
        let b = rand(&[o], 200 + i as u64);
        let y = F::conv2d(&x, &wt, Some(&b), &opts2(s, p, d, g)).unwrap();
        let r = conv2d_ref(&x.data(), &wt.data(), Some(&b.data()), s, p, d, g);
        assert_close(&y.to_vec(), &r, 1e-5);
        let y = F::conv2d(&x, &wt, None, &opts2(s, p, d, g)).unwrap();
        assert_close(
            &y.to_vec(),
            &conv2d_ref(&x.data(), &wt.data(), None, s, p, d, g),
            1e-5,
        );
    }
}

/// Shapes large enough to be split between threads (whole images, depthwise channels, rows of
/// the column matrix, output channels), ragged against the split: two threads against the
/// reference and against one thread.
#[test]
fn conv2d_split_between_threads_matches_reference() {
    let cases = [
        (3, 7, 20, 20, 13, 3, 1, 1, 1, 1),
        (1, 7, 20, 20, 13, 3, 1, 1, 1, 1),
        (1, 3, 45, 41, 9, 3, 2, 1, 1, 1),
        (1, 41, 40, 40, 41, 3, 1, 1, 1, 41),
        (1, 10, 24, 24, 15, 3, 1, 1, 1, 5),
        (1, 70, 16, 16, 35, 1, 1, 0, 1, 1),
    ];
    for (i, &(n, c, h, w, o, k, s, p, d, g)) in cases.iter().enumerate() {
        let x = rand(&[n, c, h, w], 300 + i as u64);
        let wt = rand(&[o, c / g, k, k], 400 + i as u64);
        let b = rand(&[o], 500 + i as u64);
        let run = |threads| {
            nn::set_num_threads(threads).unwrap();
            let y = F::conv2d(&x, &wt, Some(&b), &opts2(s, p, d, g)).unwrap();
            nn::set_num_threads(1).unwrap();
            y.to_vec()
        };
        let (two, one) = (run(2), run(1));
        let r = conv2d_ref(&x.data(), &wt.data(), Some(&b.data()), s, p, d, g);
        assert_close(&two, &r, 1e-4);
        assert_close(&one, &r, 1e-4);
    }
}

#[test]
fn conv_gradients() {
    for &(c, o, k, s, p, d, g) in &[
        (2, 3, 3, 1, 1, 1, 1),
        (4, 4, 3, 2, 1, 1, 2),
        (3, 3, 3, 1, 1, 1, 3),
        (2, 2, 2, 1, 0, 2, 1),
        (3, 2, 1, 1, 0, 1, 1),
    ] {
        let x = param(&[2, c, 5, 5], 1);
        let w = param(&[o, c / g, k, k], 2);
        let b = param(&[o], 3);
        check_grad(&[&x, &w, &b], || {
            F::conv2d(&x, &w, Some(&b), &opts2(s, p, d, g))
        });
    }
    let x = param(&[2, 2, 7], 4);
    let w = param(&[3, 2, 3], 5);
    check_grad(&[&x, &w], || {
        F::conv1d(&x, &w, None, &ConvOptions::new(1).stride(2).padding(1))
    });
    let x = param(&[1, 2, 4, 4, 3], 6);
    let w = param(&[2, 1, 2, 3, 2], 7);
    check_grad(&[&x, &w], || {
        F::conv3d(&x, &w, None, &ConvOptions::new(3).padding(1).groups(2))
    });
}

#[test]
fn conv1d_and_conv3d_agree_with_conv2d_on_unit_dimensions() {
    // conv1d over L equals conv2d over (1, L); conv3d over (1, H, W) equals conv2d over (H, W).
    let x = rand(&[2, 4, 9], 8);
    let w = rand(&[6, 2, 3], 9);
    let o1 = ConvOptions::new(1)
        .stride(2)
        .padding(1)
        .dilation(2)
        .groups(2);
    let y1 = F::conv1d(&x, &w, None, &o1).unwrap();
    let x2 = x.reshape(&[2, 4, 1, 9]).unwrap();
    let w2 = w.reshape(&[6, 2, 1, 3]).unwrap();
    let o2 = ConvOptions {
        stride: vec![1, 2],
        padding: vec![0, 1],
        dilation: vec![1, 2],
        groups: 2,
        output_padding: vec![0, 0],
    };
    let y2 = F::conv2d(&x2, &w2, None, &o2).unwrap();
    assert_close(&y1.to_vec(), &y2.to_vec(), 1e-6);
    let x3 = rand(&[1, 3, 1, 6, 5], 10);
    let w3 = rand(&[2, 3, 1, 3, 3], 11);
    let y3 = F::conv3d(&x3, &w3, None, &ConvOptions::new(3).padding(1)).unwrap();
    // With depth 1 and padding 1 along depth, the output has depth 1 + 2 - 1 + 1 = 3: the middle
    // slice is the 2-D convolution, the outer ones see only padding.
    assert_eq!(y3.shape(), vec![1, 2, 3, 6, 5]);
    let r = conv2d_ref(
        &x3.reshape(&[1, 3, 6, 5]).unwrap().data(),
        &w3.reshape(&[2, 3, 3, 3]).unwrap().data(),
        None,
        1,
        1,
        1,
        1,
    );
    let mid: Vec<f32> = y3.narrow(2, 1, 1).unwrap().to_vec();
    assert_close(&mid, &r, 1e-5);
    assert!(y3
        .narrow(2, 0, 1)
        .unwrap()
        .to_vec()
        .iter()
        .all(|&v| v == 0.0));
}

#[test]
fn conv_transpose2d_matches_reference_and_gradients() {
    for &(c, og, k, s, p, op, d, g) in &[
        (2, 3, 3, 1, 0, 0, 1, 1),
        (4, 2, 3, 2, 1, 1, 1, 2),
        (3, 2, 2, 2, 0, 0, 1, 1),
        (2, 2, 3, 2, 1, 0, 2, 2),
    ] {
        let x = param(&[2, c, 4, 3], 12);
        let w = param(&[c, og, k, k], 13);
        let b = param(&[og * g], 14);
        let o = ConvOptions::new(2)
            .stride(s)
            .padding(p)
            .output_padding(op)
            .dilation(d)
            .groups(g);
        let y = F::conv_transpose2d(&x, &w, None, &o).unwrap();
        let (shape, r) = conv_transpose2d_ref(&x.data(), &w.data(), s, p, op, d, g);
        assert_eq!(y.shape(), shape);
        assert_close(&y.to_vec(), &r, 1e-5);
        check_grad(&[&x, &w, &b], || F::conv_transpose2d(&x, &w, Some(&b), &o));
    }
}

#[test]
fn linear_matches_reference_and_gradients() {
    let x = param(&[2, 3, 5], 15);
    let w = param(&[4, 5], 16);
    let b = param(&[4], 17);
    let y = F::linear(&x, &w, Some(&b)).unwrap();
    assert_eq!(y.shape(), vec![2, 3, 4]);
    let (xd, wd, bd) = (x.data(), w.data(), b.data());
    let mut r = Vec::new();
    for i in 0..2 {
        for j in 0..3 {
            for o in 0..4 {
                r.push(bd[[o]] + (0..5).map(|k| xd[[i, j, k]] * wd[[o, k]]).sum::<f32>());
            }
        }
    }
    assert_close(&y.to_vec(), &r, 1e-5);
    check_grad(&[&x, &w, &b], || F::linear(&x, &w, Some(&b)));
    check_grad(&[&x, &w], || F::linear(&x, &w, None));
    assert!(F::linear(&rand(&[2, 4], 1), &w, None).is_err());
    // Many rows take the general GEMM, few rows the row-dot kernel: both against the reference.
    for rows in [1, 16, 17, 40] {
        let x = rand(&[rows, 37], 18);
        let w = rand(&[19, 37], 19);
        let y = F::linear(&x, &w, None).unwrap();
        let (xd, wd) = (x.data(), w.data());
        let r: Vec<f32> = (0..rows)
            .flat_map(|i| (0..19).map(move |o| (i, o)))
            .map(|(i, o)| (0..37).map(|k| xd[[i, k]] * wd[[o, k]]).sum())
            .collect();
        assert_close(&y.to_vec(), &r, 1e-5);
    }
}

#[test]
fn layers_check_inputs_and_print_like_pytorch() {
    let mut conv = Conv2d::from_config(ConvConfig::new(3, 8, &[3, 3]).padding(1)).unwrap();
    assert_eq!(
        conv.extra_repr(),
        "3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)"
    );
    let err = conv
        .forward(Value::Float(rand(&[1, 4, 5, 5], 1)))
        .unwrap_err();
    assert!(
        matches!(&err, NnError::InputShape { module, expected, .. } if module == "Conv2d" && expected == "(N, 3, H, W)"),
        "{err}"
    );
    let err = conv
        .forward(Value::Float(rand(&[1, 3, 0, 5], 1)))
        .unwrap_err();
    assert!(
        matches!(&err, NnError::InputShape { module, .. } if module == "Conv2d"),
        "{err}"
    );
    let q = qtensor::quantize_per_tensor(
        rand(&[1, 3, 4, 4], 2).to_array().view(),
        0.1,
        10,
        qtensor::QDType::QUInt8,
    )
    .unwrap();
    let err = conv.forward(Value::Quant(q)).unwrap_err();
    assert!(err.to_string().contains("DeQuantStub"), "{err}");
    assert!(Conv2d::from_config(ConvConfig::new(3, 8, &[3, 3]).groups(2)).is_err());
    assert!(Conv2d::from_config(ConvConfig::new(3, 8, &[3]).groups(1)).is_err());
    let dw = Conv2d::from_config(
        ConvConfig::new(4, 4, &[3, 3])
            .stride(2)
            .groups(4)
            .dilation(2)
            .bias(false),
    )
    .unwrap();
    assert_eq!(
        dw.extra_repr(),
        "4, 4, kernel_size=(3, 3), stride=(2, 2), dilation=(2, 2), groups=4, bias=False"
    );
    assert_eq!(dw.weight.shape(), vec![4, 1, 3, 3]);
    let t = ConvTranspose2d::from_config(
        ConvConfig::new(4, 6, &[3, 3])
            .stride(2)
            .output_padding(1)
            .groups(2),
    )
    .unwrap();
    assert_eq!(t.weight.shape(), vec![4, 3, 3, 3]);
    assert_eq!(
        t.extra_repr(),
        "4, 6, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1), groups=2"
    );
    let mut lin = Linear::new(8, 16, true);
    assert_eq!(
        lin.extra_repr(),
        "in_features=8, out_features=16, bias=True"
    );
    let err = lin.forward(Value::Float(rand(&[2, 7], 3))).unwrap_err();
    assert!(err.to_string().contains("(*, 8)"), "{err}");
    // Default init bound 1/sqrt(fan_in).
    let bound = 1.0 / (8f32).sqrt();
    assert!(lin.weight.to_vec().iter().all(|v| v.abs() <= bound));
    let names: Vec<String> = lin.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn conv2d_random_shapes(n in 1usize..3, cg in 1usize..4, og in 1usize..4, g in 1usize..3, h in 1usize..9, w in 1usize..9,
                            k in 1usize..4, s in 1usize..3, d in 1usize..3, p in 0usize..3, seed in 0u64..1000) {
        let span = d * (k - 1) + 1;
        prop_assume!(h + 2 * p >= span && w + 2 * p >= span);
        let x = rand(&[n, cg * g, h, w], seed);
        let wt = rand(&[og * g, cg, k, k], seed + 1);
        let y = F::conv2d(&x, &wt, None, &opts2(s, p, d, g)).unwrap();
        let r = conv2d_ref(&x.data(), &wt.data(), None, s, p, d, g);
        let v = y.to_vec();
        prop_assert_eq!(v.len(), r.len());
        for (a, b) in v.iter().zip(&r) {
            prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn linear_random_shapes(rows in 0usize..40, k in 0usize..40, n in 0usize..20, bias in any::<bool>(), seed in 0u64..1000) {
        let x = rand(&[rows, k], seed);
        let w = rand(&[n, k], seed + 1);
        let b = rand(&[n], seed + 2);
        let y = F::linear(&x, &w, bias.then_some(&b)).unwrap();
        prop_assert_eq!(y.shape(), vec![rows, n]);
        let (xd, wd, bd) = (x.data(), w.data(), b.data());
        for (idx, v) in y.to_vec().iter().enumerate() {
            let (i, o) = (idx / n, idx % n);
            let r: f32 = (0..k).map(|p| xd[[i, p]] * wd[[o, p]]).sum::<f32>() + if bias { bd[[o]] } else { 0.0 };
            prop_assert!((v - r).abs() <= 1e-5 * (1.0 + r.abs()));
        }
    }
}
