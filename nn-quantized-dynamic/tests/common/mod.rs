//! Shared test helpers: engine selection under a lock, a test weight quantizer (PyTorch's
//! MinMax symmetric qint8 observer written out), deterministic data, float reference modules.

#![allow(dead_code)]

pub mod float_rnn;

use std::collections::BTreeMap;
use std::sync::Mutex;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use nn_quantized_dynamic::{WeightDType, WeightQuantizer};
use qtensor::{quantize_per_channel, quantize_per_tensor, Engine, QDType, QTensor};

static ENGINE: Mutex<()> = Mutex::new(());

/// Runs `f` with `engine` current, holding a lock so that tests running in parallel do not
/// pack for each other's engine (modules remember the engine they were built under).
pub fn with_engine<T>(engine: Engine, f: impl FnOnce() -> T) -> T {
    let _guard = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    qtensor::set_engine(engine).expect("engine");
    f()
}

/// The engines this build runs.
pub fn engines() -> Vec<Engine> {
    qtensor::supported_engines().to_vec()
}

/// `MinMaxObserver(qint8, per_tensor_symmetric)` / `PerChannelMinMaxObserver(ch_axis=0,
/// per_channel_symmetric)` written out: `scale = max(-min, max) / 127.5` (range widened to
/// include 0, at least `f32::EPSILON`), zero point 0. Or float16 storage.
#[derive(Debug, Clone, Copy)]
pub enum TestQuantizer {
    /// Per-tensor symmetric qint8.
    PerTensor,
    /// Per-channel (axis 0) symmetric qint8.
    PerChannel,
    /// Float16 weights.
    Float16,
    /// A quantizer whose observer fails.
    Failing,
}

fn symmetric_scale(values: impl Iterator<Item = f32>) -> f64 {
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    f64::from(((-lo).max(hi) / 127.5).max(f32::EPSILON))
}

impl WeightQuantizer for TestQuantizer {
    fn weight_dtype(&self) -> Result<WeightDType, String> {
        match self {
            TestQuantizer::Float16 => Ok(WeightDType::Float16),
            _ => Ok(WeightDType::QInt8),
        }
    }

    fn quantize_weight(&self, w: ArrayViewD<'_, f32>) -> Result<QTensor, String> {
        match self {
            TestQuantizer::PerTensor => {
                let s = symmetric_scale(w.iter().copied());
                quantize_per_tensor(w, s, 0, QDType::QInt8).map_err(|e| e.to_string())
            }
            TestQuantizer::PerChannel => {
                let scales: Vec<f64> = w
                    .axis_iter(Axis(0))
                    .map(|row| symmetric_scale(row.iter().copied()))
                    .collect();
                let zps = vec![0i64; scales.len()];
                quantize_per_channel(w, &scales, &zps, 0, QDType::QInt8).map_err(|e| e.to_string())
            }
            TestQuantizer::Float16 => Err("float16 has no qint8 weights".into()),
            TestQuantizer::Failing => Err("observer exploded".into()),
        }
    }
}

/// A small deterministic generator (64-bit LCG) for test data.
pub struct Lcg(u64);

impl Lcg {
    /// Seeded generator.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (self.0 >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    /// An array of `shape` uniform in `[lo, hi)`.
    pub fn array(&mut self, shape: &[usize], lo: f32, hi: f32) -> ArrayD<f32> {
        let n = shape.iter().product();
        let v = (0..n).map(|_| self.uniform(lo, hi)).collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape")
    }
}

/// Float RNN weights by PyTorch name for `gates * hidden` rows, PyTorch's init range.
pub fn rnn_weights(
    rng: &mut Lcg,
    gates: usize,
    input: usize,
    hidden: usize,
    layers: usize,
    bidirectional: bool,
    bias: bool,
) -> BTreeMap<String, ArrayD<f32>> {
    let k = 1.0 / (hidden as f32).sqrt();
    let dirs = if bidirectional { 2 } else { 1 };
    let mut sd = BTreeMap::new();
    for l in 0..layers {
        for d in 0..dirs {
            let suffix = if d == 1 { "_reverse" } else { "" };
            let cols = if l == 0 { input } else { hidden * dirs };
            sd.insert(
                format!("weight_ih_l{l}{suffix}"),
                rng.array(&[gates * hidden, cols], -k, k),
            );
            sd.insert(
                format!("weight_hh_l{l}{suffix}"),
                rng.array(&[gates * hidden, hidden], -k, k),
            );
            if bias {
                sd.insert(
                    format!("bias_ih_l{l}{suffix}"),
                    rng.array(&[gates * hidden], -k, k),
                );
                sd.insert(
                    format!("bias_hh_l{l}{suffix}"),
                    rng.array(&[gates * hidden], -k, k),
                );
            }
        }
    }
    sd
}

/// Cell weights (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`).
pub fn cell_weights(
    rng: &mut Lcg,
    gates: usize,
    input: usize,
    hidden: usize,
    bias: bool,
) -> BTreeMap<String, ArrayD<f32>> {
    rnn_weights(rng, gates, input, hidden, 1, false, bias)
        .into_iter()
        .map(|(k, v)| (k.trim_end_matches("_l0").to_string(), v))
        .collect()
}

/// Bit patterns, for exact comparisons that treat `-0.0` and `0.0` as different.
pub fn bits(a: &ArrayD<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

/// The largest absolute difference.
pub fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
