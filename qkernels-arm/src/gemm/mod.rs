//! Packed-weight GEMM and indirect convolution shared by `linear` and `conv`: packing, the
//! accumulator start values (quantized bias folded into each panel) and the tile driver.

pub(crate) mod tile;

use crate::dispatch::Packing;
use crate::memo::Memo;
use crate::requant::{quantize_bias, requant_scales};
use crate::{KernelError, Kernels, OutputSpec, Path, U8Quant, WeightQuant};
use tile::{Acc, Requant, TileArgs, MR, NR};

/// Weights packed into `nr`-channel panels for one path's micro-kernel.
///
/// Layout per group `g`, panel `p`, step `s`: `K1` stores `kc_pad` reduction indices of 8
/// bytes (one per channel); `K4` stores `kc_pad / 4` groups of 8 channels x 4 indices; `X16`
/// `kc_pad / 4` groups of 16 channels x 4 indices. `K1`/`K4` weights are `qint8 + 128`
/// (QNNPACK's `u8` shift), `X16` ones the raw `qint8` bytes; padding indices hold the channel's
/// zero point (`K1`) or 0 (`K4`, `X16`) so that they add nothing.
#[derive(Debug, Clone)]
pub(crate) struct PackedGemm {
    pub path: Path,
    pub groups: usize,
    pub n_per_group: usize,
    /// Channels per panel (the packing's width).
    pub nr: usize,
    pub ks: usize,
    pub kc: usize,
    pub kc_pad: usize,
    pub panels_per_group: usize,
    pub panels: Vec<u8>,
    /// Shifted weight zero points, `[g][p][nr]`.
    pub wzp: Vec<u8>,
    /// Per-channel sums of the packed weights (`K4`: shifted `u8`, `X16`: raw `qint8`),
    /// `[g][p][nr]`; empty for `K1`.
    pub col_sums: Vec<i32>,
    pub quant: WeightQuant,
    pub bias: Option<Vec<f32>>,
    /// The input parameters `init` was computed for.
    pub prepared: Option<U8Quant>,
    /// Accumulator start values per channel slot, `[g][p][nr]` (bias folded in).
    pub init: Vec<i32>,
    /// The requantization tables of the last `(input, output scale)` a call used.
    pub tables: Memo<(U8Quant, f64), QuantTables>,
}

/// What a quantized GEMM call derives from the input and output parameters.
#[derive(Debug)]
pub(crate) struct QuantTables {
    /// Accumulator start values per slot (see [`PackedGemm::compute_init`]).
    init: Vec<i32>,
    /// Requantization scale per output channel.
    scales: Vec<f32>,
    /// The same per slot (`fill` 1.0), for the x86 tiles.
    #[cfg(target_arch = "x86_64")]
    slot_scales: Vec<f32>,
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
        let packing = path.packing();
        let nr = packing.nr();
        let panels_per_group = n_per_group.div_ceil(nr);
        let kc_pad = packing.kc_pad(kc);
        let panel_len = ks * kc_pad * nr;
        let slots = groups * panels_per_group * nr;
        let mut panels = vec![0u8; groups * panels_per_group * panel_len];
        let mut wzp = vec![0u8; slots];
        let mut col_sums = Vec::new();
        if packing != Packing::K1 {
            col_sums = vec![0i32; slots];
        }
        for g in 0..groups {
            for p in 0..panels_per_group {
                let slot0 = (g * panels_per_group + p) * nr;
                let panel = &mut panels[(g * panels_per_group + p) * panel_len..][..panel_len];
                for n in 0..nr {
                    let j = p * nr + n;
                    if j >= n_per_group {
                        continue;
                    }
                    let oc = g * n_per_group + j;
                    let zp = (i16::from(quant.channel(oc).1) + 128) as u8;
                    wzp[slot0 + n] = zp;
                    let mut sum = 0i32;
                    for s in 0..ks {
                        for c in 0..kc_pad {
                            let raw = (c < kc).then(|| get(oc, s, c));
                            let w = match (packing, raw) {
                                // X16 keeps the raw `qint8` bytes (the u8 shift is folded into
                                // the zero-point terms); padding is 0 in every packing but K1.
                                (Packing::X16, Some(w)) => w as u8,
                                (_, Some(w)) => (i16::from(w) + 128) as u8,
                                (Packing::K1, None) => zp,
                                (_, None) => 0,
                            };
                            sum += match (packing, raw) {
                                (Packing::X16, Some(w)) => i32::from(w),
                                (_, Some(_)) => i32::from(w),
                                (_, None) => 0,
                            };
                            let at = match packing {
                                Packing::K1 => (s * kc_pad + c) * nr + n,
                                Packing::K4 | Packing::X16 => {
                                    s * kc_pad * nr + (c / 4) * 4 * nr + n * 4 + c % 4
                                }
                            };
                            panel[at] = w;
                        }
                    }
                    if packing != Packing::K1 {
                        col_sums[slot0 + n] = sum;
                    }
                }
            }
        }
        PackedGemm {
            path,
            groups,
            n_per_group,
            nr,
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
            tables: Memo::default(),
        }
    }

    /// Total output channels.
    pub fn out_channels(&self) -> usize {
        self.groups * self.n_per_group
    }

    /// Accumulator start values for inputs with parameters `input`: the quantized bias
    /// (omitted when `with_bias` is false) plus the packing's zero-point corrections, in
    /// wrapping arithmetic: `K * az * wz - az * colsum` for `K4` (shifted weights), and
    /// `K * az * zw - az * colsum` for `X16` (raw weights, `zw` the `qint8` zero point).
    pub fn compute_init(&self, input: U8Quant, with_bias: bool) -> Vec<i32> {
        let k = (self.ks * self.kc) as i32;
        let az = i32::from(input.zero_point);
        let nr = self.nr;
        let packing = self.path.packing();
        let mut init = vec![0i32; self.wzp.len()];
        for g in 0..self.groups {
            for j in 0..self.n_per_group {
                let slot = (g * self.panels_per_group + j / nr) * nr + j % nr;
                let oc = g * self.n_per_group + j;
                let mut v = match (&self.bias, with_bias) {
                    (Some(b), true) => quantize_bias(b[oc], self.quant.channel(oc).0, input.scale),
                    _ => 0,
                };
                let wz = match packing {
                    Packing::K1 => 0,
                    Packing::K4 => i32::from(self.wzp[slot]),
                    Packing::X16 => i32::from(self.wzp[slot]) - 128,
                };
                if packing != Packing::K1 {
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

    /// `per_channel` (one value per output channel) laid out per slot, `fill` in the gaps.
    #[cfg(target_arch = "x86_64")]
    pub fn per_slot(&self, per_channel: &[f32], fill: f32) -> Vec<f32> {
        let nr = self.nr;
        let mut v = vec![fill; self.groups * self.panels_per_group * nr];
        for g in 0..self.groups {
            for j in 0..self.n_per_group {
                v[(g * self.panels_per_group + j / nr) * nr + j % nr] =
                    per_channel[g * self.n_per_group + j];
            }
        }
        v
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

/// Byte offsets into an activation buffer with their maximum, computed once so that a kernel
/// can bound all its reads without scanning them again (the values cannot change afterwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offsets {
    data: Vec<usize>,
    max: usize,
}

impl Offsets {
    /// Wraps `data`, computing its maximum (0 when empty).
    pub fn new(data: Vec<usize>) -> Offsets {
        let max = data.iter().copied().max().unwrap_or(0);
        Offsets { data, max }
    }

    /// The largest offset (0 when there is none).
    // Only the x86 kernels bound their reads this way.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub fn max(&self) -> usize {
        self.max
    }
}

impl std::ops::Deref for Offsets {
    type Target = [usize];

    fn deref(&self) -> &[usize] {
        &self.data
    }
}

impl Offsets {
    /// A view of all the offsets.
    pub fn view(&self) -> OffsetsView<'_> {
        OffsetsView {
            data: &self.data,
            max: self.max,
        }
    }
}

/// Borrowed offsets with an upper bound of their values (the whole table's maximum when the
/// view is a part of it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OffsetsView<'a> {
    data: &'a [usize],
    max: usize,
}

impl<'a> OffsetsView<'a> {
    /// An upper bound of the offsets (their maximum for a whole table, 0 when empty).
    // Only the x86 kernels bound their reads this way.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub fn max(&self) -> usize {
        self.max
    }

    /// The offsets in `range`, keeping the bound.
    // Only the x86 driver splits its rows this way.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub fn part(&self, range: std::ops::Range<usize>) -> OffsetsView<'a> {
        OffsetsView {
            data: &self.data[range],
            max: self.max,
        }
    }
}

impl std::ops::Deref for OffsetsView<'_> {
    type Target = [usize];

    fn deref(&self) -> &[usize] {
        self.data
    }
}

/// Where the rows of a GEMM/convolution come from: `input` plus `ks` offsets per output row.
pub(crate) struct Rows<'a> {
    pub input: &'a [u8],
    /// `rows * ks` offsets: row `m`, step `s` at `m * ks + s`.
    pub offsets: OffsetsView<'a>,
    pub rows: usize,
}

/// Fewest multiply-adds worth splitting between threads.
const PARALLEL_WORK: usize = 1 << 19;

/// Splits the output rows of a GEMM between the workspace's threads (blocks of whole tiles,
/// one contiguous run per thread) and calls `f(row_range, out_rows)` on each, `out_rows` holding
/// `width` elements per row. Every tile is computed as on one thread, so the results do not
/// depend on the thread count.
fn split_rows<T: Send>(
    pg: &PackedGemm,
    rows: usize,
    width: usize,
    out: &mut [T],
    f: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync,
) {
    let work = rows * pg.out_channels() * pg.ks * pg.kc;
    let threads = qtensor::threads::num_threads();
    if threads == 1 || work < PARALLEL_WORK || rows <= MR || width == 0 {
        return f(0..rows, out);
    }
    let per = rows.div_ceil(threads).next_multiple_of(MR);
    let out = &mut out[..rows * width];
    qtensor::threads::for_each_chunk_mut(out, per * width, |i, part| {
        f(i * per..(i * per + per).min(rows), part);
    });
}

/// Runs every tile of rows `row_range`, handing each accumulated tile to
/// `emit(row0, mr, channel0, nr, acc)` (`row0` counted from the range's start).
fn for_each_tile(
    k: Kernels,
    pg: &PackedGemm,
    rows: &Rows,
    row_range: std::ops::Range<usize>,
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
            for row0 in row_range.clone().step_by(MR) {
                let mr = (row_range.end - row0).min(MR);
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
                emit(
                    row0 - row_range.start,
                    mr,
                    g * pg.n_per_group + p * NR,
                    nr,
                    &acc,
                );
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
        Path::Avx2 | Path::Avx512Vnni => unreachable!("X16 weights run through the x86 driver"),
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
    let tables = pg.tables.get_or_try(&(input, output.quant.scale), || {
        let scales = requant_scales(&pg.quant, n, input.scale, output.quant.scale)?;
        Ok::<_, KernelError>(QuantTables {
            init: if pg.prepared == Some(input) {
                pg.init.clone()
            } else {
                pg.compute_init(input, true)
            },
            #[cfg(target_arch = "x86_64")]
            slot_scales: pg.per_slot(&scales, 1.0),
            scales,
        })
    })?;
    let (init, scales) = (&tables.init, &tables.scales);
    let (min, max) = output.limits();
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = crate::x86::Isa::of(k.path()) {
        crate::x86::gemm::run(
            isa,
            pg,
            rows,
            init,
            crate::x86::gemm::Epilogue::Requant {
                scales: &tables.slot_scales,
                zero_point: output.quant.zero_point,
                min,
                max,
                out,
            },
        );
        return Ok(());
    }
    split_rows(pg, rows.rows, n, out, |range, out| {
        for_each_tile(
            k,
            pg,
            rows,
            range,
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
    });
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
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = crate::x86::Isa::of(k.path()) {
        let multipliers = pg.per_slot(&multipliers, 1.0);
        let bias = match &pg.bias {
            Some(b) => pg.per_slot(b, 0.0),
            None => vec![0.0; multipliers.len()],
        };
        crate::x86::gemm::run(
            isa,
            pg,
            rows,
            &init,
            crate::x86::gemm::Epilogue::Float {
                multipliers: &multipliers,
                bias: &bias,
                out,
            },
        );
        return Ok(());
    }
    split_rows(pg, rows.rows, n, out, |range, out| {
        for_each_tile(
            k,
            pg,
            rows,
            range,
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
    });
    Ok(())
}
