//! `HistogramObserver._non_linear_param_search`: the L2 search for the clipping range
//! (caffe2's `NormMinimization::NonlinearQuantizationParamsSearch`), with PyTorch's mix of
//! `float64` Python scalars and `float32` tensors.

use super::torch_ops::{cumsum, div_floor, sum, CpuModel};

/// What the search reads: the histogram over `[min_val, max_val]` and the number of
/// destination bins (`2^bits` of the dtype).
pub(crate) struct SearchInput<'a> {
    pub histogram: &'a [f32],
    pub min_val: f32,
    pub max_val: f32,
    pub dst_nbins: f64,
    pub cpu: &'a CpuModel,
}

impl SearchInput<'_> {
    /// `_compute_quantization_error(next_start_bin, next_end_bin)`: the L2 error of quantizing
    /// the histogram with `dst_nbins` bins spread over source bins `start..=end`, assuming
    /// values uniform inside each source bin.
    fn quantization_error(&self, start: usize, end: usize) -> f64 {
        let bins = self.histogram.len();
        let bin_width = (f64::from(self.max_val) - f64::from(self.min_val)) / bins as f64;
        let dst_bin_width = bin_width * (end - start + 1) as f64 / self.dst_nbins;
        if dst_bin_width == 0.0 {
            return 0.0;
        }
        let bw = bin_width as f32;
        let dbw = dst_bin_width as f32;
        let half = (dst_bin_width / 2.0) as f32;
        let neg_half = (-dst_bin_width / 2.0) as f32;
        let last = (self.dst_nbins - 1.0) as f32;
        let cube = |v: f32| v * v * v;
        let middle = (cube(half) - cube(neg_half)) / 3.0;
        let norms: Vec<f32> = self
            .histogram
            .iter()
            .enumerate()
            .map(|(i, &h)| {
                let src_begin = (i as i64 - start as i64) as f32 * bw;
                let src_end = src_begin + bw;
                let dst_of_begin = div_floor(src_begin, dbw).clamp(0.0, last);
                let dst_of_begin_center = (dst_of_begin + 0.5) * dbw;
                let dst_of_end = div_floor(src_end, dbw).clamp(0.0, last);
                let density = h / bw;
                let delta_begin = src_begin - dst_of_begin_center;
                let mut norm = density * ((cube(half) - cube(delta_begin)) / 3.0);
                norm += (dst_of_end - dst_of_begin - 1.0) * (density * middle);
                let dst_of_end_center = dst_of_end * dbw + half;
                let delta_end = src_end - dst_of_end_center;
                norm += density * ((cube(delta_end) - cube(neg_half)) / 3.0);
                norm
            })
            .collect();
        f64::from(sum(&norms, self.cpu))
    }

    /// The search: shrink `[start_bin, end_bin]` from whichever side drops more bins per
    /// 1e-5 quantile step, while the error does not grow. Returns the new `(min, max)`.
    pub(crate) fn run(&self) -> (f32, f32) {
        let bins = self.histogram.len();
        let bin_width = (self.max_val - self.min_val) / bins as f32;
        let total = f64::from(sum(self.histogram, self.cpu));
        let csum = cumsum(self.histogram);
        let stepsize = 1e-5f64;
        let (mut alpha, mut beta) = (0.0f64, 1.0f64);
        let (mut start_bin, mut end_bin) = (0usize, bins - 1);
        let mut norm_min = f64::INFINITY;
        while alpha < beta {
            let next_alpha = alpha + stepsize;
            let next_beta = beta - stepsize;
            let lo_target = (next_alpha * total) as f32;
            let hi_target = (next_beta * total) as f32;
            let mut l = start_bin;
            let mut r = end_bin;
            while l < end_bin && csum[l] < lo_target {
                l += 1;
            }
            while r > start_bin && csum[r] > hi_target {
                r -= 1;
            }
            let (mut next_start, mut next_end) = (start_bin, end_bin);
            if (l - start_bin) > (end_bin - r) {
                next_start = l;
                alpha = next_alpha;
            } else {
                next_end = r;
                beta = next_beta;
            }
            if next_start == start_bin && next_end == end_bin {
                continue;
            }
            let norm = self.quantization_error(next_start, next_end);
            if norm > norm_min {
                break;
            }
            norm_min = norm;
            start_bin = next_start;
            end_bin = next_end;
        }
        let new_min = self.min_val + bin_width * start_bin as f32;
        let new_max = self.min_val + bin_width * (end_bin + 1) as f32;
        (new_min, new_max)
    }
}
