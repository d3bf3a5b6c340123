//! Pooling (`F.max_pool2d`, `F.avg_pool2d`, `F.adaptive_avg_pool2d`) over `(N, C, H, W)` or
//! `(C, H, W)` inputs, and their gradients.

use ndarray::{ArrayD, IxDyn};

use super::conv::slice;
use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// Kernel, stride, padding, dilation and rounding of a 2-D pooling window.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool2dOptions {
    /// Window size `(kh, kw)`.
    pub kernel_size: [usize; 2],
    /// Step between windows; PyTorch's default is the kernel size.
    pub stride: [usize; 2],
    /// Implicit padding on both sides (at most half the kernel).
    pub padding: [usize; 2],
    /// Spacing between window taps (max pooling only).
    pub dilation: [usize; 2],
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
    /// Average pooling: count padded zeros in the divisor.
    pub count_include_pad: bool,
    /// Average pooling: a fixed divisor instead of the window size.
    pub divisor_override: Option<usize>,
}

impl Pool2dOptions {
    /// A square window of size `k` with stride `k` (PyTorch's default stride), no padding.
    pub fn new(k: usize) -> Pool2dOptions {
        Pool2dOptions {
            kernel_size: [k, k],
            stride: [k, k],
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p, p];
        self
    }

    /// Sets the dilation.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = [d, d];
        self
    }

    /// Sets ceil mode.
    pub fn ceil_mode(mut self, c: bool) -> Self {
        self.ceil_mode = c;
        self
    }
}

/// `(batch of planes, h, w)` of a 3-D or 4-D input.
fn planes(op: &str, shape: &[usize]) -> Result<(usize, usize, usize)> {
    match shape {
        [c, h, w] => Ok((*c, *h, *w)),
        [n, c, h, w] => Ok((n * c, *h, *w)),
        _ => Err(NnError::input_shape(op, "(N, C, H, W) or (C, H, W)", shape)),
    }
}

/// PyTorch's `pooling_output_shape`.
fn out_size(
    op: &str,
    input: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    ceil: bool,
) -> Result<usize> {
    if k == 0 || s == 0 || d == 0 {
        return Err(NnError::bad_arg(
            op,
            "kernel size, stride and dilation must be positive",
        ));
    }
    if 2 * p > k {
        return Err(NnError::bad_arg(
            op,
            format!("padding {p} should be at most half of kernel size {k}"),
        ));
    }
    let span = d * (k - 1) + 1;
    let num = (input + 2 * p) as isize - span as isize + if ceil { s as isize - 1 } else { 0 };
    if num < 0 {
        return Err(NnError::bad_arg(
            op,
            format!("input size {input} is too small for kernel {k} with padding {p}"),
        ));
    }
    let mut out = num as usize / s + 1;
    if ceil && (out - 1) * s >= input + p {
        out -= 1;
    }
    Ok(out)
}

fn out_shape(shape: &[usize], oh: usize, ow: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    let n = s.len();
    s[n - 2] = oh;
    s[n - 1] = ow;
    s
}

/// `F.max_pool2d`; the gradient goes to the first maximum of each window (NaN counts as max).
pub fn max_pool2d(x: &Tensor, o: &Pool2dOptions) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.max_pool2d",
        &[Some(x)],
        || {
            vec![
                ("kernel_size", o.kernel_size.as_slice().into()),
                ("stride", o.stride.as_slice().into()),
                ("padding", o.padding.as_slice().into()),
                ("dilation", o.dilation.as_slice().into()),
                ("ceil_mode", o.ceil_mode.into()),
            ]
        },
        || {
            let shape = x.shape();
            let (b, h, w) = planes("max_pool2d", &shape)?;
            let oh = out_size(
                "max_pool2d",
                h,
                o.kernel_size[0],
                o.stride[0],
                o.padding[0],
                o.dilation[0],
                o.ceil_mode,
            )?;
            let ow = out_size(
                "max_pool2d",
                w,
                o.kernel_size[1],
                o.stride[1],
                o.padding[1],
                o.dilation[1],
                o.ceil_mode,
            )?;
            let xd = x.data();
            let xs = slice(&xd);
            let mut out = vec![0.0f32; b * oh * ow];
            let mut arg = vec![usize::MAX; b * oh * ow];
            for p in 0..b {
                let plane = &xs[p * h * w..(p + 1) * h * w];
                for i in 0..oh {
                    for j in 0..ow {
                        let mut best = f32::NEG_INFINITY;
                        let mut best_idx = usize::MAX;
                        for ki in 0..o.kernel_size[0] {
                            let r = (i * o.stride[0] + ki * o.dilation[0]) as isize
                                - o.padding[0] as isize;
                            if r < 0 || r as usize >= h {
                                continue;
                            }
                            for kj in 0..o.kernel_size[1] {
                                let c = (j * o.stride[1] + kj * o.dilation[1]) as isize
                                    - o.padding[1] as isize;
                                if c < 0 || c as usize >= w {
                                    continue;
                                }
                                let idx = r as usize * w + c as usize;
                                let v = plane[idx];
                                if best_idx == usize::MAX
                                    || v > best
                                    || v.is_nan() && !best.is_nan()
                                {
                                    best = v;
                                    best_idx = idx;
                                }
                            }
                        }
                        out[(p * oh + i) * ow + j] = best;
                        arg[(p * oh + i) * ow + j] = best_idx;
                    }
                }
            }
            let out =
                ArrayD::from_shape_vec(IxDyn(&out_shape(&shape, oh, ow)), out).expect("shape");
            Ok(Tensor::from_op("max_pool2d", &[x], out, move |g, _| {
                let mut gx = vec![0.0f32; b * h * w];
                for (k, (&gv, &a)) in slice(g).iter().zip(&arg).enumerate() {
                    if a != usize::MAX {
                        gx[(k / (oh * ow)) * h * w + a] += gv;
                    }
                }
                vec![Some(
                    ArrayD::from_shape_vec(IxDyn(&shape), gx).expect("shape"),
                )]
            }))
        },
    )
}

/// A pooling that averages windows: output `o` = `(sum_i x[plane][idx_i]) / d1 / d2`, summed in
/// window order and divided as PyTorch's kernels do.
struct Windows {
    /// Per output position of one plane: (start, end) into `taps`, and the two divisors.
    ranges: Vec<(usize, usize, f32, f32)>,
    /// Input indices within the plane.
    taps: Vec<usize>,
}

fn apply_windows(
    op: &'static str,
    x: &Tensor,
    win: Windows,
    oh: usize,
    ow: usize,
) -> Result<Tensor> {
    let shape = x.shape();
    let (b, h, w) = planes(op, &shape)?;
    let xd = x.data();
    let xs = slice(&xd);
    let per = oh * ow;
    let mut out = vec![0.0f32; b * per];
    for p in 0..b {
        let plane = &xs[p * h * w..(p + 1) * h * w];
        for (k, &(s, e, d1, d2)) in win.ranges.iter().enumerate() {
            if s < e {
                let sum: f32 = win.taps[s..e].iter().map(|&i| plane[i]).sum();
                out[p * per + k] = sum / d1 / d2;
            }
        }
    }
    let out = ArrayD::from_shape_vec(IxDyn(&out_shape(&shape, oh, ow)), out).expect("shape");
    Ok(Tensor::from_op(op, &[x], out, move |g, _| {
        let gs = slice(g);
        let mut gx = vec![0.0f32; b * h * w];
        for p in 0..b {
            for (k, &(s, e, d1, d2)) in win.ranges.iter().enumerate() {
                let gv = gs[p * per + k] / d1 / d2;
                for &i in &win.taps[s..e] {
                    gx[p * h * w + i] += gv;
                }
            }
        }
        vec![Some(
            ArrayD::from_shape_vec(IxDyn(&shape), gx).expect("shape"),
        )]
    }))
}

/// `F.avg_pool2d` with PyTorch's window clipping, `count_include_pad` and `divisor_override`.
pub fn avg_pool2d(x: &Tensor, o: &Pool2dOptions) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.avg_pool2d",
        &[Some(x)],
        || {
            vec![
                ("kernel_size", o.kernel_size.as_slice().into()),
                ("stride", o.stride.as_slice().into()),
                ("padding", o.padding.as_slice().into()),
                ("ceil_mode", o.ceil_mode.into()),
                ("count_include_pad", o.count_include_pad.into()),
                (
                    "divisor_override",
                    o.divisor_override
                        .map_or(crate::trace::TraceArg::None, Into::into),
                ),
            ]
        },
        || {
            let shape = x.shape();
            let (_, h, w) = planes("avg_pool2d", &shape)?;
            let (k, s, p) = (o.kernel_size, o.stride, o.padding);
            let oh = out_size("avg_pool2d", h, k[0], s[0], p[0], 1, o.ceil_mode)?;
            let ow = out_size("avg_pool2d", w, k[1], s[1], p[1], 1, o.ceil_mode)?;
            if o.divisor_override == Some(0) {
                return Err(NnError::bad_arg("avg_pool2d", "divisor must be non-zero"));
            }
            let mut win = Windows {
                ranges: Vec::new(),
                taps: Vec::new(),
            };
            for i in 0..oh {
                for j in 0..ow {
                    let hs = (i * s[0]) as isize - p[0] as isize;
                    let ws = (j * s[1]) as isize - p[1] as isize;
                    let he = (hs + k[0] as isize).min((h + p[0]) as isize);
                    let we = (ws + k[1] as isize).min((w + p[1]) as isize);
                    let pool_size = (he - hs) * (we - ws);
                    let (hs, ws) = (hs.max(0), ws.max(0));
                    let (he, we) = (he.min(h as isize), we.min(w as isize));
                    let start = win.taps.len();
                    let mut div = 1.0;
                    if hs < he && ws < we {
                        div = match o.divisor_override {
                            Some(d) => d as f32,
                            None if o.count_include_pad => pool_size as f32,
                            None => ((he - hs) * (we - ws)) as f32,
                        };
                        for r in hs..he {
                            for c in ws..we {
                                win.taps.push(r as usize * w + c as usize);
                            }
                        }
                    }
                    win.ranges.push((start, win.taps.len(), div, 1.0));
                }
            }
            apply_windows("avg_pool2d", x, win, oh, ow)
        },
    )
}

/// `F.adaptive_avg_pool2d`: window `i` spans `floor(i * in / out) .. ceil((i + 1) * in / out)`.
pub fn adaptive_avg_pool2d(x: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.adaptive_avg_pool2d",
        &[Some(x)],
        || vec![("output_size", output_size.as_slice().into())],
        || {
            let shape = x.shape();
            let (_, h, w) = planes("adaptive_avg_pool2d", &shape)?;
            let [oh, ow] = output_size;
            if (oh == 0 || ow == 0) || h == 0 || w == 0 {
                return Err(NnError::input_shape(
                    "adaptive_avg_pool2d",
                    "non-empty spatial dimensions and output size",
                    &shape,
                ));
            }
            let mut win = Windows {
                ranges: Vec::new(),
                taps: Vec::new(),
            };
            for i in 0..oh {
                let (hs, he) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
                for j in 0..ow {
                    let (ws, we) = (j * w / ow, ((j + 1) * w).div_ceil(ow));
                    let start = win.taps.len();
                    for r in hs..he {
                        for c in ws..we {
                            win.taps.push(r * w + c);
                        }
                    }
                    win.ranges
                        .push((start, win.taps.len(), (he - hs) as f32, (we - ws) as f32));
                }
            }
            apply_windows("adaptive_avg_pool2d", x, win, oh, ow)
        },
    )
}
