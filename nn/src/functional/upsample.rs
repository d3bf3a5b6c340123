//! `F.interpolate` / `nn.Upsample` for `(N, C, H, W)`: nearest and bilinear, with PyTorch's
//! source-index rules.

use ndarray::{ArrayD, IxDyn};

use super::conv::slice;
use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// The interpolation of [`interpolate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsampleMode {
    /// `"nearest"`.
    Nearest,
    /// `"bilinear"`, with `align_corners`.
    Bilinear {
        /// Align the corner pixels of input and output.
        align_corners: bool,
    },
}

/// The output size: given explicitly, or as a scale factor per spatial dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UpsampleSize {
    /// `size=(oh, ow)`.
    Size([usize; 2]),
    /// `scale_factor=(sh, sw)`: output `floor(in * s)`, and the source index uses `1 / s`.
    Scale([f64; 2]),
}

/// `(output size, scale used for source indices)` per axis, as PyTorch computes them.
fn axis_plan(input: usize, size: UpsampleSize, a: usize) -> Result<(usize, Option<f64>)> {
    match size {
        UpsampleSize::Size(s) => Ok((s[a], None)),
        UpsampleSize::Scale(s) => {
            if !(s[a].is_finite() && s[a] > 0.0) {
                return Err(NnError::bad_arg(
                    "interpolate",
                    format!("scale factor must be positive, got {}", s[a]),
                ));
            }
            Ok(((input as f64 * s[a]).floor() as usize, Some(s[a])))
        }
    }
}

/// `area_pixel_compute_scale`.
fn pixel_scale(input: usize, output: usize, align_corners: bool, scale: Option<f64>) -> f32 {
    if align_corners {
        if output > 1 {
            (input as f32 - 1.0) / (output as f32 - 1.0)
        } else {
            0.0
        }
    } else {
        match scale {
            Some(s) => (1.0 / s) as f32,
            None => input as f32 / output as f32,
        }
    }
}

/// Source index and weights along one axis: `(i0, i1, w0, w1)` per output index.
fn taps(
    input: usize,
    output: usize,
    mode: UpsampleMode,
    scale: Option<f64>,
) -> Vec<(usize, usize, f32, f32)> {
    (0..output)
        .map(|o| match mode {
            UpsampleMode::Nearest => {
                let i = if output == input {
                    o
                } else if output == 2 * input {
                    o >> 1
                } else {
                    let s = match scale {
                        Some(s) => (1.0 / s) as f32,
                        None => input as f32 / output as f32,
                    };
                    ((o as f32 * s).floor() as usize).min(input - 1)
                };
                (i, i, 1.0, 0.0)
            }
            UpsampleMode::Bilinear { align_corners } => {
                let s = pixel_scale(input, output, align_corners, scale);
                let src = if align_corners {
                    s * o as f32
                } else {
                    (s * (o as f32 + 0.5) - 0.5).max(0.0)
                };
                let i0 = (src as usize).min(input - 1);
                let i1 = i0 + usize::from(i0 < input - 1);
                let l1 = src - i0 as f32;
                (i0, i1, 1.0 - l1, l1)
            }
        })
        .collect()
}

/// `w0 * x0 + w1 * x1`, without touching `x1` when its weight is 0 (so an infinite neighbour
/// does not turn a nearest-neighbour copy into NaN).
#[inline]
fn lerp(w0: f32, x0: f32, w1: f32, x1: f32) -> f32 {
    if w1 == 0.0 {
        w0 * x0
    } else {
        w0 * x0 + w1 * x1
    }
}

/// `F.interpolate(x, size | scale_factor, mode, align_corners)` over `(N, C, H, W)`.
pub fn interpolate(x: &Tensor, size: UpsampleSize, mode: UpsampleMode) -> Result<Tensor> {
    let s = x.shape();
    if s.len() != 4 || s[2] == 0 || s[3] == 0 {
        return Err(NnError::input_shape(
            "interpolate",
            "(N, C, H, W) with non-empty H and W",
            &s,
        ));
    }
    let (h, w) = (s[2], s[3]);
    let (oh, sh) = axis_plan(h, size, 0)?;
    let (ow, sw) = axis_plan(w, size, 1)?;
    if oh == 0 || ow == 0 {
        return Err(NnError::bad_arg(
            "interpolate",
            "the output size must be positive",
        ));
    }
    let (th, tw) = (taps(h, oh, mode, sh), taps(w, ow, mode, sw));
    let planes = s[0] * s[1];
    let xd = x.data();
    let xs = slice(&xd);
    let mut out = vec![0.0f32; planes * oh * ow];
    for p in 0..planes {
        let src = &xs[p * h * w..(p + 1) * h * w];
        for (i, &(h0, h1, a0, a1)) in th.iter().enumerate() {
            for (j, &(w0, w1, b0, b1)) in tw.iter().enumerate() {
                let top = lerp(b0, src[h0 * w + w0], b1, src[h0 * w + w1]);
                out[(p * oh + i) * ow + j] = if a1 == 0.0 {
                    a0 * top
                } else {
                    a0 * top + a1 * lerp(b0, src[h1 * w + w0], b1, src[h1 * w + w1])
                };
            }
        }
    }
    let out = ArrayD::from_shape_vec(IxDyn(&[s[0], s[1], oh, ow]), out).expect("shape");
    Ok(Tensor::from_op("interpolate", &[x], out, move |g, _| {
        let gs = slice(g);
        let mut gx = vec![0.0f32; planes * h * w];
        for p in 0..planes {
            let dst = &mut gx[p * h * w..(p + 1) * h * w];
            for (i, &(h0, h1, a0, a1)) in th.iter().enumerate() {
                for (j, &(w0, w1, b0, b1)) in tw.iter().enumerate() {
                    let gv = gs[(p * oh + i) * ow + j];
                    dst[h0 * w + w0] += gv * a0 * b0;
                    dst[h0 * w + w1] += gv * a0 * b1;
                    dst[h1 * w + w0] += gv * a1 * b0;
                    dst[h1 * w + w1] += gv * a1 * b1;
                }
            }
        }
        vec![Some(ArrayD::from_shape_vec(IxDyn(&s), gx).expect("shape"))]
    }))
}
