//! `upsample_nearest2d` on a quantized tensor (ATen's generic kernel: values copied, parameters
//! kept).

use crate::{KernelError, Kernels, Layout, QBuf, QView};

/// PyTorch's `nearest_idx`: exact for equal and doubled sizes, else
/// `min(floor(dst * scale), input - 1)` with `scale = 1 / scale_factor` (or `in / out`) in `f32`.
fn nearest_idx(dst: usize, input: usize, output: usize, scale_factor: Option<f64>) -> usize {
    if output == input {
        dst
    } else if output == 2 * input {
        dst >> 1
    } else {
        let scale = match scale_factor {
            Some(s) if s > 0.0 => (1.0 / s) as f32,
            _ => input as f32 / output as f32,
        };
        ((dst as f32 * scale).floor() as usize).min(input - 1)
    }
}

impl Kernels {
    /// Nearest-neighbour upsampling of `(N, C, H, W)` to `output = (oh, ow)`; `scale_factors`
    /// are the `(h, w)` factors the caller gave (PyTorch uses them for the index mapping when
    /// present).
    pub fn upsample_nearest2d(
        &self,
        x: &QView,
        output: [usize; 2],
        scale_factors: Option<[f64; 2]>,
    ) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        let [n, c, h, w] = <[usize; 4]>::try_from(x.shape).map_err(|_| KernelError::BadShape {
            arg: "x",
            reason: format!("expected (N, C, H, W), got {:?}", x.shape),
        })?;
        let [oh, ow] = output;
        if h == 0 || w == 0 || oh == 0 || ow == 0 {
            return Err(KernelError::BadShape {
                arg: "output",
                reason: format!("empty upsampling {h}x{w} -> {oh}x{ow}"),
            });
        }
        let ys: Vec<usize> = (0..oh)
            .map(|y| nearest_idx(y, h, oh, scale_factors.map(|s| s[0])))
            .collect();
        let xs: Vec<usize> = (0..ow)
            .map(|x| nearest_idx(x, w, ow, scale_factors.map(|s| s[1])))
            .collect();
        let mut out = Vec::with_capacity(n * c * oh * ow);
        match x.layout {
            Layout::Nchw => {
                for plane in x.data.chunks_exact(h * w) {
                    for &iy in &ys {
                        out.extend(xs.iter().map(|&ix| plane[iy * w + ix]));
                    }
                }
            }
            Layout::Nhwc => {
                for img in x.data.chunks_exact(h * w * c) {
                    for &iy in &ys {
                        for &ix in &xs {
                            out.extend_from_slice(&img[(iy * w + ix) * c..][..c]);
                        }
                    }
                }
            }
        }
        Ok(QBuf {
            data: out,
            shape: vec![n, c, oh, ow],
            quant: x.quant,
            layout: x.layout,
        })
    }
}
