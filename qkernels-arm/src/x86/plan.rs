//! The checked description of one `X16` GEMM call, shared by the AVX2 and AVX-512 tiles: a
//! [`Plan`] exists only if every read and write the tiles make is in bounds on this CPU.

use super::{gemm_avx2, gemm_avx512, Isa};
use crate::gemm::OffsetsView;

/// What the tiles write: requantized `u8` or dequantized `f32`, row-major with one row of
/// `groups * n_per_group` values per GEMM row.
pub(crate) enum Epilogue<'a> {
    /// `requantize(acc, scale, zero_point, min, max)` (see [`crate::requant::requantize`]).
    Requant {
        /// One scale per channel slot (`[g][p][16]`).
        scales: &'a [f32],
        /// Output zero point.
        zero_point: u8,
        /// Lower clamp.
        min: u8,
        /// Upper clamp.
        max: u8,
        /// `rows * out_channels` bytes.
        out: &'a mut [u8],
    },
    /// `acc as f32 * multiplier + bias` (QNNPACK's `q8gemm_dq`).
    Float {
        /// One multiplier per channel slot.
        multipliers: &'a [f32],
        /// One bias per channel slot (0 where there is none).
        bias: &'a [f32],
        /// `rows * out_channels` values.
        out: &'a mut [f32],
    },
}

impl Epilogue<'_> {
    /// Slots covered by the per-slot vectors, and the output length.
    fn slots_and_len(&self) -> (usize, usize) {
        match self {
            Epilogue::Requant { scales, out, .. } => (scales.len(), out.len()),
            Epilogue::Float {
                multipliers,
                bias,
                out,
            } => (multipliers.len().min(bias.len()), out.len()),
        }
    }
}

/// The sizes and buffers of one GEMM call, before [`Plan::new`] checks them.
pub(crate) struct Shape<'a> {
    /// Activations; every step reads `kc_pad` bytes at `offset + g * kc`.
    pub input: &'a [u8],
    /// `rows * ks` offsets: row `m`, step `s` at `m * ks + s`.
    pub offsets: OffsetsView<'a>,
    pub rows: usize,
    pub ks: usize,
    pub kc: usize,
    pub kc_pad: usize,
    pub groups: usize,
    pub panels_per_group: usize,
    pub n_per_group: usize,
    /// `groups * panels_per_group` panels of `ks * kc_pad * 16` bytes.
    pub panels: &'a [u8],
    /// Accumulator start values per slot (`[g][p][16]`).
    pub init: &'a [i32],
    /// `qint8` weight zero points per slot.
    pub zw: &'a [i32],
}

/// A [`Shape`] whose every read is known to be in bounds, for an instruction set this CPU
/// has. The fields are private: a `Plan` can only come from [`Plan::new`].
pub(crate) struct Plan<'a> {
    s: Shape<'a>,
    isa: Isa,
    panel_len: usize,
    slots: usize,
}

impl<'a> Plan<'a> {
    /// Checks the CPU and every bound the tiles rely on; `None` if one does not hold.
    pub fn new(isa: Isa, s: Shape<'a>) -> Option<Plan<'a>> {
        let panel_len = s.ks.checked_mul(s.kc_pad)?.checked_mul(16)?;
        let slots = s.groups.checked_mul(s.panels_per_group)?.checked_mul(16)?;
        let reach = s
            .offsets
            .max()
            .checked_add(s.groups.saturating_sub(1).checked_mul(s.kc)?)?
            .checked_add(s.kc_pad)?;
        let ok = isa.detected()
            && s.kc_pad.is_multiple_of(4)
            && s.kc <= s.kc_pad
            && s.n_per_group <= s.panels_per_group * 16
            && s.offsets.len() == s.rows.checked_mul(s.ks)?
            && (s.rows == 0 || reach <= s.input.len())
            && s.panels.len() >= slots / 16 * panel_len
            && s.init.len() >= slots
            && s.zw.len() >= slots;
        ok.then_some(Plan {
            s,
            isa,
            panel_len,
            slots,
        })
    }

    /// The checked sizes and buffers.
    pub fn shape(&self) -> &Shape<'a> {
        &self.s
    }

    /// Bytes per panel: `ks * kc_pad * 16`.
    pub fn panel_len(&self) -> usize {
        self.panel_len
    }

    /// Runs every tile of group `g`; `row_sums` is empty (all weight zero points 0) or holds
    /// one sum per row for this group.
    ///
    /// Panics if `g`, `row_sums` or the epilogue do not fit the plan.
    pub fn run_group(&self, g: usize, row_sums: &[i32], epilogue: &mut Epilogue) {
        let n_total = self.s.groups * self.s.n_per_group;
        let (slots, len) = epilogue.slots_and_len();
        assert!(g < self.s.groups && slots >= self.slots && len == self.s.rows * n_total);
        assert!(row_sums.is_empty() || row_sums.len() == self.s.rows);
        // SAFETY: `Plan::new` checked the CPU features of `isa`, that every step's
        // `kc_pad`-byte read lies in `input`, that the panels hold `groups * panels_per_group`
        // panels and that the per-slot vectors cover every slot; the asserts above cover the
        // group, the epilogue's slots, the output length and the row sums.
        unsafe {
            match self.isa {
                Isa::Avx512Vnni => gemm_avx512::group(self, g, row_sums, epilogue),
                Isa::Avx2 => gemm_avx2::group(self, g, row_sums, epilogue),
            }
        }
    }
}
