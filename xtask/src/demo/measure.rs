//! What the demo reports for each model: accuracy, weight bytes, latency.

use std::time::Instant;

use nn::data::Dataset;
use nn::{Module, StateTensor, Tensor, Value};
use qtensor::{QParams, QTensor};

/// Fraction of `data` classified correctly.
pub fn accuracy(model: &mut dyn Module, data: &Dataset) -> nn::Result<f64> {
    let idx: Vec<usize> = (0..data.len()).collect();
    let (x, labels) = data.batch(&idx)?;
    let logits = nn::no_grad(|| model.forward(Value::Float(x)))?.into_float("accuracy")?;
    let pred = logits.argmax(1)?;
    let correct = pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// Median seconds of a forward pass over `x`, after one warm-up pass.
pub fn latency(model: &mut dyn Module, x: &Tensor, reps: usize) -> nn::Result<f64> {
    nn::no_grad(|| model.forward(Value::Float(x.clone())))?;
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t0 = Instant::now();
            nn::no_grad(|| model.forward(Value::Float(x.clone())))
                .map(|_| t0.elapsed().as_secs_f64())
        })
        .collect::<nn::Result<_>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Bytes of a quantized weight as stored: its integers plus an f64 scale and i64 zero point per
/// channel (one pair per tensor).
fn qweight_bytes(w: &QTensor) -> usize {
    let pairs = match w.qparams() {
        QParams::PerTensor { .. } => 1,
        QParams::PerChannel { scales, .. } => scales.len(),
        QParams::PerChannelFloat { scales, .. } => scales.len(),
    };
    w.len() * (w.dtype().bits() as usize / 8) + pairs * 16
}

/// Bytes of the model's weights: float parameters and buffers at their stored width, quantized
/// modules' int8 weights with their parameters, float biases, and output scale / zero point.
pub fn weight_bytes(model: &dyn Module) -> usize {
    let float: usize = model
        .state_dict()
        .iter()
        .map(|(_, t)| {
            t.shape().iter().product::<usize>()
                * match t {
                    StateTensor::F32(_) => 4,
                    StateTensor::I64(_) => 8,
                }
        })
        .sum();
    let quantized: usize = model
        .named_modules()
        .into_iter()
        .filter_map(|(_, m)| quantized_weight(m))
        .map(|(w, b)| qweight_bytes(w) + b.map_or(0, |b| b.len() * 4) + 16)
        .sum();
    float + quantized
}

/// The quantized weight and float bias of a converted module, if it has one.
fn quantized_weight(m: &dyn Module) -> Option<(&QTensor, Option<&[f32]>)> {
    if let Some(c) = m.downcast_ref::<nn_intrinsic::quantized::ConvReLU2d>() {
        return Some((c.core().weight(), c.core().bias()));
    }
    if let Some(c) = m.downcast_ref::<nn_quantized::Conv2d>() {
        return Some((c.core().weight(), c.core().bias()));
    }
    if let Some(l) = m.downcast_ref::<nn_intrinsic::quantized::LinearReLU>() {
        return Some((l.linear().weight(), l.linear().bias()));
    }
    if let Some(l) = m.downcast_ref::<nn_quantized::Linear>() {
        return Some((l.weight(), l.bias()));
    }
    if let Some(l) = m.downcast_ref::<nn_quantized_dynamic::Linear>() {
        if let nn_quantized_dynamic::DynamicWeight::QInt8(w) = l.weight() {
            return Some((w, l.bias()));
        }
    }
    None
}
