//! Convolutions (`F.conv1d/2d/3d`, `F.conv_transpose2d`): im2col + f32 GEMM per group, a direct
//! kernel for depthwise convolutions, and their gradients.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use crate::error::{NnError, Result};
use qtensor::threads::for_each_chunk_mut;

use crate::kernels::gemm::{column_blocks, sgemm, Mat, OutBlock};
use crate::kernels::im2col::{col2im, depthwise_channel, im2col, im2col_rows, Geom};
use crate::tensor::Tensor;

/// Stride, padding, dilation and groups of a convolution, one entry per spatial dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvOptions {
    /// Step between output positions.
    pub stride: Vec<usize>,
    /// Implicit zeros on both sides.
    pub padding: Vec<usize>,
    /// Spacing between kernel taps.
    pub dilation: Vec<usize>,
    /// Blocked connections from input to output channels.
    pub groups: usize,
    /// Extra size added to one side of a transposed convolution's output.
    pub output_padding: Vec<usize>,
}

impl ConvOptions {
    /// PyTorch's defaults for `rank` spatial dimensions: stride 1, padding 0, dilation 1, groups 1.
    pub fn new(rank: usize) -> ConvOptions {
        ConvOptions {
            stride: vec![1; rank],
            padding: vec![0; rank],
            dilation: vec![1; rank],
            groups: 1,
            output_padding: vec![0; rank],
        }
    }

    /// Sets the stride (one value for every dimension).
    pub fn stride(mut self, s: usize) -> Self {
        self.stride.fill(s);
        self
    }

    /// Sets the padding (one value for every dimension).
    pub fn padding(mut self, p: usize) -> Self {
        self.padding.fill(p);
        self
    }

    /// Sets the dilation (one value for every dimension).
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation.fill(d);
        self
    }

    /// Sets the number of groups.
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }

    /// Sets the output padding of a transposed convolution (one value for every dimension).
    pub fn output_padding(mut self, p: usize) -> Self {
        self.output_padding.fill(p);
        self
    }

    fn check(&self, op: &str, rank: usize) -> Result<()> {
        let lens = [
            self.stride.len(),
            self.padding.len(),
            self.dilation.len(),
            self.output_padding.len(),
        ];
        if lens.iter().any(|&l| l != rank) {
            return Err(NnError::bad_arg(
                op,
                format!("stride, padding, dilation and output_padding need {rank} values each"),
            ));
        }
        if self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err(NnError::bad_arg(op, "stride and dilation must be positive"));
        }
        if self.groups == 0 {
            return Err(NnError::bad_arg(op, "groups must be positive"));
        }
        Ok(())
    }
}

fn pad3(v: &[usize], fill: usize) -> [usize; 3] {
    let mut out = [fill; 3];
    out[3 - v.len()..].copy_from_slice(v);
    out
}

/// Checked shapes of one convolution call.
struct Plan {
    n: usize,
    groups: usize,
    c_in: usize,
    c_out: usize,
    geom: Geom,
    out_shape: Vec<usize>,
}

fn expected_input(rank: usize) -> String {
    ["(N, C, L)", "(N, C, H, W)", "(N, C, D, H, W)"][rank - 1].to_string()
}

/// `F.conv1d` / `conv2d` / `conv3d` over `rank` spatial dimensions: input `(N, C, *)`, weight
/// `(O, C / groups, *k)`, optional bias `(O)`.
pub fn conv(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    rank: usize,
    opts: &ConvOptions,
) -> Result<Tensor> {
    let op = ["conv1d", "conv2d", "conv3d"]
        .get(rank.wrapping_sub(1))
        .copied()
        .ok_or_else(|| NnError::bad_arg("conv", "1 to 3 spatial dimensions"))?;
    opts.check(op, rank)?;
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() != rank + 2 {
        return Err(NnError::input_shape(op, expected_input(rank), &xs));
    }
    if ws.len() != rank + 2 {
        return Err(NnError::bad_arg(
            op,
            format!("weight must have {} dimensions, got {ws:?}", rank + 2),
        ));
    }
    let (n, c_in, c_out, g) = (xs[0], xs[1], ws[0], opts.groups);
    if c_in % g != 0 || c_out % g != 0 || ws[1] * g != c_in {
        return Err(NnError::shapes(op, &xs, &ws, &format!("input channels {c_in} must equal weight.shape[1] {} * groups {g}, and out channels must divide by groups", ws[1])));
    }
    if let Some(b) = b {
        if b.shape() != [c_out] {
            return Err(NnError::shapes(
                op,
                &ws,
                &b.shape(),
                "bias must have shape (out_channels)",
            ));
        }
    }
    let (input, kernel) = (pad3(&xs[2..], 1), pad3(&ws[2..], 1));
    let (stride, padding, dilation) = (
        pad3(&opts.stride, 1),
        pad3(&opts.padding, 0),
        pad3(&opts.dilation, 1),
    );
    let mut output = [1; 3];
    for a in 0..3 {
        let span = dilation[a] * (kernel[a] - 1) + 1;
        let padded = input[a] + 2 * padding[a];
        if kernel[a] == 0 || padded < span {
            return Err(NnError::input_shape(
                op,
                format!(
                    "{} with spatial size at least the dilated kernel {:?} minus padding",
                    expected_input(rank),
                    &ws[2..]
                ),
                &xs,
            ));
        }
        output[a] = (padded - span) / stride[a] + 1;
    }
    let geom = Geom {
        channels: c_in / g,
        input,
        output,
        kernel,
        stride,
        padding,
        dilation,
    };
    let mut out_shape = vec![n, c_out];
    out_shape.extend_from_slice(&output[3 - rank..]);
    let plan = Plan {
        n,
        groups: g,
        c_in,
        c_out,
        geom,
        out_shape,
    };
    Ok(run_conv(x, w, b, plan))
}

fn run_conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, plan: Plan) -> Tensor {
    let (xd, wd) = (x.data(), w.data());
    let bd = b.map(Tensor::data);
    let out = conv_forward(&plan, slice(&xd), slice(&wd), bd.as_deref().map(slice));
    let out = ArrayD::from_shape_vec(IxDyn(&plan.out_shape), out).expect("output shape");
    let x_shape = xd.shape().to_vec();
    let w_shape = wd.shape().to_vec();
    let plan = Arc::new(plan);
    let inputs: Vec<&Tensor> = match b {
        Some(b) => vec![x, w, b],
        None => vec![x, w],
    };
    Tensor::from_op("conv", &inputs, out, move |g, need| {
        let gs = slice(g);
        let gx = need[0].then(|| {
            let v = conv_grad_input(&plan, gs, slice(&wd));
            ArrayD::from_shape_vec(IxDyn(&x_shape), v).expect("shape")
        });
        let gw = need[1].then(|| {
            let v = conv_grad_weight(&plan, gs, slice(&xd));
            ArrayD::from_shape_vec(IxDyn(&w_shape), v).expect("shape")
        });
        let mut grads = vec![gx, gw];
        if need.len() == 3 {
            grads.push(need[2].then(|| bias_grad(gs, plan.n, plan.c_out, plan.geom.output_len())));
        }
        grads
    })
}

pub(crate) fn slice(a: &ArrayD<f32>) -> &[f32] {
    a.as_slice().expect("tensors are contiguous")
}

/// Sum of the output gradient over batch and positions, per channel.
pub(crate) fn bias_grad(g: &[f32], n: usize, c: usize, l: usize) -> ArrayD<f32> {
    let mut out = vec![0.0f32; c];
    for i in 0..n {
        for (ch, o) in out.iter_mut().enumerate() {
            let s = (i * c + ch) * l;
            *o += g[s..s + l].iter().sum::<f32>();
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[c]), out).expect("shape")
}

/// Below this many multiply-adds per image group, a convolution runs on one thread.
const PARALLEL_WORK: usize = 64 * 64 * 64;

fn conv_forward(p: &Plan, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let geom = &p.geom;
    let l = geom.output_len();
    let img = p.c_out * l;
    let mut out = vec![0.0f32; p.n * img];
    let threads = crate::get_num_threads();
    let work = p.c_out * l * geom.rows();
    if threads > 1 && p.n >= threads && work >= PARALLEL_WORK && img > 0 {
        // Whole images per thread, each on one thread.
        let per = p.n.div_ceil(threads);
        for_each_chunk_mut(&mut out, per * img, |c, chunk| {
            for (j, dst) in chunk.chunks_exact_mut(img).enumerate() {
                conv_image(p, c * per + j, (x, w, b), dst, 1);
            }
        });
    } else {
        let threads = if work >= PARALLEL_WORK { threads } else { 1 };
        for (i, dst) in out.chunks_exact_mut(img.max(1)).enumerate().take(p.n) {
            conv_image(p, i, (x, w, b), dst, threads);
        }
    }
    out
}

/// One image `i` into `dst` (`c_out x L`), split between `threads` threads: depthwise
/// channels, and otherwise output rows (each thread lowers and multiplies its own).
fn conv_image(
    p: &Plan,
    i: usize,
    (x, w, b): (&[f32], &[f32], Option<&[f32]>),
    dst: &mut [f32],
    threads: usize,
) {
    let geom = &p.geom;
    let (l, rows, og) = (geom.output_len(), geom.rows(), p.c_out / p.groups);
    let in_len = geom.input_len();
    let depthwise = geom.channels == 1 && og == 1;
    let xi = &x[i * p.c_in * in_len..(i + 1) * p.c_in * in_len];
    let add_bias = |ch: usize, d: &mut [f32]| {
        if let Some(b) = b {
            for v in d {
                *v += b[ch];
            }
        }
    };
    if depthwise {
        let run = |(ch, d): (usize, &mut [f32])| {
            depthwise_channel(
                geom,
                &xi[ch * in_len..(ch + 1) * in_len],
                &w[ch * rows..],
                d,
            );
            add_bias(ch, d);
        };
        if threads > 1 {
            for_each_chunk_mut(dst, l.max(1), |i, d| run((i, d)));
        } else {
            dst.chunks_mut(l.max(1)).enumerate().for_each(run);
        }
        return;
    }
    for grp in 0..p.groups {
        let xg = &xi[grp * geom.channels * in_len..(grp + 1) * geom.channels * in_len];
        let wg = Mat::rows(&w[grp * og * rows..(grp + 1) * og * rows], rows);
        let dg = &mut dst[grp * og * l..(grp + 1) * og * l];
        let bias_rows = |blk: &mut OutBlock<'_>| {
            for j in 0..og {
                add_bias(grp * og + j, blk.row_mut(j));
            }
        };
        // Output rows (z, y) are split between threads: each lowers its own rows and
        // multiplies them into its own columns of the output.
        let out_rows = geom.output[0] * geom.output[1];
        let ow = geom.output[2];
        let parts = threads.min(out_rows).max(1);
        let per = out_rows.div_ceil(parts);
        let row_ranges: Vec<_> = (0..parts)
            .map(|t| t * per..((t + 1) * per).min(out_rows))
            .filter(|r| !r.is_empty())
            .collect();
        let col_ranges: Vec<_> = row_ranges
            .iter()
            .map(|r| r.start * ow..r.end * ow)
            .collect();
        let mut parts: Vec<_> = column_blocks(dg, og, l, &col_ranges)
            .into_iter()
            .zip(row_ranges)
            .collect();
        let run = |(blk, r): &mut (OutBlock<'_>, std::ops::Range<usize>)| {
            let r = r.clone();
            let (c0, len) = (r.start * ow, r.len() * ow);
            if geom.is_pointwise() {
                blk.sgemm(rows, wg, Mat::rows(&xg[c0..], l), false);
            } else {
                with_cols(rows * len, |cols| {
                    im2col_rows(geom, xg, r, cols);
                    blk.sgemm(rows, wg, Mat::rows(cols, len), false);
                });
            }
            bias_rows(blk);
        };
        if parts.len() > 1 {
            for_each_chunk_mut(&mut parts, 1, |_, part| run(&mut part[0]));
        } else {
            parts.iter_mut().for_each(run);
        }
    }
}

thread_local! {
    /// The calling thread's column matrix, kept between calls (large buffers are page faults
    /// when allocated afresh).
    static COLS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `len` floats (contents unspecified).
fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < len {
            c.resize(len, 0.0);
        }
        f(&mut c[..len])
    })
}

fn conv_grad_input(p: &Plan, g: &[f32], w: &[f32]) -> Vec<f32> {
    let geom = &p.geom;
    let (l, rows, og) = (geom.output_len(), geom.rows(), p.c_out / p.groups);
    let in_len = geom.input_len();
    let mut gx = vec![0.0f32; p.n * p.c_in * in_len];
    let mut cols = vec![0.0f32; rows * l];
    for i in 0..p.n {
        for grp in 0..p.groups {
            let gg = &g[(i * p.c_out + grp * og) * l..][..og * l];
            let wg = &w[grp * og * rows..(grp + 1) * og * rows];
            // dcols = W^T (rows x og) @ dY (og x L)
            sgemm(
                rows,
                l,
                og,
                Mat::transposed(wg, rows),
                Mat::rows(gg, l),
                (&mut cols, l),
                false,
            );
            let dst =
                &mut gx[(i * p.c_in + grp * geom.channels) * in_len..][..geom.channels * in_len];
            if geom.is_pointwise() {
                for (d, v) in dst.iter_mut().zip(&cols) {
                    *d += v;
                }
            } else {
                col2im(geom, &cols, dst);
            }
        }
    }
    gx
}

fn conv_grad_weight(p: &Plan, g: &[f32], x: &[f32]) -> Vec<f32> {
    let geom = &p.geom;
    let (l, rows, og) = (geom.output_len(), geom.rows(), p.c_out / p.groups);
    let in_len = geom.input_len();
    let mut gw = vec![0.0f32; p.c_out * rows];
    let mut cols = vec![0.0f32; rows * l];
    for i in 0..p.n {
        for grp in 0..p.groups {
            let xg = &x[(i * p.c_in + grp * geom.channels) * in_len..][..geom.channels * in_len];
            let gg = &g[(i * p.c_out + grp * og) * l..][..og * l];
            let colm = if geom.is_pointwise() {
                xg
            } else {
                im2col(geom, xg, &mut cols);
                &cols
            };
            // dW (og x rows) += dY (og x L) @ cols^T (L x rows)
            let dst = &mut gw[grp * og * rows..(grp + 1) * og * rows];
            sgemm(
                og,
                rows,
                l,
                Mat::rows(gg, l),
                Mat::transposed(colm, l),
                (dst, rows),
                true,
            );
        }
    }
    gw
}

/// `F.conv_transpose1d/2d/3d` over `rank` spatial dimensions: input `(N, C, *)`, weight
/// `(C, O / groups, *k)`, optional bias `(O)`; output size
/// `(in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1`.
pub fn conv_transpose(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    rank: usize,
    opts: &ConvOptions,
) -> Result<Tensor> {
    let op = ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
        .get(rank.wrapping_sub(1))
        .copied()
        .ok_or_else(|| NnError::bad_arg("conv_transpose", "1 to 3 spatial dimensions"))?;
    opts.check(op, rank)?;
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() != rank + 2 {
        return Err(NnError::input_shape(op, expected_input(rank), &xs));
    }
    if ws.len() != rank + 2 {
        return Err(NnError::bad_arg(
            op,
            format!("weight must have {} dimensions, got {ws:?}", rank + 2),
        ));
    }
    let (n, c_in, g) = (xs[0], xs[1], opts.groups);
    if ws[0] != c_in || c_in % g != 0 {
        return Err(NnError::shapes(
            op,
            &xs,
            &ws,
            "weight.shape[0] must equal the input channels, divisible by groups",
        ));
    }
    let c_out = ws[1] * g;
    if let Some(b) = b {
        if b.shape() != [c_out] {
            return Err(NnError::shapes(
                op,
                &ws,
                &b.shape(),
                "bias must have shape (out_channels)",
            ));
        }
    }
    let (input, kernel) = (pad3(&xs[2..], 1), pad3(&ws[2..], 1));
    let (stride, padding, dilation, out_pad) = (
        pad3(&opts.stride, 1),
        pad3(&opts.padding, 0),
        pad3(&opts.dilation, 1),
        pad3(&opts.output_padding, 0),
    );
    let mut output = [1; 3];
    for a in 0..3 {
        if out_pad[a] >= stride[a] && out_pad[a] >= dilation[a] {
            return Err(NnError::bad_arg(
                op,
                "output_padding must be smaller than either stride or dilation",
            ));
        }
        let full = (input[a].max(1) - 1) * stride[a]
            + dilation[a] * (kernel[a].max(1) - 1)
            + out_pad[a]
            + 1;
        if kernel[a] == 0 || input[a] == 0 || full <= 2 * padding[a] {
            return Err(NnError::input_shape(
                op,
                format!("{} giving a positive output size", expected_input(rank)),
                &xs,
            ));
        }
        output[a] = full - 2 * padding[a];
    }
    // The transposed convolution is the input-gradient of the convolution that maps the output
    // geometry back to the input: same kernel, stride, padding, dilation.
    let geom = Geom {
        channels: c_out / g,
        input: output,
        output: input,
        kernel,
        stride,
        padding,
        dilation,
    };
    for a in 0..3 {
        let span = dilation[a] * (kernel[a] - 1) + 1;
        if (output[a] + 2 * padding[a] - span) / stride[a] + 1 != input[a] {
            return Err(NnError::bad_arg(
                op,
                "inconsistent transposed-convolution geometry",
            ));
        }
    }
    let mut out_shape = vec![n, c_out];
    out_shape.extend_from_slice(&output[3 - rank..]);
    // In the adjoint convolution, "c_in" is our output and "c_out" our input.
    let plan = Plan {
        n,
        groups: g,
        c_in: c_out,
        c_out: c_in,
        geom,
        out_shape,
    };
    let (xd, wd) = (x.data(), w.data());
    let bd = b.map(Tensor::data);
    let mut out = conv_grad_input(&plan, slice(&xd), slice(&wd));
    if let Some(bd) = &bd {
        let l = plan.geom.input_len();
        for i in 0..n {
            for (ch, &bv) in slice(bd).iter().enumerate() {
                for v in &mut out[(i * c_out + ch) * l..][..l] {
                    *v += bv;
                }
            }
        }
    }
    let out = ArrayD::from_shape_vec(IxDyn(&plan.out_shape), out).expect("output shape");
    let x_shape = xs.clone();
    let plan = Arc::new(plan);
    let inputs: Vec<&Tensor> = match b {
        Some(b) => vec![x, w, b],
        None => vec![x, w],
    };
    Ok(Tensor::from_op(
        "conv_transpose",
        &inputs,
        out,
        move |g, need| {
            let gs = slice(g);
            // d input = conv(dY) with the same weight; d weight = grad-weight of the adjoint conv
            // with the roles of input and output-gradient exchanged.
            let gx = need[0].then(|| {
                let no_bias = None;
                let v = conv_forward(&plan, gs, slice(&wd), no_bias);
                ArrayD::from_shape_vec(IxDyn(&x_shape), v).expect("shape")
            });
            let gw = need[1].then(|| {
                let v = conv_grad_weight(&plan, slice(&xd), gs);
                ArrayD::from_shape_vec(IxDyn(wd.shape()), v).expect("shape")
            });
            let mut grads = vec![gx, gw];
            if need.len() == 3 {
                grads
                    .push(need[2].then(|| bias_grad(gs, plan.n, plan.c_in, plan.geom.input_len())));
            }
            grads
        },
    ))
}
