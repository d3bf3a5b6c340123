//! Slow, obviously correct references: direct loops over NCHW tensors in exact integer
//! arithmetic, using only the crate's scalar numeric rules (`requant`). No packing, no
//! indirection, no tiling.

#![allow(dead_code)]

use qkernels_arm::requant::{avgpool_requantize, quantize_bias, requant_scales, requantize};
use qkernels_arm::{U8Quant, WeightQuant};

/// A convolution problem in PyTorch's layouts (NCHW input, `(out, in/g, k...)` weight or
/// `(in, out/g, k...)` for transposed), spatial dimensions normalised to 3.
pub struct ConvCase {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub groups: usize,
    pub input: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
    pub output_padding: [usize; 3],
    pub transposed: bool,
}

impl ConvCase {
    pub fn output(&self) -> [usize; 3] {
        std::array::from_fn(|d| {
            let span = self.dilation[d] * (self.kernel[d] - 1) + 1;
            if self.transposed {
                (self.input[d] - 1) * self.stride[d] + span + self.output_padding[d]
                    - 2 * self.padding[d]
            } else {
                (self.input[d] + 2 * self.padding[d] - span) / self.stride[d] + 1
            }
        })
    }
}

/// `weight(oc, c_in_group, kd, kh, kw)` regardless of the layout.
fn weight_at(case: &ConvCase, w: &[i8], oc: usize, c: usize, k: [usize; 3]) -> i32 {
    let ks = case.kernel;
    let kidx = (k[0] * ks[1] + k[1]) * ks[2] + k[2];
    let kvol = ks[0] * ks[1] * ks[2];
    if case.transposed {
        let opg = case.out_channels / case.groups;
        let cpg = case.in_channels / case.groups;
        let (g, j) = (oc / opg, oc % opg);
        i32::from(w[((g * cpg + c) * opg + j) * kvol + kidx])
    } else {
        let cpg = case.in_channels / case.groups;
        i32::from(w[(oc * cpg + c) * kvol + kidx])
    }
}

/// Reference convolution: NCHW `u8` output.
#[allow(clippy::too_many_arguments)]
pub fn conv(
    case: &ConvCase,
    x: &[u8],
    xq: U8Quant,
    w: &[i8],
    wq: &WeightQuant,
    bias: Option<&[f32]>,
    yq: U8Quant,
    relu: bool,
) -> Vec<u8> {
    let out = case.output();
    let (cin, cout, g) = (case.in_channels, case.out_channels, case.groups);
    let (cpg, opg) = (cin / g, cout / g);
    let scales = requant_scales(wq, cout, xq.scale, yq.scale).expect("valid scales");
    let wz = |oc: usize| -> i32 {
        match wq {
            WeightQuant::PerTensor { zero_point, .. } => i32::from(*zero_point),
            WeightQuant::PerChannel { zero_points, .. } => i32::from(zero_points[oc]),
        }
    };
    let wscale = |oc: usize| -> f64 {
        match wq {
            WeightQuant::PerTensor { scale, .. } => *scale,
            WeightQuant::PerChannel { scales, .. } => scales[oc],
        }
    };
    let [id, ih, iw] = case.input;
    let in_vol = id * ih * iw;
    let out_vol: usize = out.iter().product();
    let xz = i32::from(xq.zero_point);
    let mut acc = vec![0i32; case.batch * cout * out_vol];
    for b in 0..case.batch {
        for oc in 0..cout {
            let grp = oc / opg;
            let base = bias.map_or(0, |bs| quantize_bias(bs[oc], wscale(oc), xq.scale));
            for o in 0..out_vol {
                acc[(b * cout + oc) * out_vol + o] = base;
            }
            for c in 0..cpg {
                let ic = grp * cpg + c;
                for kd in 0..case.kernel[0] {
                    for kh in 0..case.kernel[1] {
                        for kw in 0..case.kernel[2] {
                            let k = [kd, kh, kw];
                            let wv = weight_at(case, w, oc, c, k) - wz(oc);
                            for i in 0..in_vol {
                                let ipos = [i / (ih * iw), (i / iw) % ih, i % iw];
                                let xv = i32::from(x[(b * cin + ic) * in_vol + i]) - xz;
                                // Which output position does (input, kernel) meet?
                                let mut opos = [0usize; 3];
                                let mut hit = true;
                                for d in 0..3 {
                                    if case.transposed {
                                        // o = i * s - p + k * dil
                                        let v = (ipos[d] * case.stride[d] + k[d] * case.dilation[d])
                                            as isize
                                            - case.padding[d] as isize;
                                        if v < 0 || v as usize >= out[d] {
                                            hit = false;
                                        } else {
                                            opos[d] = v as usize;
                                        }
                                    } else {
                                        // i = o * s - p + k * dil
                                        let v = ipos[d] as isize + case.padding[d] as isize
                                            - (k[d] * case.dilation[d]) as isize;
                                        if v < 0
                                            || !(v as usize).is_multiple_of(case.stride[d])
                                            || v as usize / case.stride[d] >= out[d]
                                        {
                                            hit = false;
                                        } else {
                                            opos[d] = v as usize / case.stride[d];
                                        }
                                    }
                                }
                                if hit {
                                    let o = (opos[0] * out[1] + opos[1]) * out[2] + opos[2];
                                    let a = &mut acc[(b * cout + oc) * out_vol + o];
                                    *a = a.wrapping_add(xv * wv);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let min = if relu { yq.zero_point } else { 0 };
    acc.iter()
        .enumerate()
        .map(|(i, &a)| requantize(a, scales[(i / out_vol) % cout], yq.zero_point, min, 255))
        .collect()
}

/// Reference linear: `(rows, out_features)` `u8` output.
#[allow(clippy::too_many_arguments)]
pub fn linear(
    x: &[u8],
    rows: usize,
    k: usize,
    xq: U8Quant,
    w: &[i8],
    n: usize,
    wq: &WeightQuant,
    bias: Option<&[f32]>,
    yq: U8Quant,
    relu: bool,
) -> Vec<u8> {
    let case = ConvCase {
        batch: rows,
        in_channels: k,
        out_channels: n,
        groups: 1,
        input: [1, 1, 1],
        kernel: [1, 1, 1],
        stride: [1, 1, 1],
        padding: [0; 3],
        dilation: [1, 1, 1],
        output_padding: [0; 3],
        transposed: false,
    };
    conv(&case, x, xq, w, wq, bias, yq, relu)
}

/// Reference max pooling in NCHW with QNNPACK's clamped window positions.
pub fn max_pool(
    x: &[u8],
    [n, c, h, w]: [usize; 4],
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
) -> Vec<u8> {
    let oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
    let ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
    let mut out = Vec::new();
    for plane in x.chunks_exact(h * w).take(n * c) {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = 0u8;
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * s[0] + ky * d[0]).saturating_sub(p[0]).min(h - 1);
                        let ix = (ox * s[1] + kx * d[1]).saturating_sub(p[1]).min(w - 1);
                        m = m.max(plane[iy * w + ix]);
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

/// Reference QNNPACK average pooling in NCHW (padding counts as the zero point).
pub fn avg_pool(
    x: &[u8],
    [n, c, h, w]: [usize; 4],
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    q: U8Quant,
) -> Vec<u8> {
    let oh = (h + 2 * p[0] - k[0]) / s[0] + 1;
    let ow = (w + 2 * p[1] - k[1]) / s[1] + 1;
    let size = k[0] * k[1];
    let sc = q.scale as f32;
    let scale = sc / (sc * size as f32);
    let zp = i32::from(q.zero_point);
    let mut out = Vec::new();
    for plane in x.chunks_exact(h * w).take(n * c) {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0i32;
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * s[0] + ky).checked_sub(p[0]).filter(|&v| v < h);
                        let ix = (ox * s[1] + kx).checked_sub(p[1]).filter(|&v| v < w);
                        if let (Some(iy), Some(ix)) = (iy, ix) {
                            acc += i32::from(plane[iy * w + ix]) - zp;
                        }
                    }
                }
                out.push(avgpool_requantize(acc, scale, q.zero_point, 0, 255));
            }
        }
    }
    out
}
