//! `HistogramObserver`: a running histogram of everything observed, re-binned when the range
//! grows, and an L2 search for the clipping range when parameters are asked for.

mod search;
pub mod torch_ops;

use std::any::Any;

use ndarray::ArrayViewD;
use qtensor::QScheme;

use super::minmax::uniform_rule;
use super::qparams::{QParamsRule, UniformOptions};
use super::{scan, Observation, Observer, QParamsOut};
use crate::{DType, QuantError};
use search::SearchInput;
use torch_ops::{histc, linspace, sum, upper_bound, CpuModel};

/// Running histogram over `[min_val, max_val]` (`bins` bins, PyTorch's default 2048). When a
/// batch widens the range, the old histogram is upsampled `upsample_rate` times (default 16) and
/// its sub-bin mid-points re-assigned to the new bins, as PyTorch's `_combine_histograms`.
#[derive(Debug, Clone)]
pub struct HistogramObserver {
    rule: QParamsRule,
    bins: usize,
    upsample_rate: usize,
    dst_nbins: f64,
    cpu: CpuModel,
    histogram: Vec<f32>,
    range: Option<(f32, f32)>,
}

impl HistogramObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "HistogramObserver";

    /// PyTorch's default number of bins.
    pub const DEFAULT_BINS: usize = 2048;

    /// PyTorch's (fixed) upsample rate.
    pub const DEFAULT_UPSAMPLE_RATE: usize = 16;

    /// A fresh observer with `bins` bins (>= 1); per-tensor schemes only.
    pub fn new(bins: usize, opts: UniformOptions) -> Result<Self, QuantError> {
        if bins == 0 {
            return Err(QuantError::BadArgument {
                observer: Self::NAME,
                arg: "bins",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        let rule = uniform_rule(&opts, Self::NAME, false)?;
        Ok(HistogramObserver {
            rule,
            bins,
            upsample_rate: Self::DEFAULT_UPSAMPLE_RATE,
            dst_nbins: 2f64.powi(opts.dtype.bits() as i32),
            cpu: CpuModel::default(),
            histogram: vec![0.0; bins],
            range: None,
        })
    }

    /// Sets the upsample rate used when re-binning (>= 1; PyTorch fixes it at 16).
    pub fn with_upsample_rate(mut self, rate: usize) -> Result<Self, QuantError> {
        if rate == 0 {
            return Err(QuantError::BadArgument {
                observer: Self::NAME,
                arg: "upsample_rate",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        self.upsample_rate = rate;
        Ok(self)
    }

    /// Sets the model of PyTorch's CPU kernels whose rounding is reproduced (see [`CpuModel`]).
    pub fn with_cpu_model(mut self, cpu: CpuModel) -> Self {
        self.cpu = cpu;
        self
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// The upsample rate.
    pub fn upsample_rate(&self) -> usize {
        self.upsample_rate
    }

    /// The histogram (`bins` counts over `[min_val, max_val]`; fractional after re-binning).
    pub fn histogram(&self) -> &[f32] {
        &self.histogram
    }

    /// The rule that turns the searched range into parameters.
    pub fn rule(&self) -> &QParamsRule {
        &self.rule
    }

    /// `_upscale_histogram`: the old histogram split into `upsample_rate` equal sub-bins whose
    /// mid-points are re-assigned to the bins of `[new_min, new_max]`.
    fn upscale(&self, orig: (f32, f32), new: (f32, f32)) -> Vec<f32> {
        let (bins, up) = (self.bins, self.upsample_rate);
        let fine = bins * up;
        let bin_size = (orig.1 - orig.0) / fine as f32;
        let half = 0.5 * bin_size;
        let mids = linspace(orig.0, orig.1, fine + 1, &self.cpu);
        let bounds = linspace(new.0, new.1, bins + 1, &self.cpu);
        let mut out = vec![0.0f32; bins];
        for (j, &m) in mids[..fine].iter().enumerate() {
            let weight = self.histogram[j / up] / up as f32;
            let b = (upper_bound(&bounds, m + half) as i64 - 1).clamp(0, bins as i64 - 1);
            out[b as usize] += weight;
        }
        out
    }

    /// `_combine_histograms` of the stored histogram (over `orig`) with `update` (over `new`).
    fn combine(&self, orig: (f32, f32), update: Vec<f32>, new: (f32, f32)) -> Vec<f32> {
        if orig == new {
            return add(&self.histogram, &update);
        }
        let moved = if orig.0 == orig.1 {
            let bin_value = sum(&self.histogram, &self.cpu);
            histc(&[orig.0], self.bins, new.0, new.1, &self.cpu)
                .into_iter()
                .map(|h| h * bin_value)
                .collect()
        } else {
            self.upscale(orig, new)
        };
        add(&moved, &update)
    }
}

fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

impl Observer for HistogramObserver {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        let (cur, obs) = scan::min_max(&x, Self::NAME)?;
        let Some((x_min, x_max)) = cur else {
            return Ok(obs);
        };
        let owned: Vec<f32>;
        let values: &[f32] = match x.as_slice_memory_order() {
            Some(s) if obs.infinities_ignored == 0 => s,
            _ => {
                owned = x.iter().copied().filter(|v| v.is_finite()).collect();
                &owned
            }
        };
        match self.range {
            None => {
                self.histogram = histc(values, self.bins, x_min, x_max, &self.cpu);
                self.range = Some((x_min, x_max));
            }
            Some(orig) => {
                let new = (orig.0.min(x_min), orig.1.max(x_max));
                let update = histc(values, self.bins, new.0, new.1, &self.cpu);
                self.histogram = self.combine(orig, update, new);
                self.range = Some(new);
            }
        }
        Ok(obs)
    }

    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
        let Some((min_val, max_val)) = self.range else {
            return Ok(self.rule.fallback());
        };
        let (lo, hi) = SearchInput {
            histogram: &self.histogram,
            min_val,
            max_val,
            dst_nbins: self.dst_nbins,
            cpu: &self.cpu,
        }
        .run();
        Ok(self.rule.calculate(&[lo], &[hi], None))
    }

    fn reset(&mut self) {
        self.histogram = vec![0.0; self.bins];
        self.range = None;
    }

    fn min_val(&self) -> Vec<f32> {
        vec![self.range.map_or(f32::INFINITY, |r| r.0)]
    }

    fn max_val(&self) -> Vec<f32> {
        vec![self.range.map_or(f32::NEG_INFINITY, |r| r.1)]
    }

    fn dtype(&self) -> DType {
        self.rule.dtype
    }

    fn qscheme(&self) -> QScheme {
        self.rule.qscheme
    }

    fn quant_range(&self) -> Option<(i64, i64)> {
        Some((self.rule.range.quant_min, self.rule.range.quant_max))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
