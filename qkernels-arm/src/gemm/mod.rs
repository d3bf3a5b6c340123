//! Packed-weight GEMM and indirect convolution shared by `linear` and `conv`: packing, the
//! accumulator start values (quantized bias folded into each panel) and the tile driver.

pub(crate) mod tile;

use crate::dispatch::Packing;
use crate::requant::{quantize_bias, requant_scales};
use crate::{KernelError, Kernels, OutputSpec, Path, U8Quant, WeightQuant};
use tile::{Acc, Requant, TileArgs, MR, NR};

/// Weights packed into 8-channel panels for one path's micro-kernel.
///
/// Layout per group `g`, panel `p`, step `s`: `K1` stores `kc_pad` reduction indices of 8
/// bytes (one per channel); `K4` stores `kc_pad / 4` groups of 8 channels x 4 indices. Weights
/// are `qint8 + 128` (QNNPACK's `u8` shift); padding indices hold the channel's zero point
/// (`K1`) or 0 (`K4`) so that they add nothing.
#[derive(Debug, Clone)]
pub(crate) struct PackedGemm {
    pub path: Path,
    pub groups: usize,
    pub n_per_group: usize,
    pub ks: usize,
    pub kc: usize,
    pub kc_pad: usize,
    pub panels_per_group: usize,
    pub panels: Vec<u8>,
    /// Shifted weight zero points, `[g][p][8]`.
    pub wzp: Vec<u8>,
    /// Per-channel sums of the shifted weights (dot path only), `[g][p][8]`.
    pub col_sums: Vec<i32>,
    pub quant: WeightQuant,
    pub bias: Option<Vec<f32>>,
    /// The input parameters `init` was computed for.
    pub prepared: Option<U8Quant>,
    /// Accumulator start values per channel slot, `[g][p][8]` (bias folded in).
    pub init: Vec<i32>,
}

impl PackedGemm {
    /// Packs `get(oc, s, c)` (global output channel, step, reduction index within the group).
    #[allow(clippy::too_many_arguments)]
    pub fn pack(
        path: Path,
        groups: usize,
        n_per_group: usize,
        ks: usize,
        kc: usize,
        quant: WeightQuant,
        bias: Option<Vec<f32>>,
        get: impl Fn(usize, usize, usize) -> i8,
    ) -> PackedGemm {
        let panels_per_group = n_per_group.div_ceil(NR);
        let kc_pad = kc.div_ceil(8) * 8;
        let panel_len = ks * kc_pad * NR;
        let slots = groups * panels_per_group * NR;
        let packing = path.packing();
        let mut panels = vec![0u8; groups * panels_per_group * panel_len];
        let mut wzp = vec![0u8; slots];
        let mut col_sums = Vec::new();
        if packing == Packing::K4 {
            col_sums = vec![0i32; slots];
        }
        for g in 0..groups {
            for p in 0..panels_per_group {
                let slot0 = (g * panels_per_group + p) * NR;
                let panel = &mut panels[(g * panels_per_group + p) * panel_len..][..panel_len];
                for n in 0..NR {
                    let j = p * NR + n;
                    if j >= n_per_group {
                        continue;
                    }
                    let oc = g * n_per_group + j;
                    let zp = (i16::from(quant.channel(oc).1) + 128) as u8;
                    wzp[slot0 + n] = zp;
                    let mut sum = 0i32;
                    for s in 0..ks {
                        for c in 0..kc_pad {
                            let w = if c < kc {
                                (i16::from(get(oc, s, c)) + 128) as u8
                            } else if packing == Packing::K1 {
                                zp
                            } else {
                                0
                            };
                            if c < kc {
                                sum += i32::from(w);
                            }
                            let at = match packing {
                                Packing::K1 => (s * kc_pad + c) * NR + n,
                                Packing::K4 => s * kc_pad * NR + (c / 4) * 4 * NR + n * 4 + c % 4,
                            };
                            panel[at] = w;
                        }
                    }
                    if packing == Packing::K4 {
                        col_sums[slot0 + n] = sum;
                    }
                }
            }
        }
        PackedGemm {
            path,
            groups,
            n_per_group,
            ks,
            kc,
            kc_pad,
            panels_per_group,
            panels,
            wzp,
            col_sums,
            quant,
            bias,
            prepared: None,
            init: Vec::new(),
        }
    }

    /// Total output channels.
    pub fn out_channels(&self) -> usize {
        self.groups * self.n_per_group
    }

    /// Accumulator start values for inputs with parameters `input`: the quantized bias
    /// (omitted when `with_bias` is false) plus, on the dot path, the zero-point corrections
    /// `K * az * wz - az * colsum` (wrapping).
    pub fn compute_init(&self, input: U8Quant, with_bias: bool) -> Vec<i32> {
        let k = (self.ks * self.kc) as i32;
        let az = i32::from(input.zero_point);
        let mut init = vec![0i32; self.wzp.len()];
        for g in 0..self.groups {
            for j in 0..self.n_per_group {
                let slot = (g * self.panels_per_group + j / NR) * NR + j % NR;
                let oc = g * self.n_per_group + j;
                let mut v = match (&self.bias, with_bias) {
                    (Some(b), true) => quantize_bias(b[oc], self.quant.channel(oc).0, input.scale),
                    _ => 0,
                };
                if !self.col_sums.is_empty() {
                    let wz = i32::from(self.wzp[slot]);
                    v = v
                        .wrapping_add(k.wrapping_mul(az).wrapping_mul(wz))
                        .wrapping_sub(az.wrapping_mul(self.col_sums[slot]));
                }
                init[slot] = v;
            }
        }
        init
    }

    /// Caches the start values for inputs with parameters `input` (PyTorch re-packs the bias
    /// when the input scale changes; this is the same, without touching the weights).
    pub fn prepare(&mut self, input: U8Quant) {
        if self.prepared != Some(input) {
            self.init = self.compute_init(input, true);
            self.prepared = Some(input);
        }
    }

    fn check_path(&self, k: Kernels) -> Result<(), KernelError> {
        if k.path().packing() == self.path.packing() {
            Ok(())
        } else {
            Err(KernelError::PackedForOtherPath {
                packed_for: self.path,
                running: k.path(),
            })
        }
    }
}

/// Where the rows of a GEMM/convolution come from: `input` plus `ks` offsets per output row.
pub(crate) struct Rows<'a> {
    pub input: &'a [u8],
    /// `rows * ks` offsets: row `m`, step `s` at `m * ks + s`.
    pub offsets: &'a [usize],
    pub rows: usize,
}

/// Runs every tile, handing each accumulated tile to `emit(row0, mr, channel0, nr, acc)`.
fn for_each_tile(
    k: Kernels,
    pg: &PackedGemm,
    rows: &Rows,
    init: &[i32],
    input_zp: u8,
    mut emit: impl FnMut(usize, usize, usize, usize, &Acc),
) {
    let ks = pg.ks;
    let panel_len = ks * pg.kc_pad * NR;
    for g in 0..pg.groups {
        for p in 0..pg.panels_per_group {
            let slot0 = (g * pg.panels_per_group + p) * NR;
            let panel = &pg.panels[(g * pg.panels_per_group + p) * panel_len..][..panel_len];
            let nr = (pg.n_per_group - p * NR).min(NR);
            let init: [i32; NR] = init[slot0..slot0 + NR].try_into().expect("8 slots");
            let wzp: [u8; NR] = pg.wzp[slot0..slot0 + NR].try_into().expect("8 slots");
            for row0 in (0..rows.rows).step_by(MR) {
                let mr = (rows.rows - row0).min(MR);
                let row_offsets: [&[usize]; MR] = std::array::from_fn(|m| {
                    let r = row0 + m.min(mr - 1);
                    &rows.offsets[r * ks..(r + 1) * ks]
                });
                let args = TileArgs {
                    input: rows.input,
                    rows: row_offsets,
                    group_off: g * pg.kc,
                    kc: pg.kc,
                    kc_pad: pg.kc_pad,
                    panel,
                    init,
                    wzp,
                    input_zp,
                };
                let acc = accumulate(k.path(), &args);
                emit(row0, mr, g * pg.n_per_group + p * NR, nr, &acc);
            }
        }
    }
}

/// The path's accumulate micro-kernel.
fn accumulate(path: Path, args: &TileArgs) -> Acc {
    match path {
        Path::Portable => crate::portable::gemm::accumulate(args),
        #[cfg(target_arch = "aarch64")]
        Path::Neon => crate::neon::gemm::accumulate(args),
        #[cfg(target_arch = "aarch64")]
        Path::NeonDot => crate::neon::gemm_dot::accumulate(args),
        #[cfg(not(target_arch = "aarch64"))]
        Path::Neon | Path::NeonDot => unreachable!("kernels exist only for available paths"),
    }
}

/// The path's requantizing epilogue.
fn requant_tile(
    path: Path,
    acc: &Acc,
    q: &Requant,
    mr: usize,
    nr: usize,
    out: &mut [u8],
    stride: usize,
) {
    match path {
        #[cfg(target_arch = "aarch64")]
        Path::Neon | Path::NeonDot => {
            crate::neon::requant::requant_tile(acc, q, mr, nr, out, stride)
        }
        _ => crate::portable::gemm::requant_tile(acc, q, mr, nr, out, stride),
    }
}

/// Quantized GEMM/convolution: `out[m * out_channels + oc]` for every row `m`.
pub(crate) fn run_quantized(
    k: Kernels,
    pg: &PackedGemm,
    rows: &Rows,
    input: U8Quant,
    output: OutputSpec,
    out: &mut [u8],
) -> Result<(), KernelError> {
    pg.check_path(k)?;
    let n = pg.out_channels();
    let scales = requant_scales(&pg.quant, n, input.scale, output.quant.scale)?;
    let fresh;
    let init = if pg.prepared == Some(input) {
        &pg.init
    } else {
        fresh = pg.compute_init(input, true);
        &fresh
    };
    let (min, max) = output.limits();
    for_each_tile(
        k,
        pg,
        rows,
        init,
        input.zero_point,
        |row0, mr, oc0, nr, acc| {
            let mut tile_scales = [1.0f32; NR];
            tile_scales[..nr].copy_from_slice(&scales[oc0..oc0 + nr]);
            let q = Requant {
                scales: &tile_scales,
                zero_point: output.quant.zero_point,
                min,
                max,
            };
            requant_tile(k.path(), acc, &q, mr, nr, &mut out[row0 * n + oc0..], n);
        },
    );
    Ok(())
}

/// Dynamic GEMM (QNNPACK's `q8gemm_dq`): `out = acc as f32 * multiplier[oc] + bias[oc]`, with
/// the accumulator free of bias and `multiplier = w_scale * input_scale` (in `f32`).
pub(crate) fn run_dynamic(
    k: Kernels,
    pg: &PackedGemm,
    rows: &Rows,
    input: U8Quant,
    out: &mut [f32],
) -> Result<(), KernelError> {
    pg.check_path(k)?;
    let n = pg.out_channels();
    // PyTorch: generate_requantization_scales(w_scales, input_scale, 1.0).
    let multipliers = requant_scales(&pg.quant, n, input.scale, 1.0)?;
    let init = pg.compute_init(input, false);
    for_each_tile(
        k,
        pg,
        rows,
        &init,
        input.zero_point,
        |row0, mr, oc0, nr, acc| {
            for (m, row) in acc.iter().enumerate().take(mr) {
                let dst = &mut out[(row0 + m) * n + oc0..][..nr];
                for (j, d) in dst.iter_mut().enumerate() {
                    let b = pg.bias.as_ref().map_or(0.0, |b| b[oc0 + j]);
                    *d = row[j] as f32 * multipliers[oc0 + j] + b;
                }
            }
        },
    );
    Ok(())
}
