//! Pooling: `max_pool2d` and `avg_pool2d` with QNNPACK's operators, `adaptive_avg_pool2d`
//! through QNNPACK when the output divides the input (as PyTorch does), else ATen's generic
//! kernel.

use crate::conv::layout;
use crate::{KernelError, Kernels, Layout, QBuf, QView};

/// 2-d pooling window: `(height, width)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    /// Window size.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit padding on both sides.
    pub padding: [usize; 2],
    /// Spacing of window elements (max pooling only; 1 for average pooling).
    pub dilation: [usize; 2],
}

impl Pool2d {
    /// A window with dilation 1.
    pub fn new(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Self {
        Pool2d {
            kernel,
            stride,
            padding,
            dilation: [1, 1],
        }
    }

    fn output(&self, input: [usize; 2]) -> Result<[usize; 2], KernelError> {
        let mut out = [0; 2];
        for d in 0..2 {
            let (k, s, p, dl) = (
                self.kernel[d],
                self.stride[d],
                self.padding[d],
                self.dilation[d],
            );
            if k == 0 || s == 0 || dl == 0 {
                return Err(KernelError::BadParam {
                    arg: "pool",
                    reason: "kernel, stride and dilation must be >= 1".into(),
                });
            }
            if p > k / 2 {
                return Err(KernelError::BadParam {
                    arg: "padding",
                    reason: format!("{p} is more than half the kernel size {k}"),
                });
            }
            let span = dl * (k - 1) + 1;
            out[d] = (input[d] + 2 * p)
                .checked_sub(span)
                .map(|v| v / s + 1)
                .filter(|&v| v > 0)
                .ok_or_else(|| KernelError::BadShape {
                    arg: "x",
                    reason: format!("input {input:?} is smaller than the pooling window"),
                })?;
        }
        Ok(out)
    }
}

/// `(N, C, H, W)` of a 4-d view.
fn dims4(x: &QView) -> Result<[usize; 4], KernelError> {
    x.validate("x")?;
    <[usize; 4]>::try_from(x.shape).map_err(|_| KernelError::BadShape {
        arg: "x",
        reason: format!("expected (N, C, H, W), got {:?}", x.shape),
    })
}

/// The NHWC result as a view's layout wants it.
fn finish(x: &QView, nhwc: Vec<u8>, [n, c, oh, ow]: [usize; 4]) -> QBuf {
    let data = match x.layout {
        Layout::Nchw => layout::to_nchw(&nhwc, n, c, oh * ow),
        Layout::Nhwc => nhwc,
    };
    QBuf {
        data,
        shape: vec![n, c, oh, ow],
        quant: x.quant,
        layout: x.layout,
    }
}

impl Kernels {
    /// `quantized::max_pool2d` (no ceil mode) as QNNPACK computes it: window positions outside
    /// the input are clamped to the nearest edge pixel (the same as ignoring them unless
    /// dilation skips the edge).
    pub fn max_pool2d(&self, x: &QView, pool: &Pool2d) -> Result<QBuf, KernelError> {
        let [n, c, h, w] = dims4(x)?;
        let [oh, ow] = pool.output([h, w])?;
        let input = layout::nhwc_with_extra(
            self.path(),
            x.data,
            x.layout == Layout::Nchw,
            n,
            c,
            h * w,
            0,
            0,
        );
        let [kh, kw] = pool.kernel;
        let mut out = vec![0u8; n * oh * ow * c];
        let mut offsets = vec![0usize; kh * kw];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for (s, o) in offsets.iter_mut().enumerate() {
                        let (ky, kx) = (s / kw, s % kw);
                        let iy = (oy * pool.stride[0] + ky * pool.dilation[0])
                            .saturating_sub(pool.padding[0])
                            .min(h - 1);
                        let ix = (ox * pool.stride[1] + kx * pool.dilation[1])
                            .saturating_sub(pool.padding[1])
                            .min(w - 1);
                        *o = ((b * h + iy) * w + ix) * c;
                    }
                    let dst = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                    match self.path() {
                        #[cfg(target_arch = "aarch64")]
                        crate::Path::Neon | crate::Path::NeonDot => {
                            crate::neon::pool::max(&input, &offsets, dst)
                        }
                        _ => crate::portable::pool::max(&input, &offsets, dst),
                    }
                }
            }
        }
        Ok(finish(x, out, [n, c, oh, ow]))
    }

    /// `quantized::avg_pool2d` (no ceil mode) as QNNPACK computes it: padding counts as the
    /// zero point and the divisor is always the window size (QNNPACK ignores
    /// `count_include_pad=False` and `divisor_override`, and so does PyTorch on this engine).
    ///
    /// Errors on a 1x1 window (QNNPACK rejects it) or a window of 2^24 elements or more.
    pub fn avg_pool2d(&self, x: &QView, pool: &Pool2d) -> Result<QBuf, KernelError> {
        let [n, c, h, w] = dims4(x)?;
        if pool.dilation != [1, 1] {
            return Err(KernelError::BadParam {
                arg: "dilation",
                reason: "average pooling has no dilation".into(),
            });
        }
        let [oh, ow] = pool.output([h, w])?;
        let [kh, kw] = pool.kernel;
        let size = kh * kw;
        if size == 1 || size >= 1 << 24 {
            return Err(KernelError::Unsupported {
                op: "avg_pool2d",
                reason: format!("QNNPACK needs 2 <= window elements < 2^24, got {size}"),
            });
        }
        let zp = x.quant.zero_point;
        let input = layout::nhwc_with_extra(
            self.path(),
            x.data,
            x.layout == Layout::Nchw,
            n,
            c,
            h * w,
            c,
            zp,
        );
        let zero_row = n * h * w * c;
        // pytorch_qnnp_compute_avgpool_quantization_params: input_scale / (output_scale * size).
        let (in_s, out_s) = (x.quant.scale_f32(), x.quant.scale_f32());
        let scale = in_s / (out_s * size as f32);
        let mut out = vec![0u8; n * oh * ow * c];
        let mut offsets = vec![0usize; size];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for (k, o) in offsets.iter_mut().enumerate() {
                        let iy = (oy * pool.stride[0] + k / kw)
                            .checked_sub(pool.padding[0])
                            .filter(|&v| v < h);
                        let ix = (ox * pool.stride[1] + k % kw)
                            .checked_sub(pool.padding[1])
                            .filter(|&v| v < w);
                        *o = match (iy, ix) {
                            (Some(iy), Some(ix)) => ((b * h + iy) * w + ix) * c,
                            _ => zero_row,
                        };
                    }
                    let dst = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                    self.average(&input, &offsets, zp, scale, dst);
                }
            }
        }
        Ok(finish(x, out, [n, c, oh, ow]))
    }

    /// Averages `offsets.len()` rows of `dst.len()` channels with QNNPACK's requantization.
    fn average(&self, input: &[u8], offsets: &[usize], zp: u8, scale: f32, dst: &mut [u8]) {
        let bias = -(i32::from(zp) * offsets.len() as i32);
        match self.path() {
            #[cfg(target_arch = "aarch64")]
            crate::Path::Neon | crate::Path::NeonDot => {
                crate::neon::pool::avg(input, offsets, bias, scale, zp, dst)
            }
            _ => crate::portable::pool::avg(input, offsets, bias, scale, zp, dst),
        }
    }

    /// `adaptive_avg_pool2d` to `output = (oh, ow)`: QNNPACK average pooling when the input
    /// size is a multiple of the output size (and differs from it), else ATen's generic kernel
    /// (its NCHW or NHWC variant, following the input layout).
    pub fn adaptive_avg_pool2d(&self, x: &QView, output: [usize; 2]) -> Result<QBuf, KernelError> {
        let [n, c, h, w] = dims4(x)?;
        let [oh, ow] = output;
        if oh == 0 || ow == 0 || h == 0 || w == 0 {
            return Err(KernelError::BadShape {
                arg: "output_size",
                reason: format!("empty pooling {h}x{w} -> {oh}x{ow}"),
            });
        }
        if (h, w) != (oh, ow) && h % oh == 0 && w % ow == 0 {
            let k = [h / oh, w / ow];
            return self.avg_pool2d(x, &Pool2d::new(k, k, [0, 0]));
        }
        let start =
            |o: usize, out: usize, inp: usize| ((o * inp) as f32 / out as f32).floor() as usize;
        let end = |o: usize, out: usize, inp: usize| {
            (((o + 1) * inp) as f32 / out as f32).ceil() as usize
        };
        let zp = i64::from(x.quant.zero_point);
        let at = |b: usize, ch: usize, y: usize, xx: usize| -> i64 {
            i64::from(match x.layout {
                Layout::Nchw => x.data[((b * c + ch) * h + y) * w + xx],
                Layout::Nhwc => x.data[((b * h + y) * w + xx) * c + ch],
            })
        };
        let mut out = vec![0u8; n * c * oh * ow];
        for b in 0..n {
            for oy in 0..oh {
                let (y0, y1) = (start(oy, oh, h), end(oy, oh, h));
                for ox in 0..ow {
                    let (x0, x1) = (start(ox, ow, w), end(ox, ow, w));
                    let (kh, kw) = (y1 - y0, x1 - x0);
                    for ch in 0..c {
                        let sum: i64 = (y0..y1)
                            .flat_map(|y| (x0..x1).map(move |xx| (y, xx)))
                            .map(|(y, xx)| at(b, ch, y, xx))
                            .sum();
                        let v = match x.layout {
                            // adaptive_avg_pool_single_out_frame: sum * ((1/kD)/kH)/kW in f32.
                            Layout::Nchw => {
                                let r = (1.0f64 as f32 / kh as f32) / kw as f32;
                                (sum as f32 * r).round_ties_even().clamp(0.0, 255.0) as u8
                            }
                            // _qadaptive_avg_pool_kernel: quantize_val(1 / multiplier, zp, sum - zp * size).
                            Layout::Nhwc => {
                                let size = (kh * kw) as i64;
                                // Input and output share parameters.
                                let (in_s, out_s) = (x.quant.scale_f32(), x.quant.scale_f32());
                                let multiplier = in_s / out_s / size as f32;
                                let inv = 1.0f32 / (1.0f32 / multiplier);
                                let acc = (sum - zp * size) as i32;
                                ((acc as f32 * inv).round_ties_even() as i64 + zp).clamp(0, 255)
                                    as u8
                            }
                        };
                        let idx = match x.layout {
                            Layout::Nchw => ((b * c + ch) * oh + oy) * ow + ox,
                            Layout::Nhwc => ((b * oh + oy) * ow + ox) * c + ch,
                        };
                        out[idx] = v;
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
