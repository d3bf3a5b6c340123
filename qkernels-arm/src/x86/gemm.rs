//! The `X16` GEMM/convolution driver: gives the input slack when the last row would read past
//! it, computes row sums when a weight zero point is not 0, checks everything once in a
//! [`Plan`] and runs the tiles of each group.

pub(crate) use super::plan::Epilogue;
use super::plan::{Plan, Shape};
use super::Isa;
use crate::gemm::{PackedGemm, Rows};
use qtensor::threads::for_each_chunk_mut;

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

/// Runs `pg` (packed `X16`) over `rows` with `isa`'s tiles, starting every channel at
/// `init[slot]`.
///
/// Panics if the sizes are inconsistent (callers build them; a mismatch is a bug here).
pub(crate) fn run(isa: Isa, pg: &PackedGemm, rows: &Rows, init: &[i32], epilogue: Epilogue) {
    const PARALLEL_WORK: usize = 1 << 19;
    let slots = pg.groups * pg.panels_per_group * 16;
    assert!(pg.nr == 16 && pg.wzp.len() >= slots);
    let (m, n) = (rows.rows, pg.out_channels());
    if m == 0 || n == 0 {
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
    let job = Job {
        isa,
        pg,
        init,
        zw: &zw,
        need_row_sums: zw.iter().any(|&z| z != 0),
    };
    let rows = Rows {
        input,
        offsets: rows.offsets,
        rows: m,
    };
    let threads = qtensor::threads::num_threads();
    if threads == 1 || m <= 16 || m * n * pg.ks * pg.kc < PARALLEL_WORK {
        return job.run_rows(&rows, epilogue);
    }
    // Output rows split between the threads, one contiguous run each; every tile is computed
    // as on one thread, so the results do not depend on the thread count.
    let per = m.div_ceil(threads).next_multiple_of(8);
    let run_part = |i: usize, ep: Epilogue| {
        let (r0, r1) = (i * per, ((i + 1) * per).min(m));
        let part = Rows {
            input,
            offsets: rows.offsets.part(r0 * pg.ks..r1 * pg.ks),
            rows: r1 - r0,
        };
        job.run_rows(&part, ep);
    };
    match epilogue {
        Epilogue::Requant {
            scales,
            zero_point,
            min,
            max,
            out,
        } => for_each_chunk_mut(&mut out[..m * n], per * n, |i, out| {
            let ep = Epilogue::Requant {
                scales,
                zero_point,
                min,
                max,
                out,
            };
            run_part(i, ep);
        }),
        Epilogue::Float {
            multipliers,
            bias,
            out,
        } => for_each_chunk_mut(&mut out[..m * n], per * n, |i, out| {
            let ep = Epilogue::Float {
                multipliers,
                bias,
                out,
            };
            run_part(i, ep);
        }),
    }
}

/// What every part of one call shares: the weights, start values and weight zero points
/// (computed once per call, not per part).
struct Job<'a> {
    isa: Isa,
    pg: &'a PackedGemm,
    init: &'a [i32],
    zw: &'a [i32],
    need_row_sums: bool,
}

impl Job<'_> {
    /// The rows of `rows` (whose input has the slack every step needs) on the calling thread.
    fn run_rows(&self, rows: &Rows, mut epilogue: Epilogue) {
        let pg = self.pg;
        let plan = Plan::new(
            self.isa,
            Shape {
                input: rows.input,
                offsets: rows.offsets,
                rows: rows.rows,
                ks: pg.ks,
                kc: pg.kc,
                kc_pad: pg.kc_pad,
                groups: pg.groups,
                panels_per_group: pg.panels_per_group,
                n_per_group: pg.n_per_group,
                panels: &pg.panels,
                init: self.init,
                zw: self.zw,
            },
        )
        .expect("the X16 GEMM's sizes are consistent");
        for g in 0..pg.groups {
            let sums = if self.need_row_sums {
                row_sums(rows, pg.ks, pg.kc, g)
            } else {
                Vec::new()
            };
            plan.run_group(g, &sums, &mut epilogue);
        }
    }
}
