//! HistogramObserver against f64 references: binning, re-binning when the range grows, and the
//! L2 search for the clipping range.

mod common;

use common::{reference_qparams, Lcg};
use ndarray::{Array1, ArrayD};
use quantization::{HistogramObserver, MinMaxObserver, Observer, UniformOptions};

fn observer(bins: usize) -> HistogramObserver {
    HistogramObserver::new(bins, UniformOptions::per_tensor()).unwrap()
}

#[test]
fn first_batch_counts_match_exact_binning() {
    // Values at bin centres of [min, max] (plus the two ends), so every bin is unambiguous.
    let (lo, hi, bins) = (-2.0f64, 6.0f64, 32usize);
    let width = (hi - lo) / bins as f64;
    let mut values = vec![lo as f32, hi as f32];
    let mut want = vec![0.0f32; bins];
    want[0] += 1.0;
    want[bins - 1] += 1.0;
    for (k, count) in want.iter_mut().enumerate() {
        for _ in 0..(k % 5) {
            values.push((lo + (k as f64 + 0.5) * width) as f32);
            *count += 1.0;
        }
    }
    let mut obs = observer(bins);
    obs.observe(Array1::from(values).into_dyn().view()).unwrap();
    assert_eq!(obs.histogram(), want.as_slice());
}

#[test]
fn rebinning_keeps_the_mass_and_matches_an_f64_reference() {
    let mut rng = Lcg(5);
    let (bins, up) = (64usize, 16usize);
    let x0 = rng.tensor(&[500], 1.0, 0.0);
    let x1 = rng.tensor(&[300], 3.0, 1.0);
    let mut obs = observer(bins);
    obs.observe(x0.view()).unwrap();
    let first = obs.histogram().to_vec();
    let (a0, b0) = (obs.min_val()[0], obs.max_val()[0]);
    obs.observe(x1.view()).unwrap();
    let (a1, b1) = (obs.min_val()[0], obs.max_val()[0]);
    let total: f32 = obs.histogram().iter().sum();
    assert!((total - 800.0).abs() < 1e-3, "{total}");

    // Reference: old sub-bin mid-points re-binned in f64, new values binned in f64.
    let mut want = vec![0.0f64; bins];
    let (w0, w1) = (
        (f64::from(b0) - f64::from(a0)) / (bins * up) as f64,
        (f64::from(b1) - f64::from(a1)) / bins as f64,
    );
    let bin_of = |v: f64| (((v - f64::from(a1)) / w1).floor() as i64).clamp(0, bins as i64 - 1);
    for (j, w) in (0..bins * up).map(|j| (j, f64::from(first[j / up]) / up as f64)) {
        want[bin_of(f64::from(a0) + (j as f64 + 0.5) * w0) as usize] += w;
    }
    for &v in x1.iter() {
        want[bin_of(f64::from(v)) as usize] += 1.0;
    }
    let diff: f64 = obs
        .histogram()
        .iter()
        .zip(&want)
        .map(|(&g, &w)| (f64::from(g) - w).abs())
        .sum();
    // Only values or mid-points within rounding of a bin edge may land differently.
    assert!(diff <= 2.0, "L1 difference {diff}");
}

#[test]
fn identical_batches_add_up() {
    let mut rng = Lcg(9);
    let x = rng.tensor(&[200], 1.0, 0.0);
    let mut one = observer(128);
    one.observe(x.view()).unwrap();
    let mut three = observer(128);
    for _ in 0..3 {
        three.observe(x.view()).unwrap();
    }
    let tripled: Vec<f32> = one.histogram().iter().map(|h| 3.0 * h).collect();
    assert_eq!(three.histogram(), tripled.as_slice());
}

/// The L2 search written out in f64 (PyTorch's algorithm, without its float32 rounding).
fn reference_search(hist: &[f32], min: f64, max: f64, dst_nbins: f64) -> (f64, f64) {
    let bins = hist.len();
    let bin_width = (max - min) / bins as f64;
    let total: f64 = hist.iter().map(|&h| f64::from(h)).sum();
    let mut csum = Vec::with_capacity(bins);
    let mut acc = 0.0;
    for &h in hist {
        acc += f64::from(h);
        csum.push(acc);
    }
    let error = |s: usize, e: usize| -> f64 {
        let dw = bin_width * (e - s + 1) as f64 / dst_nbins;
        if dw == 0.0 {
            return 0.0;
        }
        let norm = |a: f64, b: f64| (b * b * b - a * a * a) / 3.0;
        (0..bins)
            .map(|i| {
                let b0 = (i as f64 - s as f64) * bin_width;
                let b1 = b0 + bin_width;
                let d0 = (b0 / dw).floor().clamp(0.0, dst_nbins - 1.0);
                let d1 = (b1 / dw).floor().clamp(0.0, dst_nbins - 1.0);
                let density = f64::from(hist[i]) / bin_width;
                density
                    * (norm(b0 - (d0 + 0.5) * dw, dw / 2.0)
                        + (d1 - d0 - 1.0) * norm(-dw / 2.0, dw / 2.0)
                        + norm(-dw / 2.0, b1 - (d1 * dw + dw / 2.0)))
            })
            .sum()
    };
    let (mut alpha, mut beta, mut s, mut e, mut best) = (0.0, 1.0, 0usize, bins - 1, f64::INFINITY);
    while alpha < beta {
        let (na, nb) = (alpha + 1e-5, beta - 1e-5);
        let (mut l, mut r) = (s, e);
        while l < e && csum[l] < na * total {
            l += 1;
        }
        while r > s && csum[r] > nb * total {
            r -= 1;
        }
        let (mut ns, mut ne) = (s, e);
        if l - s > e - r {
            ns = l;
            alpha = na;
        } else {
            ne = r;
            beta = nb;
        }
        if (ns, ne) == (s, e) {
            continue;
        }
        let err = error(ns, ne);
        if err > best {
            break;
        }
        best = err;
        s = ns;
        e = ne;
    }
    (min + bin_width * s as f64, min + bin_width * (e + 1) as f64)
}

#[test]
fn the_search_agrees_with_an_f64_reference_and_stays_inside_min_max() {
    let mut rng = Lcg(21);
    let mut x: Vec<f32> = rng.tensor(&[4000], 1.0, 0.0).iter().copied().collect();
    // A sparse tail of outliers out to 40.
    x.extend((0..40).map(|k| 2.0 + 38.0 * k as f32 / 39.0));
    let x = ArrayD::from_shape_vec(vec![x.len()], x).unwrap();
    let mut obs = observer(2048);
    obs.observe(x.view()).unwrap();
    let q = obs.calculate_qparams().unwrap();
    let (lo, hi) = reference_search(
        obs.histogram(),
        f64::from(obs.min_val()[0]),
        f64::from(obs.max_val()[0]),
        256.0,
    );
    let (s, z) = reference_qparams(lo as f32, hi as f32, 0, 255, false, None, f32::EPSILON);
    assert!(
        ((q.scales[0] - s) / s).abs() < 1e-4,
        "{} vs {s}",
        q.scales[0]
    );
    assert!((q.zero_points.to_f64()[0] - z as f64).abs() <= 1.0);
    // The searched range lies inside [min, max] (PyTorch's search stops at the first error
    // increase, so on such data it clips little: the fixtures' outlier cases show the same).
    let mut mm = MinMaxObserver::new(UniformOptions::per_tensor()).unwrap();
    mm.observe(x.view()).unwrap();
    let mms = mm.calculate_qparams().unwrap().scales[0];
    assert!(q.scales[0] <= mms, "{} vs min/max {mms}", q.scales[0]);
}

#[test]
fn a_constant_input_gives_the_eps_scale() {
    let mut obs = observer(32);
    for _ in 0..2 {
        obs.observe(ArrayD::zeros(vec![3, 4]).view()).unwrap();
    }
    let q = obs.calculate_qparams().unwrap();
    assert_eq!(q.scales, vec![f32::EPSILON]);
    assert_eq!(q.zero_points.to_f64(), vec![0.0]);
    assert_eq!(obs.histogram().iter().sum::<f32>(), 24.0);
}
