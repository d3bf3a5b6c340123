//! Quantized convolution (conv1d/2d/3d, grouped, depthwise, transposed) with
//! NCHW semantics at the API.
//!
//! Internally the input is made channels-last. Depthwise convolutions
//! (groups == C == O) use direct depthwise kernels; everything else is
//! a GEMM per group whose activation rows are built on demand by im2col (a 1x1
//! stride-1 convolution reads the channels-last input directly). Transposed
//! convolutions gather: output `o` reads input `(o + p - k * d) / s` when that
//! divides exactly, so no zero-inserted copy is built. Weights are packed once
//! into a [`PackedConvWeight`] that holds the geometry. The output pipeline is
//! the same as linear's ([`crate::output`]).

pub(crate) mod depthwise;
mod im2col;
mod layout;
pub(crate) use layout::transpose_to_ptr;
mod params;

use crate::error::{KernelError, Result};
use crate::gemm::{self, check_isa, DenseA, PackedWeight};
use crate::isa::{active_isa, Isa};
use crate::output::{Activation, Epilogue, OutputPipeline};
use crate::quant::{QParams, WeightQuant};
use depthwise::{DepthwiseWeight, DwShape, PaddedInput, PlanarShape};
pub use params::ConvParams;
use params::Geometry;

#[derive(Debug, Clone, PartialEq)]
enum Packed {
    /// One packed GEMM weight `[Og, taps * Cg]` per group (tap-major, channel-minor `K`).
    Gemm(Vec<PackedWeight>),
    Depthwise(DepthwiseWeight),
}

/// A convolution weight packed once, with its geometry and quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedConvWeight {
    geo: Geometry,
    shape: Vec<usize>,
    params: ConvParams,
    quant: WeightQuant,
    packed: Packed,
}

/// A quantized (quint8) NC... tensor view: `[N, C, L]`, `[N, C, H, W]` or `[N, C, D, H, W]`.
#[derive(Debug, Clone, Copy)]
pub struct QuantizedTensorView<'a> {
    /// Values, row-major.
    pub data: &'a [u8],
    /// Shape.
    pub shape: &'a [usize],
    /// Scale and zero point.
    pub qparams: QParams,
}

/// A quantized (quint8) output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedOutput {
    /// Values, row-major NC... layout.
    pub data: Vec<u8>,
    /// Shape.
    pub shape: Vec<usize>,
    /// Scale and zero point.
    pub qparams: QParams,
}

impl PackedConvWeight {
    /// Packs an int8 convolution weight: `[O, C / groups, k...]`, or
    /// `[C, O / groups, k...]` for a transposed convolution (PyTorch layouts).
    /// Per-channel quantization is along the output channels (`O` entries).
    pub fn pack(
        weight: &[i8],
        shape: &[usize],
        quant: WeightQuant,
        params: ConvParams,
    ) -> Result<Self> {
        let geo = Geometry::new(shape, &params)?;
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or(KernelError::Overflow("weight size"))?;
        if weight.len() != numel {
            return Err(KernelError::LengthMismatch {
                what: "conv weight",
                expected: numel,
                got: weight.len(),
            });
        }
        quant.validate(geo.o)?;
        let taps = geo.taps();
        let packed = if geo.is_depthwise() {
            let zps: Vec<i32> = (0..geo.o).map(|j| quant.zero_point(j)).collect();
            Packed::Depthwise(DepthwiseWeight::pack(weight, geo.c, taps, &zps))
        } else {
            let (cg, og) = (geo.cg(), geo.og());
            let k = taps * cg;
            let mut groups = Vec::with_capacity(geo.groups);
            for g in 0..geo.groups {
                let mut b = vec![0i8; og * k];
                for oo in 0..og {
                    for c in 0..cg {
                        for t in 0..taps {
                            let src = if geo.transposed {
                                ((g * cg + c) * og + oo) * taps + t
                            } else {
                                ((g * og + oo) * cg + c) * taps + t
                            };
                            b[oo * k + t * cg + c] = weight[src];
                        }
                    }
                }
                groups.push(PackedWeight::pack(&b, og, k, group_quant(&quant, g, og))?);
            }
            Packed::Gemm(groups)
        };
        Ok(PackedConvWeight {
            geo,
            shape: shape.to_vec(),
            params,
            quant,
            packed,
        })
    }

    /// The weight shape given at packing.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The convolution parameters.
    pub fn params(&self) -> &ConvParams {
        &self.params
    }

    /// The weight quantization.
    pub fn quant(&self) -> &WeightQuant {
        &self.quant
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.geo.c
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.geo.o
    }

    /// Whether the depthwise kernel is used.
    pub fn is_depthwise(&self) -> bool {
        matches!(self.packed, Packed::Depthwise(_))
    }

    /// Recovers the original int8 weight (in the layout given at packing).
    pub fn unpack(&self) -> Vec<i8> {
        let geo = &self.geo;
        let taps = geo.taps();
        match &self.packed {
            Packed::Depthwise(dw) => {
                let zps: Vec<i32> = (0..geo.o).map(|j| self.quant.zero_point(j)).collect();
                dw.unpack(&zps)
            }
            Packed::Gemm(groups) => {
                let (cg, og) = (geo.cg(), geo.og());
                let k = taps * cg;
                let mut w = vec![0i8; self.shape.iter().product()];
                for (g, pw) in groups.iter().enumerate() {
                    let b = pw.unpack();
                    for oo in 0..og {
                        for c in 0..cg {
                            for t in 0..taps {
                                let dst = if geo.transposed {
                                    ((g * cg + c) * og + oo) * taps + t
                                } else {
                                    ((g * og + oo) * cg + c) * taps + t
                                };
                                w[dst] = b[oo * k + t * cg + c];
                            }
                        }
                    }
                }
                w
            }
        }
    }

    /// Output shape for an input of shape `input` (`[N, C, spatial...]`).
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let (n, sp) = self.check_input_shape(input)?;
        let out = self.geo.output_size(sp)?;
        let mut shape = vec![n, self.geo.o];
        shape.extend_from_slice(&out[3 - self.geo.spatial..]);
        Ok(shape)
    }

    fn check_input_shape(&self, input: &[usize]) -> Result<(usize, [usize; 3])> {
        if input.len() != self.geo.spatial + 2 {
            return Err(KernelError::Shape(format!(
                "conv{}d input must have {} dimensions, got {input:?}",
                self.geo.spatial,
                self.geo.spatial + 2
            )));
        }
        if input[1] != self.geo.c {
            return Err(KernelError::Shape(format!(
                "conv input has {} channels, weight expects {}",
                input[1], self.geo.c
            )));
        }
        let mut sp = [1; 3];
        sp[3 - self.geo.spatial..].copy_from_slice(&input[2..]);
        Ok((input[0], sp))
    }
}

/// The quantization of group `g` (output channels `g * og..(g + 1) * og`).
fn group_quant(q: &WeightQuant, g: usize, og: usize) -> WeightQuant {
    match q {
        WeightQuant::PerTensor { .. } => q.clone(),
        WeightQuant::PerChannel {
            scales,
            zero_points,
        } => WeightQuant::PerChannel {
            scales: scales[g * og..(g + 1) * og].to_vec(),
            zero_points: zero_points[g * og..(g + 1) * og].to_vec(),
        },
    }
}

/// PyTorch's `quantized::conv{1,2,3}d`, `conv{2}d_relu`, `conv_transpose{1,2,3}d`
/// (fbgemm): quint8 NC... input, float bias (one per output channel), output
/// quantized with `out`.
pub fn quantized_conv(
    x: QuantizedTensorView<'_>,
    w: &PackedConvWeight,
    bias: Option<&[f32]>,
    out: QParams,
    activation: Activation,
) -> Result<QuantizedOutput> {
    quantized_conv_with_isa(active_isa(), x, w, bias, out, activation)
}

/// [`quantized_conv`] on a given ISA.
pub fn quantized_conv_with_isa(
    isa: Isa,
    x: QuantizedTensorView<'_>,
    w: &PackedConvWeight,
    bias: Option<&[f32]>,
    out: QParams,
    activation: Activation,
) -> Result<QuantizedOutput> {
    check_isa(isa)?;
    x.qparams.validate_u8("input")?;
    let out_shape = w.output_shape(x.shape)?;
    let numel = x
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or(KernelError::Overflow("input size"))?;
    if x.data.len() != numel {
        return Err(KernelError::LengthMismatch {
            what: "conv input",
            expected: numel,
            got: x.data.len(),
        });
    }
    let out_numel = out_shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or(KernelError::Overflow("output size"))?;
    let pipeline =
        OutputPipeline::requantize(x.qparams.scale, &w.quant, bias, out, activation, w.geo.o)?;
    let (n, sp) = w.check_input_shape(x.shape)?;
    let geo = &w.geo;
    let osp = geo.output_size(sp)?;
    let pixels = n * osp.iter().product::<usize>();
    let a_zp = x.qparams.zero_point as u8;
    let spatial_out: usize = osp.iter().product();
    let mut data = layout::take_buffer(out_numel);
    if out_numel == 0 {
        return Ok(QuantizedOutput {
            data,
            shape: out_shape,
            qparams: out,
        });
    }
    match &w.packed {
        Packed::Depthwise(dw) if geo.stride[2] <= 2 => {
            let shape = PlanarShape {
                batch: n,
                input: sp,
                out: osp,
                kernel: geo.kernel,
                stride: geo.stride,
                padding: geo.padding,
                dilation: geo.dilation,
                a_zp,
            };
            let ep = Epilogue::requant(a_zp as i32, &dw.col_offsets, vec![0; geo.c], &pipeline);
            depthwise::run_planar(isa, x.data, dw, &shape, &ep, &mut data);
        }
        Packed::Depthwise(dw) => {
            let (xp, dims) = padded_channels_last(x.data, n, geo.c, sp, geo.padding, dw.cp, a_zp);
            let shape = DwShape {
                batch: n,
                out: osp,
                kernel: geo.kernel,
                stride: geo.stride,
                dilation: geo.dilation,
            };
            let ep = Epilogue::requant(a_zp as i32, &dw.col_offsets, vec![0; geo.c], &pipeline);
            let padded = PaddedInput {
                data: &xp,
                dims,
                cp: dw.cp,
            };
            let mut cl_out = layout::take_buffer(out_numel);
            depthwise::run(isa, &padded, dw, &shape, &ep, &mut cl_out);
            layout::channels_first(&cl_out, n, geo.o, spatial_out, &mut data);
            layout::give_buffer(cl_out);
        }
        Packed::Gemm(groups) => {
            // Channels-last input; padded up front (with the zero point) unless transposed, so
            // that im2col rows are plain copies.
            let pad = if geo.transposed { [0; 3] } else { geo.padding };
            let isp = [0, 1, 2].map(|i| sp[i] + 2 * pad[i]);
            let mut xc = layout::take_buffer(n * geo.c * isp.iter().product::<usize>());
            if pad == [0; 3] {
                layout::channels_last(x.data, n, geo.c, sp.iter().product(), &mut xc);
            } else {
                layout::channels_last_padded(x.data, (n, geo.c), sp, pad, a_zp, &mut xc);
            }
            let igeo = Geometry {
                padding: if geo.transposed { geo.padding } else { [0; 3] },
                ..geo.clone()
            };
            let og = geo.og();
            let direct = geo.groups == 1
                && !geo.transposed
                && geo.taps() == 1
                && geo.stride == [1; 3]
                && geo.padding == [0; 3];
            for (g, pw) in groups.iter().enumerate() {
                let sub = sub_pipeline(&pipeline, g * og, og);
                let ep = Epilogue::requant(a_zp as i32, pw.col_offsets(), pw.zero_points(), &sub);
                let (o, s) = (geo.o, spatial_out);
                if direct {
                    let src = DenseA {
                        data: &xc,
                        rows: pixels,
                        k: geo.c,
                    };
                    gemm::gemm_planar(isa, &src, pw, &ep, &mut data, g * og, o, s);
                } else {
                    let src = im2col::Im2Col {
                        geo: &igeo,
                        x: &xc,
                        batch: n,
                        input: isp,
                        output: osp,
                        group: g,
                        a_zp,
                    };
                    gemm::gemm_planar(isa, &src, pw, &ep, &mut data, g * og, o, s);
                }
            }
            layout::give_buffer(xc);
        }
    }
    Ok(QuantizedOutput {
        data,
        shape: out_shape,
        qparams: out,
    })
}

/// The pipeline of output channels `c0..c0 + len`.
fn sub_pipeline(p: &OutputPipeline, c0: usize, len: usize) -> OutputPipeline {
    use crate::output::{BiasScaling, Granular, PipelineBias};
    let multiplier = match &p.multiplier {
        Granular::PerTensor(v) => Granular::PerTensor(*v),
        Granular::PerChannel(v) => Granular::PerChannel(v[c0..c0 + len].to_vec()),
    };
    let bias = p.bias.as_ref().map(|b| PipelineBias {
        values: b.values[c0..c0 + len].to_vec(),
        scaling: match &b.scaling {
            BiasScaling::Reciprocal(r) => BiasScaling::Reciprocal(*r),
            BiasScaling::Divide(d) => BiasScaling::Divide(d[c0..c0 + len].to_vec()),
        },
    });
    OutputPipeline {
        multiplier,
        bias,
        ..p.clone()
    }
}

/// `[N, C, D, H, W]` -> `[N, D + 2pd, H + 2ph, W + 2pw, cp]`, borders and extra channels = `fill`.
fn padded_channels_last(
    x: &[u8],
    n: usize,
    c: usize,
    sp: [usize; 3],
    pad: [usize; 3],
    cp: usize,
    fill: u8,
) -> (Vec<u8>, [usize; 3]) {
    let dims = [sp[0] + 2 * pad[0], sp[1] + 2 * pad[1], sp[2] + 2 * pad[2]];
    let mut out = vec![fill; n * dims.iter().product::<usize>() * cp];
    let s: usize = sp.iter().product();
    for b in 0..n {
        for ch in 0..c {
            let src = &x[(b * c + ch) * s..(b * c + ch + 1) * s];
            for z in 0..sp[0] {
                for y in 0..sp[1] {
                    let row = &src[(z * sp[1] + y) * sp[2]..(z * sp[1] + y + 1) * sp[2]];
                    let base =
                        ((b * dims[0] + z + pad[0]) * dims[1] + y + pad[1]) * dims[2] + pad[2];
                    for (xx, &v) in row.iter().enumerate() {
                        out[(base + xx) * cp + ch] = v;
                    }
                }
            }
        }
    }
    (out, dims)
}
