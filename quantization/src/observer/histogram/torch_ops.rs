//! The few PyTorch CPU tensor operations `HistogramObserver` is built from, reproduced with
//! their exact `f32` evaluation order: `linspace` (vectorised, split across threads),
//! `histc`, `sum` (cascade summation), `cumsum`, `div(rounding_mode="floor")`, `bucketize`.
//!
//! The order of `f32` operations in PyTorch's vectorised kernels depends on the SIMD width and,
//! for long `linspace`s, on how `parallel_for` splits the work; [`CpuModel`] names both. The
//! default models an AVX-512 machine with several threads. The choice moves a sub-bin mid-point
//! across a bin edge only when the two land within an ulp of each other; the reference fixtures
//! pass with every model (8 or 16 lanes, 1 or many threads).

/// How PyTorch's CPU kernels were laid out on the machine whose numbers we reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuModel {
    /// `Vectorized<float>::size()`: 16 with AVX-512, 8 with AVX2.
    pub lanes: usize,
    /// `at::get_num_threads()` (only matters for `linspace`s longer than 32768 steps).
    pub threads: usize,
}

impl Default for CpuModel {
    fn default() -> Self {
        CpuModel {
            lanes: 16,
            threads: 8,
        }
    }
}

/// `at::internal::GRAIN_SIZE`.
const GRAIN_SIZE: usize = 32768;

/// The `[begin, end)` chunks `at::parallel_for(0, n, GRAIN_SIZE)` hands to its threads.
fn parallel_chunks(n: usize, threads: usize) -> Vec<(usize, usize)> {
    if n <= GRAIN_SIZE || threads <= 1 {
        return vec![(0, n)];
    }
    let tasks = threads.min(n.div_ceil(GRAIN_SIZE));
    let chunk = n.div_ceil(tasks);
    (0..tasks)
        .map(|t| (t * chunk, ((t + 1) * chunk).min(n)))
        .filter(|(b, e)| b < e)
        .collect()
}

/// `torch.linspace(start, end, steps)` in `float32`: the first half counted up from `start`, the
/// second half down from `end`; inside each thread's chunk, pairs of SIMD vectors are filled as
/// `base + k * step` from the vector's first index, the tail element by element.
pub fn linspace(start: f32, end: f32, steps: usize, cpu: &CpuModel) -> Vec<f32> {
    let mut out = vec![0.0f32; steps];
    match steps {
        0 => return out,
        1 => {
            out[0] = start;
            return out;
        }
        _ => {}
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    let at = |idx: usize| -> f32 {
        if idx < halfway {
            start + step * idx as f32
        } else {
            end - step * (steps - idx - 1) as f32
        }
    };
    let w = cpu.lanes.max(1);
    for (b, e) in parallel_chunks(steps, cpu.threads) {
        let len = e - b;
        let mut i = 0;
        while i + 2 * w <= len {
            for v in 0..2 {
                let idx = b + i + v * w;
                let base = at(idx);
                out[idx] = base;
                for k in 1..w {
                    out[idx + k] = base + k as f32 * step;
                }
            }
            i += 2 * w;
        }
        for (idx, o) in out.iter_mut().enumerate().take(e).skip(b + i) {
            *o = at(idx);
        }
    }
    out
}

/// `torch.histc(x, bins, min, max)` on finite `f32` values: bin edges from [`linspace`], the bin
/// of a value found by `(x - edges[0]) * bins / (edges[bins] - edges[0])` in `f32` and
/// truncated, the last bin closed on the right, values outside the edges skipped. If
/// `min == max` the range is the data's (and if that is a single value, `+-1` around it).
pub fn histc(x: &[f32], bins: usize, min: f32, max: f32, cpu: &CpuModel) -> Vec<f32> {
    let (mut lo, mut hi) = (f64::from(min), f64::from(max));
    if lo == hi && !x.is_empty() {
        let (a, b) = x
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        lo = f64::from(a);
        hi = f64::from(b);
    }
    if lo == hi {
        lo -= 1.0;
        hi += 1.0;
    }
    let edges = linspace(lo as f32, hi as f32, bins + 1, cpu);
    let (left, right) = (edges[0], edges[bins]);
    let count = |chunk: &[f32]| {
        let (nb, width) = (bins as f32, right - left);
        let mut counts = vec![0u32; bins];
        for &v in chunk {
            if !(v >= left && v <= right) {
                continue;
            }
            let pos = ((v - left) * nb / width) as usize;
            counts[pos.min(bins - 1)] += 1;
        }
        counts
    };
    // Counts are integers, so splitting the work cannot change the result.
    let counts = if x.len() >= PARALLEL_MIN {
        use rayon::prelude::*;
        x.par_chunks(PARALLEL_MIN / 2).map(count).reduce(
            || vec![0u32; bins],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                a
            },
        )
    } else {
        count(x)
    };
    counts.into_iter().map(|c| c as f32).collect()
}

/// Inputs at least this long are binned on several threads.
const PARALLEL_MIN: usize = 1 << 16;

/// `ceil(log2(x))` as `c10::utils::CeilLog2` (1 for `x <= 2`).
fn ceil_log2(x: usize) -> usize {
    if x <= 2 {
        1
    } else {
        (usize::BITS - (x - 1).leading_zeros()) as usize
    }
}

/// Element `i` of a vector of `lanes`-wide SIMD values stored back to back.
#[inline]
fn element(data: &[f32], lanes: usize, i: usize) -> &[f32] {
    &data[i * lanes..(i + 1) * lanes]
}

#[inline]
fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

/// PyTorch's `multi_row_sum` with 4 columns of `lanes`-wide accumulators over the first
/// `rows * 4` elements of `data`: rows are added into a first-level accumulator, which is flushed
/// into higher levels every `2^level_power` rows. Returns the 4 column sums.
fn multi_row_sum(data: &[f32], lanes: usize, rows: usize) -> [Vec<f32>; 4] {
    const LEVELS: usize = 4;
    let level_power = 4.max(ceil_log2(rows) / LEVELS);
    let level_step = 1usize << level_power;
    let level_mask = level_step - 1;
    let zero = || std::array::from_fn::<Vec<f32>, 4, _>(|_| vec![0.0f32; lanes]);
    let mut acc: [[Vec<f32>; 4]; LEVELS] = std::array::from_fn(|_| zero());
    let mut i = 0usize;
    while i + level_step <= rows {
        for _ in 0..level_step {
            for (k, a) in acc[0].iter_mut().enumerate() {
                add_into(a, element(data, lanes, i * 4 + k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            let (lower, upper) = acc.split_at_mut(j);
            for (dst, src) in upper[0].iter_mut().zip(lower[j - 1].iter_mut()) {
                add_into(dst, src);
                src.iter_mut().for_each(|v| *v = 0.0);
            }
            if i & (level_mask << (j * level_power)) != 0 {
                break;
            }
        }
    }
    while i < rows {
        for (k, a) in acc[0].iter_mut().enumerate() {
            add_into(a, element(data, lanes, i * 4 + k));
        }
        i += 1;
    }
    let [mut first, rest @ ..] = acc;
    for level in rest {
        for (f, l) in first.iter_mut().zip(level) {
            add_into(f, &l);
        }
    }
    first
}

/// `row_sum` over the `size` elements of `data`: `multi_row_sum` over groups of 4, the leftover
/// elements added to the first column, then the columns folded into the first.
fn row_sum(data: &[f32], lanes: usize, size: usize) -> Vec<f32> {
    let size_ilp = size / 4;
    let [mut head, c1, c2, c3] = multi_row_sum(data, lanes, size_ilp);
    for i in size_ilp * 4..size {
        add_into(&mut head, element(data, lanes, i));
    }
    for c in [c1, c2, c3] {
        add_into(&mut head, &c);
    }
    head
}

/// `tensor.sum()` of a contiguous `float32` vector, accumulated in `float32` in PyTorch's
/// order (vectorised cascade sum, then the tail, then the vector lanes).
pub fn sum(v: &[f32], cpu: &CpuModel) -> f32 {
    let w = cpu.lanes.max(1);
    if v.len() < w {
        return row_sum(v, 1, v.len())[0];
    }
    let vec_count = v.len() / w;
    let lanes = row_sum(v, w, vec_count);
    let mut total = 0.0f32;
    for &x in &v[vec_count * w..] {
        total += x;
    }
    for l in lanes {
        total += l;
    }
    total
}

/// `torch.cumsum` of a `float32` vector: accumulated in `f64`, stored as `f32`.
pub fn cumsum(v: &[f32]) -> Vec<f32> {
    let mut acc = 0.0f64;
    v.iter()
        .map(|&x| {
            acc += f64::from(x);
            acc as f32
        })
        .collect()
}

/// `torch.div(a, b, rounding_mode="floor")` for `float32` (`c10::div_floor_floating`).
#[inline]
pub fn div_floor(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut fd = div.floor();
        if div - fd > 0.5 {
            fd += 1.0;
        }
        fd
    } else {
        0.0f32.copysign(a / b)
    }
}

/// `torch.bucketize(x, boundaries, right=True)`: the binary search of PyTorch's
/// `cus_upper_bound` (the number of leading boundaries `<= x` when they are sorted).
#[inline]
pub fn upper_bound(boundaries: &[f32], x: f32) -> usize {
    let (mut start, mut end) = (0usize, boundaries.len());
    while start < end {
        let mid = start + ((end - start) >> 1);
        if boundaries[mid] <= x {
            start = mid + 1;
        } else {
            end = mid;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_once() {
        for (n, t) in [(10, 4), (32769, 2), (32769, 8), (100_000, 3), (65536, 1)] {
            let c = parallel_chunks(n, t);
            assert_eq!(c.first().unwrap().0, 0);
            assert_eq!(c.last().unwrap().1, n);
            assert!(c.windows(2).all(|w| w[0].1 == w[1].0));
        }
        assert_eq!(parallel_chunks(32769, 8), vec![(0, 16385), (16385, 32769)]);
    }

    #[test]
    fn linspace_is_close_to_the_exact_progression() {
        let cpu = CpuModel::default();
        for steps in [2, 3, 17, 33, 257, 2049, 32769] {
            let v = linspace(-3.25, 7.5, steps, &cpu);
            assert_eq!(v[0], -3.25);
            assert_eq!(v[steps - 1], 7.5);
            for (i, &x) in v.iter().enumerate() {
                let exact = -3.25 + 10.75 * i as f64 / (steps - 1) as f64;
                assert!(
                    (f64::from(x) - exact).abs() < 1e-5,
                    "{steps} {i} {x} {exact}"
                );
            }
        }
    }

    #[test]
    fn sum_matches_f64_sum_on_integers() {
        let cpu = CpuModel::default();
        for n in [0usize, 1, 15, 16, 17, 63, 64, 65, 2048, 5000] {
            let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
            let exact: f64 = v.iter().map(|&x| f64::from(x)).sum();
            assert_eq!(f64::from(sum(&v, &cpu)), exact, "n={n}");
        }
    }

    #[test]
    fn div_floor_is_floor_of_quotient() {
        for (a, b) in [
            (7.0f32, 2.0f32),
            (-7.0, 2.0),
            (7.5, -2.0),
            (0.0, 3.0),
            (6.0, 3.0),
        ] {
            assert_eq!(
                div_floor(a, b),
                (f64::from(a) / f64::from(b)).floor() as f32
            );
        }
    }

    #[test]
    fn histc_counts_every_value_in_range() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let h = histc(&x, 64, -3.0, 3.0, &CpuModel::default());
        assert_eq!(h.iter().sum::<f32>(), 1000.0);
        let h = histc(&[2.0, 2.0], 4, 2.0, 2.0, &CpuModel::default());
        assert_eq!(h, vec![0.0, 0.0, 2.0, 0.0]);
    }
}
