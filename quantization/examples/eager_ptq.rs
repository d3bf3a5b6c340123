//! Eager-mode post-training static quantization of a user's own CNN, end to end: train it on the
//! vendored handwritten digits, fuse, prepare, calibrate, convert, and compare the int8 model
//! with the float one (accuracy, weight size, inference time) on both engines:
//! `cargo run --release -p quantization --example eager_ptq`.

use std::time::Instant;

use nn::data::{default_digits_path, load_digits, Dataset};
use nn::functional::{cross_entropy, Reduction};
use nn::optim::{Adam, AdamConfig, Optimizer};
use nn::prelude::*;
use nn::{
    BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, Flatten, Linear, MaxPool2d, QuantStub, ReLU,
};
use qtensor::{Engine, QParams, QTensor};
use quantization::eager::{convert, fuse_modules, prepare, QConfigMapping, QuantMapping};
use quantization::{get_default_qconfig, Backend};

/// The model: two conv-bn-relu blocks, a max pool and a linear classifier, between the stubs
/// that mark where quantization starts and ends.
#[derive(Module)]
struct DigitsCnn {
    quant: Child,
    conv1: Child,
    bn1: Child,
    relu1: Child,
    conv2: Child,
    bn2: Child,
    relu2: Child,
    pool: Child,
    flatten: Child,
    fc: Child,
    dequant: Child,
}

impl DigitsCnn {
    fn new() -> nn::Result<DigitsCnn> {
        let conv = |i, o| Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1));
        Ok(DigitsCnn {
            quant: Child::new(QuantStub::new()),
            conv1: Child::new(conv(1, 16)?),
            bn1: Child::new(BatchNorm2d::new(16)),
            relu1: Child::new(ReLU::new()),
            conv2: Child::new(conv(16, 32)?),
            bn2: Child::new(BatchNorm2d::new(32)),
            relu2: Child::new(ReLU::new()),
            pool: Child::new(MaxPool2d::new(2)?),
            flatten: Child::new(Flatten::new()),
            fc: Child::new(Linear::new(32 * 4 * 4, 10, true)),
            dequant: Child::new(DeQuantStub::new()),
        })
    }
}

impl nn::Forward for DigitsCnn {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = self.quant.forward(x)?;
        let x = self
            .relu1
            .forward(self.bn1.forward(self.conv1.forward(x)?)?)?;
        let x = self
            .relu2
            .forward(self.bn2.forward(self.conv2.forward(x)?)?)?;
        let x = self.flatten.forward(self.pool.forward(x)?)?;
        let x = self.fc.forward(x)?;
        self.dequant.forward(x)
    }
}

fn accuracy(model: &mut DigitsCnn, data: &Dataset) -> nn::Result<f64> {
    let idx: Vec<usize> = (0..data.len()).collect();
    let (x, labels) = data.batch(&idx)?;
    let logits = nn::no_grad(|| model.forward(Value::Float(x)))?.into_float("accuracy")?;
    let pred = logits.argmax(1)?;
    let correct = pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

fn train(model: &mut DigitsCnn, data: &Dataset, epochs: usize) -> nn::Result<()> {
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 3e-3,
            ..Default::default()
        },
    )?;
    let mut rng = nn::Rng::new(7);
    model.train(true);
    for _ in 0..epochs {
        for b in data.batches(32, &mut rng) {
            let (x, y) = data.batch(&b)?;
            let logits = model.forward(Value::Float(x))?.into_float("train")?;
            let loss = cross_entropy(&logits, &y, Reduction::Mean)?;
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
        }
    }
    model.eval();
    Ok(())
}

/// Bytes of the float model's state (parameters and buffers), as `torch.save(state_dict)`
/// stores them without the container overhead.
fn float_bytes(model: &DigitsCnn) -> usize {
    let sd = model.state_dict();
    sd.iter()
        .map(|(_, t)| {
            t.shape().iter().product::<usize>()
                * match t {
                    nn::StateTensor::F32(_) => 4,
                    nn::StateTensor::I64(_) => 8,
                }
        })
        .sum()
}

/// Bytes of a quantized weight as PyTorch serializes it: int8 values plus a double scale and
/// an int64 zero point per channel (or one pair per tensor).
fn qweight_bytes(w: &QTensor) -> usize {
    let pairs = match w.qparams() {
        QParams::PerTensor { .. } => 1,
        QParams::PerChannel { scales, .. } => scales.len(),
        QParams::PerChannelFloat { scales, .. } => scales.len(),
    };
    w.len() + pairs * 16
}

/// Bytes of the converted model: quantized weights, float biases, and each module's output
/// scale (double) and zero point (int64).
fn int8_bytes(model: &DigitsCnn) -> usize {
    let mut total = 0;
    for (_, m) in model.named_modules() {
        let (w, b) = if let Some(c) = m.downcast_ref::<nn_intrinsic::quantized::ConvReLU2d>() {
            (c.core().weight(), c.core().bias())
        } else if let Some(l) = m.downcast_ref::<nn_quantized::Linear>() {
            (l.weight(), l.bias())
        } else if m.is::<nn_quantized::Quantize>() {
            total += 16;
            continue;
        } else {
            continue;
        };
        total += qweight_bytes(w) + b.map_or(0, |b| b.len() * 4) + 16;
    }
    total
}

/// Median wall time of `reps` forward passes over `x`.
fn time_forward(model: &mut DigitsCnn, x: &nn::Tensor, reps: usize) -> nn::Result<f64> {
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t0 = Instant::now();
        nn::no_grad(|| model.forward(Value::Float(x.clone())))?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[reps / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    nn::manual_seed(0);
    let all = load_digits(default_digits_path())?;
    let (train_set, test_set) = all.split(0.2, 42)?;
    let mut float_model = DigitsCnn::new()?;
    let t0 = Instant::now();
    train(&mut float_model, &train_set, 8)?;
    let state = float_model.state_dict();
    let float_acc = accuracy(&mut float_model, &test_set)?;
    println!(
        "float model: trained in {:.1} s, held-out accuracy {:.2}% ({} examples), {} bytes of state",
        t0.elapsed().as_secs_f64(),
        float_acc * 100.0,
        test_set.len(),
        float_bytes(&float_model)
    );
    let idx: Vec<usize> = (0..test_set.len()).collect();
    let (test_x, _) = test_set.batch(&idx)?;
    let float_time = time_forward(&mut float_model, &test_x, 50)?;

    for (engine, backend) in [
        (Engine::Fbgemm, Backend::Fbgemm),
        (Engine::Qnnpack, Backend::Qnnpack),
    ] {
        if qtensor::set_engine(engine).is_err() {
            println!("{engine}: skipped (not supported in this build)");
            continue;
        }
        // A fresh copy of the trained float model.
        let mut model = DigitsCnn::new()?;
        model.load_state_dict(&state, true)?;
        model.eval();
        fuse_modules(
            &mut model,
            &[&["conv1", "bn1", "relu1"], &["conv2", "bn2", "relu2"]],
        )?;
        let mapping = QuantMapping::default_static();
        let spec = QConfigMapping::global(get_default_qconfig(backend));
        prepare(&mut model, &spec, &mapping)?;
        // Calibrate on 256 training images.
        let cal: Vec<usize> = (0..train_set.len().min(256)).collect();
        for chunk in cal.chunks(64) {
            let (x, _) = train_set.batch(chunk)?;
            model.forward(Value::Float(x))?;
        }
        let report = convert(&mut model, &mapping)?;
        for n in &report.notices {
            println!("  notice: {n}");
        }
        let acc = accuracy(&mut model, &test_set)?;
        let bytes = int8_bytes(&model);
        let t = time_forward(&mut model, &test_x, 50)?;
        println!(
            "{engine}: int8 accuracy {:.2}% ({:+.2} points), {} bytes ({:.2}x smaller), \
             inference on {} images {:.2} ms vs float {:.2} ms ({:.2}x)",
            acc * 100.0,
            (acc - float_acc) * 100.0,
            bytes,
            float_bytes(&float_model) as f64 / bytes as f64,
            test_set.len(),
            t * 1e3,
            float_time * 1e3,
            float_time / t
        );
    }
    println!("\nconverted model:\n{}", {
        let mut m = DigitsCnn::new()?;
        m.load_state_dict(&state, true)?;
        m.eval();
        fuse_modules(
            &mut m,
            &[&["conv1", "bn1", "relu1"], &["conv2", "bn2", "relu2"]],
        )?;
        let mapping = QuantMapping::default_static();
        prepare(
            &mut m,
            &QConfigMapping::global(get_default_qconfig(Backend::Qnnpack)),
            &mapping,
        )?;
        let (x, _) = train_set.batch(&(0..64).collect::<Vec<_>>())?;
        m.forward(Value::Float(x))?;
        convert(&mut m, &mapping)?;
        m.repr()
    });
    Ok(())
}
