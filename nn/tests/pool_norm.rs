//! Pooling, batch norm and dropout against references; quantized tensors through ReLU / pools.

mod common;

use common::{assert_close, check_grad, param, rand};
use ndarray::ArrayD;
use nn::functional::{self as F, BatchNormState, Pool2dOptions};
use nn::prelude::*;
use nn::{AdaptiveAvgPool2d, BatchNorm2d, BatchNormConfig, Dropout, Flatten, MaxPool2d, ReLU};
use qtensor::{quantize_per_tensor, QDType};

/// Distinct values (a shuffled ramp) so max pooling has no ties and finite differences are clean.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f32> = (0..n).map(|i| i as f32 / n as f32 - 0.5).collect();
    nn::Rng::new(seed).shuffle(&mut v);
    Tensor::parameter(ArrayD::from_shape_vec(shape.to_vec(), v).unwrap())
}

/// Direct pooling reference (`avg` selects average pooling).
#[allow(clippy::too_many_arguments)]
fn pool_ref(
    x: &ArrayD<f32>,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    ceil: bool,
    avg: bool,
    include_pad: bool,
) -> (usize, usize, Vec<f32>) {
    let (b, h, w) = (x.shape()[0] * x.shape()[1], x.shape()[2], x.shape()[3]);
    let size = |i: usize| {
        let span = d * (k - 1) + 1;
        let num = i + 2 * p - span;
        let mut o = if ceil { num.div_ceil(s) } else { num / s } + 1;
        if ceil && (o - 1) * s >= i + p {
            o -= 1;
        }
        o
    };
    let (oh, ow) = (size(h), size(w));
    let flat: Vec<f32> = x.iter().copied().collect();
    let mut out = Vec::new();
    for pl in 0..b {
        for i in 0..oh {
            for j in 0..ow {
                let (mut best, mut sum, mut cnt, mut cnt_pad) = (f32::NEG_INFINITY, 0.0f32, 0, 0);
                for a in 0..k {
                    for c in 0..k {
                        let r = (i * s + a * d) as isize - p as isize;
                        let q = (j * s + c * d) as isize - p as isize;
                        if r < (h + p) as isize && q < (w + p) as isize {
                            cnt_pad += 1;
                        }
                        if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                            let v = flat[pl * h * w + r as usize * w + q as usize];
                            best = best.max(v);
                            sum += v;
                            cnt += 1;
                        }
                    }
                }
                out.push(if !avg {
                    best
                } else if include_pad {
                    sum / cnt_pad as f32
                } else {
                    sum / cnt as f32
                });
            }
        }
    }
    (oh, ow, out)
}

#[test]
fn max_pool_matches_reference_and_gradients() {
    for &(k, s, p, d, ceil) in &[
        (2, 2, 0, 1, false),
        (3, 2, 1, 1, false),
        (3, 2, 1, 1, true),
        (2, 1, 0, 2, false),
        (3, 3, 1, 1, true),
    ] {
        let x = distinct(&[2, 2, 7, 6], 1);
        let o = Pool2dOptions::new(k)
            .stride(s)
            .padding(p)
            .dilation(d)
            .ceil_mode(ceil);
        let y = F::max_pool2d(&x, &o).unwrap();
        let (oh, ow, r) = pool_ref(&x.data(), k, s, p, d, ceil, false, false);
        assert_eq!(y.shape(), vec![2, 2, oh, ow]);
        assert_eq!(y.to_vec(), r);
        check_grad(&[&x], || F::max_pool2d(&x, &o));
    }
    assert!(F::max_pool2d(&rand(&[1, 1, 3, 3], 1), &Pool2dOptions::new(2).padding(2)).is_err());
}

#[test]
fn avg_pools_match_reference_and_gradients() {
    for &(k, s, p, ceil, inc) in &[
        (2, 2, 0, false, true),
        (3, 2, 1, false, true),
        (3, 2, 1, false, false),
        (3, 2, 1, true, true),
        (2, 3, 1, true, false),
    ] {
        let x = param(&[1, 3, 7, 5], 2);
        let mut o = Pool2dOptions::new(k).stride(s).padding(p).ceil_mode(ceil);
        o.count_include_pad = inc;
        let y = F::avg_pool2d(&x, &o).unwrap();
        let (oh, ow, r) = pool_ref(&x.data(), k, s, p, 1, ceil, true, inc);
        assert_eq!(y.shape(), vec![1, 3, oh, ow]);
        assert_close(&y.to_vec(), &r, 1e-6);
        check_grad(&[&x], || F::avg_pool2d(&x, &o));
    }
    // Adaptive: window i spans floor(i*in/out)..ceil((i+1)*in/out).
    let x = param(&[2, 2, 7, 5], 3);
    for out in [[1, 1], [3, 2], [7, 5], [4, 3]] {
        let y = F::adaptive_avg_pool2d(&x, out).unwrap();
        let d = x.data();
        let mut r = Vec::new();
        for n in 0..2 {
            for c in 0..2 {
                for i in 0..out[0] {
                    for j in 0..out[1] {
                        let (h0, h1) = (i * 7 / out[0], ((i + 1) * 7).div_ceil(out[0]));
                        let (w0, w1) = (j * 5 / out[1], ((j + 1) * 5).div_ceil(out[1]));
                        let mut s = 0.0;
                        for a in h0..h1 {
                            for b in w0..w1 {
                                s += d[[n, c, a, b]];
                            }
                        }
                        r.push(s / ((h1 - h0) * (w1 - w0)) as f32);
                    }
                }
            }
        }
        assert_close(&y.to_vec(), &r, 1e-6);
        check_grad(&[&x], || F::adaptive_avg_pool2d(&x, out));
    }
}

#[test]
fn batch_norm_training_eval_and_running_stats() {
    let x = param(&[3, 2, 4, 3], 4);
    let w = param(&[2], 5);
    let b = param(&[2], 6);
    let rm = Tensor::from_vec(&[2], vec![0.5, -0.5]).unwrap();
    let rv = Tensor::from_vec(&[2], vec![2.0, 0.5]).unwrap();
    let st = BatchNormState {
        running_mean: Some(&rm),
        running_var: Some(&rv),
        weight: Some(&w),
        bias: Some(&b),
    };
    let y = F::batch_norm(&x, st, true, 0.1, 1e-5).unwrap();
    // Reference: per-channel mean / biased variance over (N, H, W).
    let d = x.data();
    let m = 3 * 4 * 3;
    for c in 0..2 {
        let vals: Vec<f64> = (0..3)
            .flat_map(|n| (0..4).flat_map(move |i| (0..3).map(move |j| (n, i, j))))
            .map(|(n, i, j)| f64::from(d[[n, c, i, j]]))
            .collect();
        let mu = vals.iter().sum::<f64>() / m as f64;
        let var = vals.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / m as f64;
        let yd = y.data();
        for n in 0..3 {
            for i in 0..4 {
                for j in 0..3 {
                    let r = (f64::from(d[[n, c, i, j]]) - mu) / (var + 1e-5).sqrt()
                        * f64::from(w.data()[[c]])
                        + f64::from(b.data()[[c]]);
                    assert!((f64::from(yd[[n, c, i, j]]) - r).abs() < 1e-5);
                }
            }
        }
        let rm0 = [0.5, -0.5][c];
        let rv0 = [2.0, 0.5][c];
        assert!((f64::from(rm.data()[[c]]) - (0.9 * rm0 + 0.1 * mu)).abs() < 1e-6);
        assert!(
            (f64::from(rv.data()[[c]]) - (0.9 * rv0 + 0.1 * var * m as f64 / (m - 1) as f64)).abs()
                < 1e-6
        );
    }
    // Eval uses the running statistics.
    let ye = F::batch_norm(&x, st, false, 0.1, 1e-5).unwrap();
    let (rmd, rvd) = (rm.data(), rv.data());
    let r: Vec<f32> = d
        .indexed_iter()
        .map(|(ix, &v)| {
            (v - rmd[[ix[1]]]) / (rvd[[ix[1]]] + 1e-5).sqrt() * w.data()[[ix[1]]]
                + b.data()[[ix[1]]]
        })
        .collect();
    assert_close(&ye.to_vec(), &r, 1e-5);
    let no_stats = BatchNormState {
        running_mean: None,
        running_var: None,
        weight: Some(&w),
        bias: Some(&b),
    };
    check_grad(&[&x, &w, &b], || {
        F::batch_norm(&x, no_stats, true, 0.0, 1e-5)
    });
    let frozen = BatchNormState {
        running_mean: Some(&rm),
        running_var: Some(&rv),
        weight: Some(&w),
        bias: Some(&b),
    };
    check_grad(&[&x, &w, &b], || {
        F::batch_norm(&x, frozen, false, 0.0, 1e-5)
    });
    // One value per channel in training is an error, and nothing is updated.
    let before = rm.to_vec();
    assert!(F::batch_norm(&rand(&[1, 2, 1, 1], 1), st, true, 0.1, 1e-5).is_err());
    assert_eq!(rm.to_vec(), before);
}

#[test]
fn batch_norm_module_follows_pytorch() {
    let mut bn = BatchNorm2d::new(2);
    assert_eq!(
        bn.extra_repr(),
        "2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True"
    );
    let names: Vec<String> = bn.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["running_mean", "running_var", "num_batches_tracked"]
    );
    bn.forward(Value::Float(rand(&[4, 2, 3, 3], 7))).unwrap();
    bn.forward(Value::Float(rand(&[4, 2, 3, 3], 8))).unwrap();
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().value(), 2);
    let err = bn
        .forward(Value::Float(rand(&[4, 3, 3, 3], 8)))
        .unwrap_err();
    assert!(
        err.to_string().contains("BatchNorm2d") && err.to_string().contains("(N, 2, H, W)"),
        "{err}"
    );
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().value(), 2);
    // Cumulative average (momentum None) after two batches equals the plain mean of the two.
    let mut cum = BatchNorm2d::with_config(
        1,
        BatchNormConfig {
            momentum: None,
            ..Default::default()
        },
    );
    let a = rand(&[2, 1, 2, 2], 9);
    let b = rand(&[2, 1, 2, 2], 10);
    cum.forward(Value::Float(a.clone())).unwrap();
    cum.forward(Value::Float(b.clone())).unwrap();
    let expected = (a.mean().item().unwrap() + b.mean().item().unwrap()) / 2.0;
    assert!((cum.running_mean.as_ref().unwrap().item().unwrap() - expected).abs() < 1e-6);
    // Eval does not touch the statistics.
    cum.eval();
    let before = cum.running_mean.as_ref().unwrap().to_vec();
    cum.forward(Value::Float(a)).unwrap();
    assert_eq!(cum.running_mean.as_ref().unwrap().to_vec(), before);
}

#[test]
fn dropout_scales_survivors_and_is_identity_in_eval() {
    nn::manual_seed(3);
    let x = Tensor::ones(&[10_000]);
    let y = F::dropout(&x, 0.25, true).unwrap().to_vec();
    let zeros = y.iter().filter(|&&v| v == 0.0).count();
    assert!((2200..2800).contains(&zeros), "{zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    assert!(F::dropout(&x, 1.5, true).is_err());
    let mut d = Dropout::new(0.5).unwrap();
    d.eval();
    let q = quantize_per_tensor(rand(&[4], 1).to_array().view(), 0.1, 3, QDType::QUInt8).unwrap();
    assert!(matches!(
        d.forward(Value::Quant(q)).unwrap(),
        Value::Quant(_)
    ));
    assert_eq!(d.extra_repr(), "p=0.5, inplace=False");
}

#[test]
fn quantized_tensors_pass_through_relu_maxpool_flatten() {
    let xf = rand(&[1, 2, 4, 4], 11).to_array();
    let q = quantize_per_tensor(xf.view(), 0.05, 20, QDType::QUInt8).unwrap();
    let y = ReLU::new().forward(Value::Quant(q.clone())).unwrap();
    let yq = y.as_quant().unwrap();
    let expect: Vec<u8> = q.as_u8().unwrap().iter().map(|&v| v.max(20)).collect();
    assert_eq!(
        yq.as_u8().unwrap().iter().copied().collect::<Vec<_>>(),
        expect
    );
    assert_eq!(yq.qparams(), q.qparams());
    let y = MaxPool2d::new(2)
        .unwrap()
        .forward(Value::Quant(q.clone()))
        .unwrap();
    let yq = y.as_quant().unwrap();
    let qa = q.as_u8().unwrap();
    for c in 0..2 {
        for i in 0..2 {
            for j in 0..2 {
                let m = (0..2)
                    .flat_map(|a| (0..2).map(move |b| (a, b)))
                    .map(|(a, b)| qa[[0, c, 2 * i + a, 2 * j + b]])
                    .max()
                    .unwrap();
                assert_eq!(yq.as_u8().unwrap()[[0, c, i, j]], m);
            }
        }
    }
    let f = Flatten::new().forward(Value::Quant(q.clone())).unwrap();
    assert_eq!(f.shape(), Some(vec![1, 32]));
    // Without registered quantized kernels, adaptive average pooling of a quantized tensor is a
    // clear error, not a panic.
    let err = AdaptiveAvgPool2d::new([1, 1])
        .unwrap()
        .forward(Value::Quant(q))
        .unwrap_err();
    assert!(err.to_string().contains("quantized"), "{err}");
}
