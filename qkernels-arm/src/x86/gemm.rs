//! The `X16` GEMM/convolution driver: checks every bound once, then runs the AVX-512 VNNI
//! tiles (`gemm_kernel`) over groups, 16-channel panel blocks and row tiles.

use super::gemm_kernel;
use crate::gemm::{PackedGemm, Rows};

/// What the driver writes: requantized `u8` or dequantized `f32`, row-major with one row of
/// `out_channels` values per GEMM row.
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

/// Sums of each row's reduction bytes for group `g` (needed only when a weight zero point is
/// not 0): `sum over steps s and c < kc of input[offset(m, s) + g * kc + c]`.
fn row_sums(rows: &Rows, ks: usize, kc: usize, g: usize) -> Vec<i32> {
    (0..rows.rows)
        .map(|m| {
            rows.offsets[m * ks..(m + 1) * ks]
                .iter()
                .map(|&o| {
                    rows.input[o + g * kc..][..kc]
                        .iter()
                        .map(|&v| i32::from(v))
                        .sum::<i32>()
                })
                .fold(0i32, i32::wrapping_add)
        })
        .collect()
}

/// Runs `pg` (packed `X16`) over `rows`, starting every channel at `init[slot]`.
///
/// Panics if the sizes are inconsistent (callers build them; a mismatch is a bug here).
pub(crate) fn run(pg: &PackedGemm, rows: &Rows, init: &[i32], mut epilogue: Epilogue) {
    let slots = pg.groups * pg.panels_per_group * 16;
    let n_total = pg.out_channels();
    let (epi_slots, out_len) = epilogue.slots_and_len();
    assert!(pg.nr == 16 && pg.kc_pad.is_multiple_of(4) && pg.kc <= pg.kc_pad);
    assert!(init.len() >= slots && pg.wzp.len() >= slots && epi_slots >= slots);
    assert_eq!(out_len, rows.rows * n_total);
    assert_eq!(rows.offsets.len(), rows.rows * pg.ks);
    let panel_len = pg.ks * pg.kc_pad * 16;
    assert!(pg.panels.len() >= pg.groups * pg.panels_per_group * panel_len);
    if rows.rows == 0 || n_total == 0 {
        return;
    }
    // Every step reads `kc_pad` bytes (the padding multiplies zero weights): give the input
    // slack when the last row would read past its end.
    let reach = rows.offsets.max() + (pg.groups - 1) * pg.kc + pg.kc_pad;
    let padded;
    let input = if reach <= rows.input.len() {
        rows.input
    } else {
        let mut v = Vec::with_capacity(reach);
        v.extend_from_slice(rows.input);
        v.resize(reach, 0);
        padded = v;
        &padded[..]
    };
    let zw: Vec<i32> = pg.wzp[..slots]
        .iter()
        .map(|&z| i32::from(z) - 128)
        .collect();
    let need_row_sums = (0..pg.groups).any(|g| {
        (0..pg.n_per_group).any(|j| zw[(g * pg.panels_per_group + j / 16) * 16 + j % 16] != 0)
    });
    let plan = gemm_kernel::Plan::new(gemm_kernel::Shape {
        input,
        offsets: rows.offsets,
        rows: rows.rows,
        ks: pg.ks,
        kc: pg.kc,
        kc_pad: pg.kc_pad,
        groups: pg.groups,
        panels_per_group: pg.panels_per_group,
        n_per_group: pg.n_per_group,
        panels: &pg.panels,
        init,
        zw: &zw,
    })
    .expect("the X16 GEMM's sizes are consistent");
    for g in 0..pg.groups {
        let sums = if need_row_sums {
            row_sums(rows, pg.ks, pg.kc, g)
        } else {
            Vec::new()
        };
        plan.run_group(g, &sums, &mut epilogue);
    }
}
