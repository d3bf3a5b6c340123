//! `avg_pool2d` on quantized NCHW data.

use super::kernels;
use super::window::{check_window, output_size_checked, AvgPool2d};
use crate::isa::Isa;
use crate::nchw::Nchw;
use crate::op_error::OpError;
use crate::quant::{QInt, QView};

/// One axis of an average-pool window (`avg_pool2d_out_frame`).
#[derive(Clone, Copy)]
struct Span {
    /// First input position (clamped to the input).
    start: usize,
    /// One past the last input position (clamped).
    end: usize,
    /// Window length including padding (`count_include_pad` divisor factor).
    padded: usize,
}

fn spans(input: usize, out: usize, kernel: usize, stride: usize, pad: usize) -> Vec<Span> {
    let (input, kernel, pad) = (input as i64, kernel as i64, pad as i64);
    (0..out)
        .map(|o| {
            let start = (o * stride) as i64 - pad;
            let end = (start + kernel).min(input + pad);
            Span {
                start: start.max(0) as usize,
                end: end.min(input).max(0) as usize,
                padded: (end - start) as usize,
            }
        })
        .collect()
}

pub(crate) fn avg_pool2d_with_isa<T: QInt>(
    isa: Isa,
    x: QView<T>,
    shape: Nchw,
    p: &AvgPool2d,
) -> Result<(Nchw, Vec<T>), OpError> {
    x.q.validate::<T>("x")?;
    shape.check_len("x", x.data.len())?;
    check_window(p.kernel, p.stride, p.padding, [1, 1])?;
    if p.divisor_override == Some(0) {
        return Err(OpError::InvalidWindow(
            "divisor_override must not be zero".into(),
        ));
    }
    if shape.c == 0 || shape.h == 0 || shape.w == 0 {
        return Err(OpError::ShapeMismatch(format!(
            "avg_pool2d: input dimensions must be non-zero, got {:?}",
            shape.dims()
        )));
    }
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    let oh = output_size_checked("avg_pool2d height", shape.h, kh, ph, sh, 1, p.ceil_mode)?;
    let ow = output_size_checked("avg_pool2d width", shape.w, kw, pw, sw, 1, p.ceil_mode)?;
    let out_shape = Nchw::new(shape.n, shape.c, oh, ow);
    let mut out = vec![T::default(); out_shape.numel()?];
    let rows = spans(shape.h, oh, kh, sh, ph);
    let cols = spans(shape.w, ow, kw, sw, pw);
    let zp = x.q.zero_point;
    // Per output row: the zero-point correction and the f32 multiplier
    // `(float)((in_scale / out_scale) / divide_factor)`; the scales are equal.
    let mut sub = vec![0i32; ow];
    let mut mult = vec![0f32; ow];
    let mut prefix = vec![0i32; shape.w + 1];
    let mut hsum = vec![0i32; shape.h * ow];
    let mut colsum = vec![0i32; ow];
    for (src, dst) in x
        .data
        .chunks_exact(shape.h * shape.w)
        .zip(out.chunks_exact_mut(oh * ow))
    {
        for (row, hrow) in src.chunks_exact(shape.w).zip(hsum.chunks_exact_mut(ow)) {
            for (i, &v) in row.iter().enumerate() {
                prefix[i + 1] = prefix[i] + v.to_i32();
            }
            for (h, c) in hrow.iter_mut().zip(&cols) {
                *h = prefix[c.end] - prefix[c.start];
            }
        }
        for (orow, r) in dst.chunks_exact_mut(ow).zip(&rows) {
            colsum.fill(0);
            for iy in r.start..r.end {
                kernels::add_into_i32(isa, &mut colsum, &hsum[iy * ow..(iy + 1) * ow]);
            }
            for (j, c) in cols.iter().enumerate() {
                let size = (r.end - r.start) * (c.end - c.start);
                let divide = match p.divisor_override {
                    Some(d) => d,
                    None if p.count_include_pad => r.padded * c.padded,
                    None => size,
                };
                sub[j] = (size as i32).wrapping_mul(zp);
                mult[j] = (1.0 / divide as f64) as f32;
            }
            kernels::avg_requant(isa, &colsum, &sub, &mult, zp, orow);
        }
    }
    Ok((out_shape, out))
}

/// `avg_pool2d` on quantized NCHW data (`avg_pool2d_out_frame`): the integer
/// window sum minus `size * zero_point`, times the `f32` multiplier
/// `1 / divisor`, plus the zero point, rounded half to even and clamped. The
/// output keeps the input's quantization parameters; its shape is returned.
///
/// Errors: data length vs shape, zero channel/height/width, zero kernel or
/// stride, padding above half the kernel, zero divisor override, empty output.
pub fn avg_pool2d<T: QInt>(
    x: QView<T>,
    shape: Nchw,
    params: &AvgPool2d,
) -> Result<(Nchw, Vec<T>), OpError> {
    avg_pool2d_with_isa(crate::isa::active_isa(), x, shape, params)
}
