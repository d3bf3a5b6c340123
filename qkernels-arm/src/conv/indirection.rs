//! Indirection buffers (QNNPACK's `indirection.c`): for every output pixel and kernel position,
//! the offset of the input pixel's channels in an NHWC buffer, or of a row of zero points where
//! the position falls into padding. No im2col copy is made.

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

    fn pixel_offset(&self, b: usize, pos: [usize; 3]) -> usize {
        let [_, h, w] = self.input;
        (((b * self.input[0] + pos[0]) * h + pos[1]) * w + pos[2]) * self.channels
    }

    /// Kernel position `s` (row-major over `kernel`) as `(kd, kh, kw)`.
    fn kernel_pos(&self, s: usize) -> [usize; 3] {
        let [_, kh, kw] = self.kernel;
        [s / (kh * kw), (s / kw) % kh, s % kw]
    }

    /// Output pixel `p` (within one image) as `(od, oh, ow)`.
    fn output_pos(&self, p: usize) -> [usize; 3] {
        let [_, oh, ow] = self.output;
        [p / (oh * ow), (p / ow) % oh, p % ow]
    }

    /// Indirection for a convolution: input position `o * stride - padding + k * dilation`.
    pub fn conv(&self) -> Vec<usize> {
        self.build(|o, k, d| {
            let i = (o * self.stride[d] + k * self.dilation[d]).checked_sub(self.padding[d])?;
            (i < self.input[d]).then_some(i)
        })
    }

    /// Indirection for a transposed convolution: input position `i` with
    /// `i * stride = o + padding - k * dilation`.
    pub fn deconv(&self) -> Vec<usize> {
        self.build(|o, k, d| {
            let y = (o + self.padding[d]).checked_sub(k * self.dilation[d])?;
            let i = y / self.stride[d];
            (i * self.stride[d] == y && i < self.input[d]).then_some(i)
        })
    }

    fn build(&self, source: impl Fn(usize, usize, usize) -> Option<usize>) -> Vec<usize> {
        let ks = self.ks();
        let per_image: usize = self.output.iter().product();
        let zero = self.zero_offset();
        let mut ind = Vec::with_capacity(self.output_pixels() * ks);
        for b in 0..self.batch {
            for p in 0..per_image {
                let o = self.output_pos(p);
                for s in 0..ks {
                    let k = self.kernel_pos(s);
                    let pos = (|| {
                        Some([
                            source(o[0], k[0], 0)?,
                            source(o[1], k[1], 1)?,
                            source(o[2], k[2], 2)?,
                        ])
                    })();
                    ind.push(pos.map_or(zero, |pos| self.pixel_offset(b, pos)));
                }
            }
        }
        ind
    }
}
