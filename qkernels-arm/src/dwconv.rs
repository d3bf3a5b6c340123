//! Depthwise convolution (QNNPACK's `q8dwconv`: one input and one output channel per group),
//! channels processed 8 at a time over an indirection buffer.

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
    /// For the x86 path: `w - wz` as `i32`, `[block of 16][step][16]` (padding channels 0).
    pub diff16: Vec<i32>,
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
            channels,
            ks,
            weights,
            wzp,
            quant,
            bias,
            prepared: None,
            init: Vec::new(),
        };
        if matches!(path, Path::Avx2 | Path::Avx512Vnni) {
            dw.diff16 = dw.compute_diff16();
        }
        dw
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
        // Weights packed for another path lack the x86 layout: derive it for this call.
        let derived;
        let diff16 = if dw.diff16.is_empty() {
            derived = dw.compute_diff16();
            &derived
        } else {
            &dw.diff16
        };
        let az = i32::from(in_q.zero_point);
        // `sum((a - az) d) = sum(a d) - az sum(d)` with `d = w - wz`: fold the second term.
        let init16: Vec<i32> = (0..dw.channels.div_ceil(16) * 16)
            .map(|c| {
                let base = init.get(c).copied().unwrap_or(0);
                let d: i32 = (0..dw.ks)
                    .map(|s| diff16[((c / 16) * dw.ks + s) * 16 + c % 16])
                    .fold(0, i32::wrapping_add);
                base.wrapping_sub(az.wrapping_mul(d))
            })
            .collect();
        scales.resize(init16.len(), 1.0);
        crate::x86::dwconv::run(
            isa,
            &crate::x86::dwconv::Depthwise {
                input,
                indirection,
                pixels,
                ks: dw.ks,
                channels: dw.channels,
                diff16,
                init16: &init16,
                scales: &scales,
                output_zp: output.quant.zero_point,
                min,
                max,
            },
            out,
        );
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
