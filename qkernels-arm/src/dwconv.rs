//! Depthwise convolution (QNNPACK's `q8dwconv`: one input and one output channel per group),
//! channels processed 8 at a time over an indirection buffer.

#[cfg(target_arch = "x86_64")]
use std::borrow::Cow;

use crate::gemm::Offsets;
use crate::requant::{quantize_bias, requant_scales};
use crate::{KernelError, Kernels, OutputSpec, Path, U8Quant, WeightQuant};

/// Channels per block.
pub(crate) const CR: usize = 8;

/// Depthwise weights packed as `[block][step][8]` shifted `u8`.
#[derive(Debug, Clone)]
pub(crate) struct PackedDw {
    pub channels: usize,
    pub ks: usize,
    pub weights: Vec<u8>,
    /// Shifted zero points, `[block * 8]` (padding channels 0).
    pub wzp: Vec<u8>,
    pub quant: WeightQuant,
    pub bias: Option<Vec<f32>>,
    pub prepared: Option<U8Quant>,
    pub init: Vec<i32>,
    /// For the avx2 path: `w - wz` as `i32`, `[block of 16][step][16]` (padding channels 0).
    pub diff16: Vec<i32>,
    /// For the avx512-vnni path: one-hot `qint8` weight vectors, `[block of 64][step][4][64]`.
    pub onehot: Vec<u8>,
}

impl PackedDw {
    /// Packs `get(c, s)` for `path`.
    pub fn pack(
        path: Path,
        channels: usize,
        ks: usize,
        quant: WeightQuant,
        bias: Option<Vec<f32>>,
        get: impl Fn(usize, usize) -> i8,
    ) -> PackedDw {
        let blocks = channels.div_ceil(CR);
        let mut weights = vec![0u8; blocks * ks * CR];
        let mut wzp = vec![0u8; blocks * CR];
        for (c, z) in wzp.iter_mut().enumerate().take(channels) {
            let (blk, n) = (c / CR, c % CR);
            *z = (i16::from(quant.channel(c).1) + 128) as u8;
            for s in 0..ks {
                weights[(blk * ks + s) * CR + n] = (i16::from(get(c, s)) + 128) as u8;
            }
        }
        let mut dw = PackedDw {
            diff16: Vec::new(),
            onehot: Vec::new(),
            channels,
            ks,
            weights,
            wzp,
            quant,
            bias,
            prepared: None,
            init: Vec::new(),
        };
        match path {
            Path::Avx2 => dw.diff16 = dw.compute_diff16(),
            Path::Avx512Vnni => dw.onehot = dw.compute_onehot(),
            _ => {}
        }
        dw
    }

    /// The raw `qint8` weight of channel `c` at step `s`.
    fn raw(&self, c: usize, s: usize) -> i8 {
        (i16::from(self.weights[((c / CR) * self.ks + s) * CR + c % CR]) - 128) as i8
    }

    /// The `qint8` zero point of channel `c`.
    #[cfg(target_arch = "x86_64")]
    fn raw_zp(&self, c: usize) -> i32 {
        i32::from(self.wzp[c]) - 128
    }

    /// One-hot weight vectors for the avx512-vnni kernel (see `x86::dwconv::DwWeights`).
    fn compute_onehot(&self) -> Vec<u8> {
        let ks = self.ks;
        let mut onehot = vec![0u8; self.channels.div_ceil(64) * ks * 256];
        for c in 0..self.channels {
            for s in 0..ks {
                onehot[(((c / 64) * ks + s) * 4 + c % 4) * 64 + c % 64] = self.raw(c, s) as u8;
            }
        }
        onehot
    }

    /// `w - wz` per `[block of 16][step][16]` (padding channels 0), the x86 kernels' weights.
    fn compute_diff16(&self) -> Vec<i32> {
        let ks = self.ks;
        let mut diff16 = vec![0i32; self.channels.div_ceil(16) * ks * 16];
        for c in 0..self.channels {
            let wz = i32::from(self.wzp[c]);
            for s in 0..ks {
                let w = i32::from(self.weights[((c / CR) * ks + s) * CR + c % CR]);
                diff16[((c / 16) * ks + s) * 16 + c % 16] = w - wz;
            }
        }
        diff16
    }

    /// Quantized bias per channel slot for inputs with parameters `input`.
    pub fn compute_init(&self, input: U8Quant) -> Vec<i32> {
        let mut init = vec![0i32; self.wzp.len()];
        if let Some(b) = &self.bias {
            for (c, v) in init.iter_mut().enumerate().take(self.channels) {
                *v = quantize_bias(b[c], self.quant.channel(c).0, input.scale);
            }
        }
        init
    }

    /// Caches the folded bias for inputs with parameters `input`.
    pub fn prepare(&mut self, input: U8Quant) {
        if self.prepared != Some(input) {
            self.init = self.compute_init(input);
            self.prepared = Some(input);
        }
    }
}

/// What a depthwise micro-kernel reads to produce one output pixel (all channels).
pub(crate) struct DwArgs<'a> {
    pub input: &'a [u8],
    /// `ks` offsets of input pixels (NHWC, `channels` bytes each).
    pub offsets: &'a [usize],
    pub channels: usize,
    pub weights: &'a [u8],
    pub wzp: &'a [u8],
    pub init: &'a [i32],
    pub scales: &'a [f32],
    pub input_zp: u8,
    pub output_zp: u8,
    pub min: u8,
    pub max: u8,
}

impl DwArgs<'_> {
    /// Whether every read is in bounds (checked before any `unsafe` path).
    pub fn in_bounds(&self) -> bool {
        let blocks = self.channels.div_ceil(CR);
        let ks = self.offsets.len();
        self.weights.len() >= blocks * ks * CR
            && self.wzp.len() >= blocks * CR
            && self.init.len() >= blocks * CR
            && self.scales.len() >= blocks * CR
            && self.offsets.iter().all(|&o| {
                o.checked_add(self.channels)
                    .is_some_and(|end| end <= self.input.len())
            })
    }
}

/// Runs a depthwise convolution over `pixels` output pixels into `out` (NHWC).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    k: Kernels,
    dw: &PackedDw,
    input: &[u8],
    indirection: &Offsets,
    pixels: usize,
    in_q: U8Quant,
    output: OutputSpec,
    out: &mut [u8],
) -> Result<(), KernelError> {
    let mut scales = requant_scales(&dw.quant, dw.channels, in_q.scale, output.quant.scale)?;
    scales.resize(dw.wzp.len(), 1.0);
    let fresh;
    let init = if dw.prepared == Some(in_q) {
        &dw.init
    } else {
        fresh = dw.compute_init(in_q);
        &fresh
    };
    let (min, max) = output.limits();
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = crate::x86::Isa::of(k.path()) {
        let x86 = X86Dw {
            dw,
            init,
            scales: &scales,
            az: i32::from(in_q.zero_point),
        };
        let tables = match isa {
            crate::x86::Isa::Avx2 => x86.avx2(),
            crate::x86::Isa::Avx512Vnni => x86.avx512(),
        };
        let depthwise = crate::x86::dwconv::Depthwise {
            input,
            indirection,
            pixels,
            ks: dw.ks,
            channels: dw.channels,
            weights: tables.weights(),
            output_zp: output.quant.zero_point,
            min,
            max,
        };
        crate::x86::dwconv::run(isa, &depthwise, out);
        return Ok(());
    }
    let c = dw.channels;
    for p in 0..pixels {
        let args = DwArgs {
            input,
            offsets: &indirection[p * dw.ks..(p + 1) * dw.ks],
            channels: c,
            weights: &dw.weights,
            wzp: &dw.wzp,
            init,
            scales: &scales,
            input_zp: in_q.zero_point,
            output_zp: output.quant.zero_point,
            min,
            max,
        };
        let dst = &mut out[p * c..(p + 1) * c];
        match k.path() {
            #[cfg(target_arch = "aarch64")]
            crate::Path::Neon | crate::Path::NeonDot => crate::neon::dwconv::pixel(&args, dst),
            _ => crate::portable::dwconv::pixel(&args, dst),
        }
    }
    Ok(())
}

/// Runs a 1-d or 2-d depthwise convolution of NCHW `x` straight on its planes with the
/// avx512-vnni kernel, into a new NCHW buffer; `None` when that kernel does not apply (another
/// path, or a width stride it does not handle).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_planes(
    k: Kernels,
    dw: &PackedDw,
    x: &[u8],
    batch: usize,
    [in_hw, out_hw, kernel, stride, padding, dilation]: [[usize; 2]; 6],
    in_q: U8Quant,
    output: OutputSpec,
) -> Result<Option<Vec<u8>>, KernelError> {
    use crate::x86::dwconv_planes::{supports_stride, Planes};
    if k.path() != Path::Avx512Vnni || !supports_stride(stride[1]) {
        return Ok(None);
    }
    let scales = requant_scales(&dw.quant, dw.channels, in_q.scale, output.quant.scale)?;
    let bias = if dw.prepared == Some(in_q) {
        dw.init.clone()
    } else {
        dw.compute_init(in_q)
    };
    let az = i32::from(in_q.zero_point);
    let ks = dw.ks as i32;
    let mut weights = vec![0i8; dw.channels * dw.ks];
    let (mut init, mut zw) = (vec![0i32; dw.channels], vec![0i32; dw.channels]);
    for c in 0..dw.channels {
        let mut sum_w = 0i32;
        for s in 0..dw.ks {
            weights[c * dw.ks + s] = dw.raw(c, s);
            sum_w = sum_w.wrapping_add(i32::from(dw.raw(c, s)));
        }
        zw[c] = dw.raw_zp(c);
        init[c] = bias[c]
            .wrapping_add(ks.wrapping_mul(az).wrapping_mul(zw[c]))
            .wrapping_sub(az.wrapping_mul(sum_w));
    }
    let (min, max) = output.limits();
    let mut out = vec![0u8; batch * dw.channels * out_hw[0] * out_hw[1]];
    crate::x86::dwconv_planes::run(
        &Planes {
            x,
            batch,
            channels: dw.channels,
            in_hw,
            out_hw,
            kernel,
            stride,
            padding,
            dilation,
            weights: &weights,
            init: &init,
            scales: &scales,
            zw: zw.iter().any(|&z| z != 0).then_some(&zw[..]),
            input_zp: in_q.zero_point,
            output_zp: output.quant.zero_point,
            min,
            max,
        },
        &mut out,
    );
    Ok(Some(out))
}

/// The per-call inputs of the x86 depthwise tables (weights packed for another path are
/// converted for the call).
#[cfg(target_arch = "x86_64")]
struct X86Dw<'a> {
    dw: &'a PackedDw,
    /// Quantized bias per channel slot.
    init: &'a [i32],
    /// Requantization scale per channel slot.
    scales: &'a [f32],
    az: i32,
}

/// The tables one x86 kernel reads (see `x86::dwconv::DwWeights`).
#[cfg(target_arch = "x86_64")]
enum X86Tables<'a> {
    Diff16 {
        diff16: Cow<'a, [i32]>,
        init16: Vec<i32>,
        scales16: Vec<f32>,
    },
    OneHot {
        onehot: Cow<'a, [u8]>,
        init64: Vec<i32>,
        scales64: Vec<f32>,
        zw64: Option<Vec<i32>>,
    },
}

#[cfg(target_arch = "x86_64")]
impl X86Tables<'_> {
    fn weights(&self) -> crate::x86::dwconv::DwWeights<'_> {
        match self {
            X86Tables::Diff16 {
                diff16,
                init16,
                scales16,
            } => crate::x86::dwconv::DwWeights::Diff16 {
                diff16,
                init16,
                scales16,
            },
            X86Tables::OneHot {
                onehot,
                init64,
                scales64,
                zw64,
            } => crate::x86::dwconv::DwWeights::OneHot {
                onehot,
                init64,
                scales64,
                zw64: zw64.as_deref(),
            },
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<'a> X86Dw<'a> {
    /// The avx2 tables: `sum((a - az) d) = sum(a d) - az sum(d)` with `d = w - wz`, the
    /// second term folded into the start values.
    fn avx2(&self) -> X86Tables<'a> {
        let dw = self.dw;
        let diff16: Cow<'a, [i32]> = if dw.diff16.is_empty() {
            Cow::Owned(dw.compute_diff16())
        } else {
            Cow::Borrowed(&dw.diff16)
        };
        let slots = dw.channels.div_ceil(16) * 16;
        let init16: Vec<i32> = (0..slots)
            .map(|c| {
                let d = (0..dw.ks)
                    .map(|s| diff16[((c / 16) * dw.ks + s) * 16 + c % 16])
                    .fold(0, i32::wrapping_add);
                let bias = self.init.get(c).copied().unwrap_or(0);
                bias.wrapping_sub(self.az.wrapping_mul(d))
            })
            .collect();
        let scales16: Vec<f32> = (0..slots)
            .map(|c| self.scales.get(c).copied().unwrap_or(1.0))
            .collect();
        X86Tables::Diff16 {
            diff16,
            init16,
            scales16,
        }
    }

    /// The avx512-vnni tables, in `[block of 64][r][j]` order for channel `64 b + 4 j + r`:
    /// start values `bias + ks az zw - az sum(w)` (wrapping).
    fn avx512(&self) -> X86Tables<'a> {
        let dw = self.dw;
        let onehot: Cow<'a, [u8]> = if dw.onehot.is_empty() {
            Cow::Owned(dw.compute_onehot())
        } else {
            Cow::Borrowed(&dw.onehot)
        };
        let slots = dw.channels.div_ceil(64) * 64;
        let at = |c: usize| (c / 64) * 64 + (c % 4) * 16 + (c % 64) / 4;
        let (mut init64, mut scales64, mut zw64) =
            (vec![0i32; slots], vec![1.0f32; slots], vec![0i32; slots]);
        let ks = dw.ks as i32;
        for c in 0..dw.channels {
            let zw = dw.raw_zp(c);
            let sum_w = (0..dw.ks)
                .map(|s| i32::from(dw.raw(c, s)))
                .fold(0, i32::wrapping_add);
            init64[at(c)] = self.init[c]
                .wrapping_add(ks.wrapping_mul(self.az).wrapping_mul(zw))
                .wrapping_sub(self.az.wrapping_mul(sum_w));
            scales64[at(c)] = self.scales[c];
            zw64[at(c)] = zw;
        }
        let any_zw = zw64.iter().any(|&z| z != 0);
        X86Tables::OneHot {
            onehot,
            init64,
            scales64,
            zw64: any_zw.then_some(zw64),
        }
    }
}
