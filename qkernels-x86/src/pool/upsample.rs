//! Nearest-neighbour `upsample_nearest2d` on quantized NCHW data.

use crate::nchw::Nchw;
use crate::op_error::OpError;
use crate::quant::{QInt, QView};

/// How the output size of [`upsample_nearest2d`] is given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpsampleSize {
    /// `scale_factor=(h, w)`: output `floor(in * factor)`, source index
    /// `floor(dst * (float)(1 / factor))` (PyTorch passes the factor on).
    ScaleFactor {
        /// Height factor.
        h: f64,
        /// Width factor.
        w: f64,
    },
    /// `size=(h, w)`: source index `floor(dst * ((float)in / out))`.
    Size {
        /// Output height.
        h: usize,
        /// Output width.
        w: usize,
    },
}

fn axis(name: &'static str, input: usize, factor: f64) -> Result<(usize, f32), OpError> {
    if !(factor.is_finite() && factor > 0.0) {
        return Err(OpError::InvalidParameter {
            name,
            value: factor,
            reason: "scale factor must be finite and > 0",
        });
    }
    let out = input as f64 * factor;
    if out >= usize::MAX as f64 / 2.0 {
        return Err(OpError::Overflow(format!("{input} * {factor}")));
    }
    Ok((out as usize, (1.0 / factor) as f32))
}

/// `nearest_neighbor_compute_source_index`.
fn sources(input: usize, out: usize, scale: f32) -> Vec<usize> {
    (0..out)
        .map(|o| (((o as f32) * scale).floor() as usize).min(input - 1))
        .collect()
}

/// `upsample_nearest2d` (PyTorch's legacy "nearest", not "nearest-exact") on
/// quantized NCHW data; the output keeps the input's quantization
/// parameters and its shape is returned.
///
/// Errors: data length vs shape, zero input height/width, non-positive or
/// non-finite scale factors, an output size of zero.
pub fn upsample_nearest2d<T: QInt>(
    x: QView<T>,
    shape: Nchw,
    size: UpsampleSize,
) -> Result<(Nchw, Vec<T>), OpError> {
    x.q.validate::<T>("x")?;
    shape.check_len("x", x.data.len())?;
    if shape.h == 0 || shape.w == 0 {
        return Err(OpError::ShapeMismatch(format!(
            "upsample_nearest2d: input height and width must be non-zero, got {:?}",
            shape.dims()
        )));
    }
    let ((oh, sh), (ow, sw)) = match size {
        UpsampleSize::ScaleFactor { h, w } => (
            axis("scale_factor_h", shape.h, h)?,
            axis("scale_factor_w", shape.w, w)?,
        ),
        UpsampleSize::Size { h, w } => (
            (h, shape.h as f32 / h as f32),
            (w, shape.w as f32 / w as f32),
        ),
    };
    if oh == 0 || ow == 0 {
        return Err(OpError::EmptyOutput(format!(
            "upsample_nearest2d: output size {oh}x{ow} from input {}x{}",
            shape.h, shape.w
        )));
    }
    let out_shape = Nchw::new(shape.n, shape.c, oh, ow);
    let mut out = Vec::with_capacity(out_shape.numel()?);
    let rows = sources(shape.h, oh, sh);
    let cols = sources(shape.w, ow, sw);
    for plane in x.data.chunks_exact(shape.h * shape.w) {
        for &iy in &rows {
            let row = &plane[iy * shape.w..(iy + 1) * shape.w];
            out.extend(cols.iter().map(|&ix| row[ix]));
        }
    }
    Ok((out_shape, out))
}
