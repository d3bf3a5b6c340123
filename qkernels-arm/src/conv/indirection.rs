//! Indirection buffers (QNNPACK's `indirection.c`): for every output pixel and kernel position,
//! the offset of the input pixel's channels in an NHWC buffer, or of a row of zero points where
//! the position falls into padding. No im2col copy is made.

use std::sync::Arc;

use crate::gemm::Offsets;
use crate::memo::Memo;

/// Convolution geometry with the spatial dimensions normalised to `(D, H, W)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub input: [usize; 3],
    pub output: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
}

impl Geometry {
    /// Kernel positions.
    pub fn ks(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Output pixels over the batch.
    pub fn output_pixels(&self) -> usize {
        self.batch * self.output.iter().product::<usize>()
    }

    /// Offset of the zero-point row: right after the `batch * D * H * W * C` input bytes.
    pub fn zero_offset(&self) -> usize {
        self.batch * self.input.iter().product::<usize>() * self.channels
    }

    /// Indirection for a convolution: input position `o * stride - padding + k * dilation`.
    pub fn conv(&self) -> Offsets {
        self.build(|o, k, d| {
            let i = (o * self.stride[d] + k * self.dilation[d]).checked_sub(self.padding[d])?;
            (i < self.input[d]).then_some(i)
        })
    }

    /// Indirection for a transposed convolution: input position `i` with
    /// `i * stride = o + padding - k * dilation`.
    pub fn deconv(&self) -> Offsets {
        self.build(|o, k, d| {
            let y = (o + self.padding[d]).checked_sub(k * self.dilation[d])?;
            let i = y / self.stride[d];
            (i * self.stride[d] == y && i < self.input[d]).then_some(i)
        })
    }

    /// Offsets for every output pixel and kernel position; `source(o, k, d)` is the input
    /// position that output position `o` reads at kernel position `k` along dimension `d`.
    fn build(&self, source: impl Fn(usize, usize, usize) -> Option<usize>) -> Offsets {
        // One small table per dimension, `[o][k]`, so the loop below only combines them.
        let tables: [Vec<Option<usize>>; 3] = std::array::from_fn(|d| {
            (0..self.output[d])
                .flat_map(|o| (0..self.kernel[d]).map(move |k| (o, k)))
                .map(|(o, k)| source(o, k, d))
                .collect()
        });
        let [kd, kh, kw] = self.kernel;
        let [id, ih, iw] = self.input;
        let c = self.channels;
        let zero = self.zero_offset();
        let mut ind = Vec::with_capacity(self.output_pixels() * self.ks());
        for b in 0..self.batch {
            for od in 0..self.output[0] {
                for oh in 0..self.output[1] {
                    for ow in 0..self.output[2] {
                        for sd in &tables[0][od * kd..][..kd] {
                            for sh in &tables[1][oh * kh..][..kh] {
                                for sw in &tables[2][ow * kw..][..kw] {
                                    ind.push(match (sd, sh, sw) {
                                        (Some(d), Some(h), Some(w)) => {
                                            (((b * id + d) * ih + h) * iw + w) * c
                                        }
                                        _ => zero,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        Offsets::new(ind)
    }
}

/// The indirection buffer a packed convolution built last, reused while calls repeat the
/// geometry (as QNNPACK keeps its operator's buffer between runs of the same shape).
#[derive(Debug, Default, Clone)]
pub(crate) struct Cache(Memo<Geometry, Offsets>);

impl Cache {
    /// The offsets for `geo` (a convolution, or a transposed one if `transposed`).
    pub fn get(&self, geo: &Geometry, transposed: bool) -> Arc<Offsets> {
        let built: Result<_, std::convert::Infallible> = self.0.get_or_try(geo, || {
            Ok(if transposed { geo.deconv() } else { geo.conv() })
        });
        match built {
            Ok(v) => v,
        }
    }
}
