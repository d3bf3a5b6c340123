//! The contract between the GEMM/convolution driver and a micro-kernel: one 8x8 tile.

/// Rows (output pixels) per tile.
pub(crate) const MR: usize = 8;
/// Output channels per tile (one packed panel).
pub(crate) const NR: usize = 8;

/// Everything an 8x8 micro-kernel reads.
///
/// Row `m` of the tile reduces over `rows[m].len()` steps (kernel positions); step `s` reads
/// `kc` bytes of `input` starting at `rows[m][s] + group_off`. The panel holds, for each step,
/// `kc_pad` reduction indices of 8 channels in the path's packing (see `pack`). The result is
/// `init[n] + sum((a - input_zp) * (w - wzp[n]))` in wrapping `i32` arithmetic.
#[derive(Clone, Copy)]
pub(crate) struct TileArgs<'a> {
    /// The activation buffer (NHWC rows, plus a zero-point row for padding).
    pub input: &'a [u8],
    /// Per tile row, the offset of each step's `kc` bytes (rows past the tile repeat the last).
    pub rows: [&'a [usize]; MR],
    /// Added to every offset (the group's first channel).
    pub group_off: usize,
    /// Reduction length per step.
    pub kc: usize,
    /// `kc` rounded up to a multiple of 8 (the packed length per step).
    pub kc_pad: usize,
    /// The packed weights of 8 output channels.
    pub panel: &'a [u8],
    /// Accumulator start values (the quantized bias, plus the dot path's corrections).
    pub init: [i32; NR],
    /// Weight zero points (shifted to `u8`).
    pub wzp: [u8; NR],
    /// Activation zero point.
    pub input_zp: u8,
}

impl TileArgs<'_> {
    /// Number of steps.
    pub fn ks(&self) -> usize {
        self.rows[0].len()
    }

    /// Whether every read a micro-kernel makes is in bounds (checked before any `unsafe` path).
    pub fn in_bounds(&self) -> bool {
        let ks = self.ks();
        self.kc <= self.kc_pad
            && self.kc_pad.is_multiple_of(8)
            && self.panel.len() >= ks * self.kc_pad * NR
            && self.rows.iter().all(|r| {
                r.len() == ks
                    && r.iter().all(|&o| {
                        o.checked_add(self.group_off + self.kc)
                            .is_some_and(|end| end <= self.input.len())
                    })
            })
    }
}

/// An 8x8 tile of `i32` accumulators, row-major.
pub(crate) type Acc = [[i32; NR]; MR];

/// What the requantizing epilogue needs: per-channel scales, output zero point and clamp.
#[derive(Clone, Copy)]
pub(crate) struct Requant<'a> {
    /// Scale of each of the tile's channels.
    pub scales: &'a [f32; NR],
    /// Output zero point.
    pub zero_point: u8,
    /// Lower clamp.
    pub min: u8,
    /// Upper clamp.
    pub max: u8,
}
