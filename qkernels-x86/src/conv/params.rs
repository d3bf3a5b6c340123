//! Convolution geometry: parameters, validation and output shapes.

use crate::error::{KernelError, Result};

/// Convolution hyper-parameters, one entry per spatial dimension (1, 2 or 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvParams {
    /// Stride per spatial dimension.
    pub stride: Vec<usize>,
    /// Zero padding (filled with the input zero point) per spatial dimension.
    pub padding: Vec<usize>,
    /// Dilation per spatial dimension.
    pub dilation: Vec<usize>,
    /// Number of groups (divides input and output channels).
    pub groups: usize,
    /// Transposed convolution (`conv_transpose`): weight layout `(in, out / groups, k...)`.
    pub transposed: bool,
    /// Extra size on one side of each output dimension (transposed only; empty = zeros).
    pub output_padding: Vec<usize>,
}

impl ConvParams {
    /// Stride 1, no padding, dilation 1, one group, for `spatial` dimensions.
    pub fn new(spatial: usize) -> Self {
        ConvParams {
            stride: vec![1; spatial],
            padding: vec![0; spatial],
            dilation: vec![1; spatial],
            groups: 1,
            transposed: false,
            output_padding: Vec::new(),
        }
    }
}

/// Geometry normalised to 3 spatial dimensions `(D, H, W)` (leading 1s for 1d/2d).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub spatial: usize,
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
    pub output_padding: [usize; 3],
    pub groups: usize,
    pub transposed: bool,
    /// Input channels.
    pub c: usize,
    /// Output channels.
    pub o: usize,
}

fn pad3(v: &[usize], fill: usize) -> [usize; 3] {
    let mut out = [fill; 3];
    let off = 3 - v.len();
    out[off..].copy_from_slice(v);
    out
}

impl Geometry {
    /// Validates `params` against a weight of shape `shape`.
    pub fn new(shape: &[usize], params: &ConvParams) -> Result<Self> {
        if !(3..=5).contains(&shape.len()) {
            return Err(KernelError::Shape(format!(
                "conv weight must have 3 to 5 dimensions, got {shape:?}"
            )));
        }
        let spatial = shape.len() - 2;
        let check = |v: &[usize], what: &str, allow_empty: bool| {
            if v.len() == spatial || (allow_empty && v.is_empty()) {
                Ok(())
            } else {
                Err(KernelError::ConvParam(format!(
                    "{what} has {} entries for {spatial} spatial dimensions",
                    v.len()
                )))
            }
        };
        check(&params.stride, "stride", false)?;
        check(&params.padding, "padding", false)?;
        check(&params.dilation, "dilation", false)?;
        check(&params.output_padding, "output_padding", true)?;
        if params.stride.contains(&0) || params.dilation.contains(&0) {
            return Err(KernelError::ConvParam(
                "stride and dilation must be >= 1".into(),
            ));
        }
        if shape[2..].contains(&0) {
            return Err(KernelError::Shape(format!(
                "conv kernel size is zero: {shape:?}"
            )));
        }
        let g = params.groups;
        if g == 0 {
            return Err(KernelError::Groups {
                groups: 0,
                what: "channels",
                channels: 0,
            });
        }
        let (c, o) = if params.transposed {
            (
                shape[0],
                shape[1]
                    .checked_mul(g)
                    .ok_or(KernelError::Overflow("channels"))?,
            )
        } else {
            (
                shape[1]
                    .checked_mul(g)
                    .ok_or(KernelError::Overflow("channels"))?,
                shape[0],
            )
        };
        let (outer, what) = if params.transposed {
            (c, "input channels")
        } else {
            (o, "output channels")
        };
        if outer % g != 0 || outer == 0 {
            return Err(KernelError::Groups {
                groups: g,
                what,
                channels: outer,
            });
        }
        let output_padding = if params.output_padding.is_empty() {
            [0; 3]
        } else {
            pad3(&params.output_padding, 0)
        };
        let geo = Geometry {
            spatial,
            kernel: pad3(&shape[2..], 1),
            stride: pad3(&params.stride, 1),
            padding: pad3(&params.padding, 0),
            dilation: pad3(&params.dilation, 1),
            output_padding,
            groups: g,
            transposed: params.transposed,
            c,
            o,
        };
        for i in 0..3 {
            let op = geo.output_padding[i];
            if op > 0 && (!geo.transposed || (op >= geo.stride[i] && op >= geo.dilation[i])) {
                return Err(KernelError::ConvParam(
                    "output_padding must be smaller than stride or dilation (transposed only)"
                        .into(),
                ));
            }
        }
        Ok(geo)
    }

    /// Kernel taps `kd * kh * kw`.
    pub fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }

    /// Output channels per group.
    pub fn og(&self) -> usize {
        self.o / self.groups
    }

    /// Whether the depthwise kernel applies (groups == C == O, not transposed).
    pub fn is_depthwise(&self) -> bool {
        !self.transposed && self.groups == self.c && self.o == self.c && self.groups > 1
    }

    /// Output spatial sizes for input sizes `input` (normalised to 3 dims).
    pub fn output_size(&self, input: [usize; 3]) -> Result<[usize; 3]> {
        let mut out = [0; 3];
        for i in 0..3 {
            let (x, k, s, p, d) = (
                input[i] as i128,
                self.kernel[i] as i128,
                self.stride[i] as i128,
                self.padding[i] as i128,
                self.dilation[i] as i128,
            );
            let o = if self.transposed {
                (x - 1) * s - 2 * p + d * (k - 1) + self.output_padding[i] as i128 + 1
            } else {
                let span = x + 2 * p - d * (k - 1) - 1;
                if span < 0 {
                    -1
                } else {
                    span / s + 1
                }
            };
            if o <= 0 || x <= 0 {
                return Err(KernelError::EmptyOutput(format!(
                    "spatial dim {i}: input {x}, kernel {k}, stride {s}, padding {p}, dilation {d} give output {o}"
                )));
            }
            out[i] = usize::try_from(o).map_err(|_| KernelError::Overflow("output size"))?;
        }
        Ok(out)
    }

    /// Input coordinate read by output coordinate `o` at kernel tap `k` in dim `i`.
    #[inline]
    pub fn input_coord(&self, i: usize, o: usize, k: usize, input: usize) -> Option<usize> {
        let (s, p, d) = (
            self.stride[i] as isize,
            self.padding[i] as isize,
            self.dilation[i] as isize,
        );
        let (o, k) = (o as isize, k as isize);
        if self.transposed {
            let t = o + p - k * d;
            if t < 0 || t % s != 0 {
                return None;
            }
            let x = (t / s) as usize;
            (x < input).then_some(x)
        } else {
            let x = o * s + k * d - p;
            (x >= 0 && (x as usize) < input).then_some(x as usize)
        }
    }
}
