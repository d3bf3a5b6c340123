//! Slow, obviously-correct implementations that define the numerics.
//!
//! They work on the original (unpacked) int8 weights with zero points
//! subtracted directly (`sum (a - a_zp) * (w - w_zp)`, reduced modulo 2^32
//! like the wrapping i32 kernels) and apply the same per-element output
//! formula as the kernels. Every kernel path is tested against them.

use crate::output::{bias_terms, float_one, requant_one, FloatPipeline, OutputPipeline};

/// `C[i, j] = sum_k a[i, k] * w[j, k]`, wrapping to i32. `a` is `[m, k]`, `w` is `[n, k]`.
pub fn gemm_i32(a: &[u8], m: usize, k: usize, w: &[i8], n: usize) -> Vec<i32> {
    let mut out = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let s: i64 = (0..k)
                .map(|kk| a[i * k + kk] as i64 * w[j * k + kk] as i64)
                .sum();
            out[i * n + j] = s as i32;
        }
    }
    out
}

/// Zero-point corrected accumulators `sum_k (a - a_zp) (w - w_zp[j])`, wrapping to i32.
pub fn gemm_corrected(
    a: &[u8],
    m: usize,
    k: usize,
    a_zp: i32,
    w: &[i8],
    n: usize,
    w_zp: &[i32],
) -> Vec<i32> {
    let mut out = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let s: i64 = (0..k)
                .map(|kk| {
                    (a[i * k + kk] as i64 - a_zp as i64) * (w[j * k + kk] as i64 - w_zp[j] as i64)
                })
                .sum();
            out[i * n + j] = s as i32;
        }
    }
    out
}

/// Requantizes corrected accumulators `[m, n]` through `p`.
pub fn requantize(x: &[i32], n: usize, p: &OutputPipeline) -> Vec<u8> {
    let lo = p.clamp_min as i32;
    let hi = p.clamp_max as i32;
    let (b, s) = bias_terms(p.bias.as_ref(), n);
    x.iter()
        .enumerate()
        .map(|(idx, &v)| {
            let j = idx % n;
            requant_one(v, b[j], s[j], p.multiplier.get(j), p.zero_point, lo, hi)
        })
        .collect()
}

/// Dequantizes corrected accumulators `[m, n]` through `p`.
pub fn dequantize(x: &[i32], n: usize, p: &FloatPipeline) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(idx, &v)| {
            let j = idx % n;
            let bias = p.bias.as_ref().map_or(0.0, |b| b[j]);
            float_one(v, p.scale.get(j), bias, p.relu)
        })
        .collect()
}

/// Direct convolution (no packing, no im2col) on NC... tensors, as PyTorch
/// defines it: `x` of shape `[N, C, spatial...]` with zero point `a_zp`,
/// weight `[O, C / g, k...]` (or `[C, O / g, k...]` when transposed) with
/// per-output-channel zero points `w_zp`, then `p` per output channel.
/// Returns the u8 output and its shape. Panics on inconsistent shapes (test helper).
#[allow(clippy::too_many_arguments)]
pub fn conv(
    x: &[u8],
    x_shape: &[usize],
    a_zp: i32,
    w: &[i8],
    w_shape: &[usize],
    w_zp: &[i32],
    params: &crate::conv::ConvParams,
    p: &OutputPipeline,
) -> (Vec<u8>, Vec<usize>) {
    let sp = x_shape.len() - 2;
    let lift = |v: &[usize], fill: usize| -> [usize; 3] {
        let mut o = [fill; 3];
        o[3 - v.len()..].copy_from_slice(v);
        o
    };
    let (n, c) = (x_shape[0], x_shape[1]);
    let g = params.groups;
    let (o, cg, og) = if params.transposed {
        (w_shape[1] * g, c / g, w_shape[1])
    } else {
        (w_shape[0], w_shape[1], w_shape[0] / g)
    };
    let inp = lift(&x_shape[2..], 1);
    let k = lift(&w_shape[2..], 1);
    let s = lift(&params.stride, 1);
    let pd = lift(&params.padding, 0);
    let d = lift(&params.dilation, 1);
    let op = if params.output_padding.is_empty() {
        [0; 3]
    } else {
        lift(&params.output_padding, 0)
    };
    let out: [usize; 3] = std::array::from_fn(|i| {
        if params.transposed {
            (inp[i] - 1) * s[i] + d[i] * (k[i] - 1) + op[i] + 1 - 2 * pd[i]
        } else {
            (inp[i] + 2 * pd[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1
        }
    });
    let taps = k[0] * k[1] * k[2];
    let ispat = inp[0] * inp[1] * inp[2];
    let ospat = out[0] * out[1] * out[2];
    let mut acc = vec![0i64; n * o * ospat];
    let tap_of = |t: usize| (t / (k[1] * k[2]), (t / k[2]) % k[1], t % k[2]);
    for b in 0..n {
        for gi in 0..g {
            for cc in 0..cg {
                let ci = gi * cg + cc;
                for oo in 0..og {
                    let oc = gi * og + oo;
                    for t in 0..taps {
                        let wv = if params.transposed {
                            w[(ci * og + oo) * taps + t]
                        } else {
                            w[(oc * cg + cc) * taps + t]
                        } as i64
                            - w_zp[oc] as i64;
                        let (tz, ty, tx) = tap_of(t);
                        let tk = [tz, ty, tx];
                        for ip in 0..ispat {
                            let ic = [ip / (inp[1] * inp[2]), (ip / inp[2]) % inp[1], ip % inp[2]];
                            // Output position fed by input `ic` through tap `tk`.
                            let mut opos = [0usize; 3];
                            let mut ok = true;
                            for i in 0..3 {
                                if params.transposed {
                                    let v = (ic[i] * s[i] + tk[i] * d[i]) as isize - pd[i] as isize;
                                    ok &= v >= 0 && (v as usize) < out[i];
                                    opos[i] = v.max(0) as usize;
                                } else {
                                    let v =
                                        ic[i] as isize + pd[i] as isize - (tk[i] * d[i]) as isize;
                                    ok &= v >= 0
                                        && (v as usize).is_multiple_of(s[i])
                                        && (v as usize / s[i]) < out[i];
                                    opos[i] = v.max(0) as usize / s[i];
                                }
                            }
                            if !ok {
                                continue;
                            }
                            let xv = x[(b * c + ci) * ispat + ip] as i64 - a_zp as i64;
                            let oidx = (opos[0] * out[1] + opos[1]) * out[2] + opos[2];
                            acc[(b * o + oc) * ospat + oidx] += xv * wv;
                        }
                    }
                }
            }
        }
    }
    let (bb, ss) = bias_terms(p.bias.as_ref(), o);
    let y = acc
        .iter()
        .enumerate()
        .map(|(idx, &v)| {
            let j = (idx / ospat) % o;
            requant_one(
                v as i32,
                bb[j],
                ss[j],
                p.multiplier.get(j),
                p.zero_point,
                p.clamp_min as i32,
                p.clamp_max as i32,
            )
        })
        .collect();
    let mut shape = vec![n, o];
    shape.extend_from_slice(&out[3 - sp..]);
    (y, shape)
}
