//! `quantized::conv{1,2,3}d`, `conv*_relu` and `conv_transpose{1,2}d` with QNNPACK's numerics:
//! an indirection buffer over an NHWC copy of the input, the 8x8 GEMM micro-kernel per group,
//! and the depthwise kernel when every group has one input and one output channel.

mod indirection;
pub(crate) mod layout;

use crate::dwconv::{self, PackedDw};
use crate::gemm::{run_quantized, PackedGemm, Rows};
use crate::linear::check_len;
use crate::scratch::Scratch;
use crate::{KernelError, Kernels, Layout, OutputSpec, QBuf, QView, U8Quant, WeightQuant};
use indirection::Geometry;

/// Bytes after the zero-point row of the NHWC input, so that kernels reading whole 4-byte
/// groups (or 16-byte vectors) past a pixel's last channel stay inside the buffer.
const INPUT_SLACK: usize = 64;

/// Convolution hyper-parameters, one entry per spatial dimension (1 to 3 of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvParams {
    /// Stride per spatial dimension (>= 1).
    pub stride: Vec<usize>,
    /// Zero padding per spatial dimension (both sides).
    pub padding: Vec<usize>,
    /// Dilation per spatial dimension (>= 1).
    pub dilation: Vec<usize>,
    /// Channel groups (>= 1).
    pub groups: usize,
    /// `Some(output_padding)` for a transposed convolution.
    pub transposed: Option<Vec<usize>>,
}

impl ConvParams {
    /// A plain convolution.
    pub fn new(stride: &[usize], padding: &[usize], dilation: &[usize], groups: usize) -> Self {
        ConvParams {
            stride: stride.to_vec(),
            padding: padding.to_vec(),
            dilation: dilation.to_vec(),
            groups,
            transposed: None,
        }
    }

    /// A transposed convolution with `output_padding`.
    pub fn transposed(
        stride: &[usize],
        padding: &[usize],
        output_padding: &[usize],
        dilation: &[usize],
        groups: usize,
    ) -> Self {
        ConvParams {
            transposed: Some(output_padding.to_vec()),
            ..ConvParams::new(stride, padding, dilation, groups)
        }
    }
}

/// A `qint8` convolution weight in PyTorch's layout: `(out, in / groups, k...)`, or
/// `(in, out / groups, k...)` for a transposed convolution.
#[derive(Debug, Clone, Copy)]
pub struct ConvWeights<'a> {
    /// The values, row-major.
    pub weight: &'a [i8],
    /// The weight's shape (2 + spatial dimensions).
    pub shape: &'a [usize],
    /// Per-tensor or per-output-channel quantization.
    pub quant: &'a WeightQuant,
    /// Optional float bias, one value per output channel.
    pub bias: Option<&'a [f32]>,
}

#[derive(Debug, Clone)]
enum Packed {
    Gemm(PackedGemm),
    Depthwise(PackedDw),
}

/// Convolution weights packed for one kernel path, with their hyper-parameters.
#[derive(Debug, Clone)]
pub struct PackedConv {
    packed: Packed,
    params: ConvParams,
    kernel: Vec<usize>,
    in_channels: usize,
    out_channels: usize,
    indirection: indirection::Cache,
}

impl PackedConv {
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Whether the depthwise kernel runs this convolution.
    pub fn is_depthwise(&self) -> bool {
        matches!(self.packed, Packed::Depthwise(_))
    }

    /// Folds the bias for inputs with parameters `input` (see [`crate::PackedLinear::prepare`]).
    pub fn prepare(&mut self, input: U8Quant) {
        match &mut self.packed {
            Packed::Gemm(g) => g.prepare(input),
            Packed::Depthwise(d) => d.prepare(input),
        }
    }
}

fn bad(arg: &'static str, reason: String) -> KernelError {
    KernelError::BadParam { arg, reason }
}

fn check_params(p: &ConvParams, spatial: usize) -> Result<(), KernelError> {
    for (arg, v) in [
        ("stride", &p.stride),
        ("padding", &p.padding),
        ("dilation", &p.dilation),
    ] {
        if v.len() != spatial {
            return Err(bad(
                arg,
                format!("{} values for {spatial} spatial dimensions", v.len()),
            ));
        }
    }
    if let Some(op) = &p.transposed {
        if op.len() != spatial {
            return Err(bad(
                "output_padding",
                format!("{} values for {spatial} dimensions", op.len()),
            ));
        }
        if op
            .iter()
            .zip(p.stride.iter().zip(&p.dilation))
            .any(|(&o, (&s, &d))| o >= s.max(d))
        {
            return Err(bad(
                "output_padding",
                "must be smaller than stride or dilation".into(),
            ));
        }
    }
    if p.stride.contains(&0) || p.dilation.contains(&0) || p.groups == 0 {
        return Err(bad("stride/dilation/groups", "must be >= 1".into()));
    }
    Ok(())
}

impl Kernels {
    /// Packs a convolution weight for these kernels (PyTorch's `conv*d_prepack`).
    ///
    /// Errors on a weight shape that does not fit the parameters, lengths that do not match,
    /// or invalid weight quantization.
    pub fn pack_conv(
        &self,
        w: &ConvWeights,
        params: &ConvParams,
    ) -> Result<PackedConv, KernelError> {
        let spatial = w.shape.len().wrapping_sub(2);
        if !(1..=3).contains(&spatial) {
            return Err(KernelError::BadShape {
                arg: "weight",
                reason: format!("expected 3 to 5 dimensions, got {:?}", w.shape),
            });
        }
        check_params(params, spatial)?;
        check_len("weight", w.weight.len(), w.shape.iter().product())?;
        if params.transposed.is_some() && spatial == 3 {
            return Err(KernelError::Unsupported {
                op: "conv_transpose3d",
                reason: "QNNPACK has no 3-d deconvolution".into(),
            });
        }
        let g = params.groups;
        let kernel = w.shape[2..].to_vec();
        let ks: usize = kernel.iter().product();
        if ks == 0 || w.shape[0] == 0 || w.shape[1] == 0 || !w.shape[0].is_multiple_of(g) {
            return Err(KernelError::BadShape {
                arg: "weight",
                reason: format!("shape {:?} does not fit {g} groups", w.shape),
            });
        }
        let (in_channels, out_channels, per_group_in, per_group_out) = match params.transposed {
            None => (w.shape[1] * g, w.shape[0], w.shape[1], w.shape[0] / g),
            Some(_) => (w.shape[0], w.shape[1] * g, w.shape[0] / g, w.shape[1]),
        };
        w.quant.validate(out_channels)?;
        if let Some(b) = w.bias {
            check_len("bias", b.len(), out_channels)?;
        }
        let weight = w.weight;
        let bias = w.bias.map(<[f32]>::to_vec);
        let packed =
            if params.transposed.is_none() && per_group_in == 1 && per_group_out == 1 && g > 1 {
                Packed::Depthwise(PackedDw::pack(
                    self.path(),
                    out_channels,
                    ks,
                    w.quant.clone(),
                    bias,
                    |c, s| weight[c * ks + s],
                ))
            } else if params.transposed.is_none() {
                Packed::Gemm(PackedGemm::pack(
                    self.path(),
                    g,
                    per_group_out,
                    ks,
                    per_group_in,
                    w.quant.clone(),
                    bias,
                    |oc, s, c| weight[(oc * per_group_in + c) * ks + s],
                ))
            } else {
                Packed::Gemm(PackedGemm::pack(
                    self.path(),
                    g,
                    per_group_out,
                    ks,
                    per_group_in,
                    w.quant.clone(),
                    bias,
                    |oc, s, c| {
                        let (grp, j) = (oc / per_group_out, oc % per_group_out);
                        weight[((grp * per_group_in + c) * per_group_out + j) * ks + s]
                    },
                ))
            };
        Ok(PackedConv {
            packed,
            params: params.clone(),
            kernel,
            in_channels,
            out_channels,
            indirection: indirection::Cache::default(),
        })
    }

    /// `quantized::conv{1,2,3}d` (and `_relu` with `output.relu`) or `conv_transpose`, as the
    /// qnnpack engine runs it. `x` is `(N, C, spatial...)`; the result has `x`'s layout.
    ///
    /// Errors on shape mismatches, an empty output, bad scales or weights packed for another
    /// path.
    pub fn conv(&self, w: &PackedConv, x: &QView, output: OutputSpec) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        output.quant.validate("output scale")?;
        let spatial = w.kernel.len();
        if x.shape.len() != spatial + 2 || x.shape[1] != w.in_channels {
            return Err(KernelError::BadShape {
                arg: "x",
                reason: format!(
                    "expected (N, {}, {spatial} spatial dims), got {:?}",
                    w.in_channels, x.shape
                ),
            });
        }
        if output.relu && w.params.transposed.is_some() {
            return Err(KernelError::Unsupported {
                op: "conv_transpose",
                reason: "ConvTranspose cannot be fused with ReLU".into(),
            });
        }
        let geo = geometry(w, x.shape)?;
        let (n, c) = (x.shape[0], x.shape[1]);
        let mut shape = vec![n, w.out_channels];
        shape.extend(geo.output[3 - spatial..].iter());
        #[cfg(target_arch = "x86_64")]
        if let (Packed::Depthwise(d), Layout::Nchw, 1 | 2) = (&w.packed, x.layout, spatial) {
            let two = |v: [usize; 3]| [v[1], v[2]];
            let dims = [
                two(geo.input),
                two(geo.output),
                two(geo.kernel),
                two(geo.stride),
                two(geo.padding),
                two(geo.dilation),
            ];
            if let Some(data) = dwconv::run_planes(*self, d, x.data, n, dims, x.quant, output)? {
                return Ok(QBuf {
                    data,
                    shape,
                    quant: output.quant,
                    layout: x.layout,
                });
            }
        }
        let in_pixels: usize = x.shape[2..].iter().product();
        let mut input = Scratch::take();
        layout::nhwc_into(
            self.path(),
            x.data,
            x.layout == Layout::Nchw,
            (n, c, in_pixels),
            c + INPUT_SLACK,
            x.quant.zero_point,
            &mut input,
        );
        let ind = w.indirection.get(&geo, w.params.transposed.is_some());
        let pixels = geo.output_pixels();
        // An NCHW result is computed in a reused buffer and copied out; an NHWC one directly.
        let mut nhwc_scratch = Scratch::take();
        let mut nhwc_owned = Vec::new();
        let out: &mut Vec<u8> = if x.layout == Layout::Nchw {
            &mut nhwc_scratch
        } else {
            &mut nhwc_owned
        };
        out.resize(pixels * w.out_channels, 0);
        match &w.packed {
            Packed::Gemm(g) => {
                let rows = Rows {
                    input: &input,
                    offsets: ind.view(),
                    rows: pixels,
                };
                run_quantized(*self, g, &rows, x.quant, output, out)?;
            }
            Packed::Depthwise(d) => {
                dwconv::run(*self, d, &input, &ind, pixels, x.quant, output, out)?;
            }
        }
        let per_image = pixels / n.max(1);
        let data = if x.layout == Layout::Nchw {
            layout::to_nchw_on(self.path(), out, n, w.out_channels, per_image)
        } else {
            nhwc_owned
        };
        Ok(QBuf {
            data,
            shape,
            quant: output.quant,
            layout: x.layout,
        })
    }
}

/// Input/output geometry normalised to three spatial dimensions.
fn geometry(w: &PackedConv, shape: &[usize]) -> Result<Geometry, KernelError> {
    let spatial = w.kernel.len();
    let pad3 = |v: &[usize], fill: usize| -> [usize; 3] {
        let mut a = [fill; 3];
        a[3 - spatial..].copy_from_slice(v);
        a
    };
    let p = &w.params;
    let input = pad3(&shape[2..], 1);
    let kernel = pad3(&w.kernel, 1);
    let stride = pad3(&p.stride, 1);
    let padding = pad3(&p.padding, 0);
    let dilation = pad3(&p.dilation, 1);
    let mut output = [1usize; 3];
    for d in 0..3 {
        let span = dilation[d] * (kernel[d] - 1) + 1;
        output[d] = match &p.transposed {
            None => (input[d] + 2 * padding[d])
                .checked_sub(span)
                .map_or(0, |v| v / stride[d] + 1),
            Some(op) => {
                let op = if d >= 3 - spatial {
                    op[d - (3 - spatial)]
                } else {
                    0
                };
                ((input[d] - 1) * stride[d] + span + op).saturating_sub(2 * padding[d])
            }
        };
    }
    if output.contains(&0) || input.contains(&0) {
        return Err(KernelError::BadShape {
            arg: "x",
            reason: format!(
                "input {:?} gives an empty output {:?}",
                &shape[2..],
                &output[3 - spatial..]
            ),
        });
    }
    Ok(Geometry {
        batch: shape[0],
        channels: shape[1],
        input,
        output,
        kernel,
        stride,
        padding,
        dilation,
    })
}
