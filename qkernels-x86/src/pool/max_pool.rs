//! `max_pool2d` on quantized NCHW data.

use super::kernels;
use super::window::{check_window, output_size_checked, MaxPool2d};
use crate::isa::Isa;
use crate::nchw::Nchw;
use crate::op_error::OpError;
use crate::quant::{QInt, QView};

/// One axis of a dilated window, as `spatial_dilated_max_pooling` walks it.
#[derive(Clone, Copy)]
struct Span {
    /// First tap inside the input.
    start: usize,
    /// One past the last input position the window may touch.
    end: usize,
    /// Whether the whole undilated extent lies inside the input.
    full: bool,
}

fn spans(
    input: usize,
    out: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dil: usize,
) -> Vec<Span> {
    let extent = ((kernel - 1) * dil + 1) as i64;
    (0..out)
        .map(|o| {
            let mut start = (o * stride) as i64 - pad as i64;
            let end = (start + extent).min(input as i64);
            let full = start >= 0 && start + extent <= input as i64;
            while start < 0 {
                start += dil as i64;
            }
            Span {
                start: start as usize,
                end: end.max(0) as usize,
                full,
            }
        })
        .collect()
}

/// Output rows narrower than this take [`small_planes`]: per-row vector calls would cost more
/// than the work.
const SMALL_WIDTH: usize = 32;

/// Max pooling of planes with short rows: one vector pass over all planes takes the horizontal
/// maximum of every window start (windows that cross a row end are never read), then each
/// output gathers its window rows from it.
fn small_planes<T: QInt>(
    isa: Isa,
    data: &[T],
    shape: Nchw,
    (rows, cols): (&[Span], &[Span]),
    (extent_w, [_, kw], [dh, dw]): (usize, [usize; 2], [usize; 2]),
    out: &mut [T],
) {
    let lowest = T::from_i32_sat(T::QMIN);
    let dense_len = (data.len() + 1).saturating_sub(extent_w);
    let mut dense = data[..dense_len].to_vec();
    // With no room for one whole window there is no full column to read either.
    if dense_len > 0 {
        for j in 1..kw {
            kernels::max_into(isa, &mut dense, &data[j * dw..j * dw + dense_len]);
        }
    }
    let (h, w) = (shape.h, shape.w);
    let ow = cols.len();
    for (plane, dst) in out.chunks_exact_mut(rows.len() * ow).enumerate() {
        let base = plane * h * w;
        for (orow, r) in dst.chunks_exact_mut(ow).zip(rows) {
            let (first, n_rows, step) =
                (base + r.start * w, (r.end - r.start).div_ceil(dh), dh * w);
            for (o, c) in orow.iter_mut().zip(cols) {
                let mut m = lowest;
                let mut at = first;
                for _ in 0..n_rows {
                    m = if c.full {
                        m.max(dense[at + c.start])
                    } else {
                        (c.start..c.end)
                            .step_by(dw)
                            .map(|ix| data[at + ix])
                            .fold(m, T::max)
                    };
                    at += step;
                }
                *o = m;
            }
        }
    }
}

pub(crate) fn max_pool2d_with_isa<T: QInt>(
    isa: Isa,
    x: QView<T>,
    shape: Nchw,
    p: &MaxPool2d,
) -> Result<(Nchw, Vec<T>), OpError> {
    x.q.validate::<T>("x")?;
    shape.check_len("x", x.data.len())?;
    check_window(p.kernel, p.stride, p.padding, p.dilation)?;
    if shape.c == 0 || shape.h == 0 || shape.w == 0 {
        return Err(OpError::ShapeMismatch(format!(
            "max_pool2d: input dimensions must be non-zero, got {:?}",
            shape.dims()
        )));
    }
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    let [dh, dw] = p.dilation;
    let oh = output_size_checked("max_pool2d height", shape.h, kh, ph, sh, dh, p.ceil_mode)?;
    let ow = output_size_checked("max_pool2d width", shape.w, kw, pw, sw, dw, p.ceil_mode)?;
    let out_shape = Nchw::new(shape.n, shape.c, oh, ow);
    let lowest = T::from_i32_sat(T::QMIN);
    let mut out = vec![lowest; out_shape.numel()?];
    let rows = spans(shape.h, oh, kh, sh, ph, dh);
    let cols = spans(shape.w, ow, kw, sw, pw, dw);
    let extent_w = (kw - 1) * dw + 1;
    if ow < SMALL_WIDTH {
        small_planes(
            isa,
            x.data,
            shape,
            (&rows, &cols),
            (extent_w, p.kernel, p.dilation),
            &mut out,
        );
        return Ok((out_shape, out));
    }
    // Window starts at which a full row window fits.
    let dense_len = (shape.w + 1).saturating_sub(extent_w);
    let mut dense = vec![lowest; dense_len];
    let mut hmax = vec![lowest; shape.h * ow];
    let plane_in = shape.h * shape.w;
    for (src, dst) in x
        .data
        .chunks_exact(plane_in)
        .zip(out.chunks_exact_mut(oh * ow))
    {
        // Horizontal pass: hmax[ih][ow] = max over the row window.
        for (row, hrow) in src.chunks_exact(shape.w).zip(hmax.chunks_exact_mut(ow)) {
            if dense_len > 0 {
                dense.copy_from_slice(&row[..dense_len]);
                for j in 1..kw {
                    kernels::max_into(isa, &mut dense, &row[j * dw..j * dw + dense_len]);
                }
            }
            for (h, c) in hrow.iter_mut().zip(&cols) {
                *h = if c.full {
                    dense[c.start]
                } else {
                    (c.start..c.end)
                        .step_by(dw)
                        .map(|ix| row[ix])
                        .fold(lowest, T::max)
                };
            }
        }
        // Vertical pass: out[oh][ow] = max over the rows of the window.
        for (orow, r) in dst.chunks_exact_mut(ow).zip(&rows) {
            for iy in (r.start..r.end).step_by(dh) {
                kernels::max_into(isa, orow, &hmax[iy * ow..(iy + 1) * ow]);
            }
        }
    }
    Ok((out_shape, out))
}

/// `max_pool2d` on quantized NCHW data (`spatial_dilated_max_pooling`):
/// the maximum quantized value of each dilated window, padding ignored. The
/// output keeps the input's quantization parameters; its shape is returned.
///
/// Errors: data length vs shape, zero channel/height/width, zero kernel,
/// stride or dilation, padding above half the kernel, empty output.
///
/// ```
/// use qkernels_x86::nchw::Nchw;
/// use qkernels_x86::pool::{max_pool2d, MaxPool2d};
/// use qkernels_x86::quant::{Affine, QView};
///
/// let x = [1u8, 5, 2, 0, 3, 4, 9, 8]; // one 2x4 plane
/// let (shape, y) = max_pool2d(
///     QView::new(&x, Affine::new(0.1, 0)),
///     Nchw::new(1, 1, 2, 4),
///     &MaxPool2d::new([2, 2]),
/// )
/// .unwrap();
/// assert_eq!(shape, Nchw::new(1, 1, 1, 2));
/// assert_eq!(y, [5, 9]); // max of {1, 5, 3, 4} and of {2, 0, 9, 8}
/// ```
pub fn max_pool2d<T: QInt>(
    x: QView<T>,
    shape: Nchw,
    params: &MaxPool2d,
) -> Result<(Nchw, Vec<T>), OpError> {
    max_pool2d_with_isa(crate::isa::active_isa(), x, shape, params)
}
