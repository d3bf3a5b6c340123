//! Quantization-aware training of a user's CNN on the vendored handwritten digits, against
//! post-training quantization, at 8-bit and at 4-bit weights:
//! `cargo run --release -p quantization --example qat_digits`.
//!
//! For each of a few float models (training seeds):
//!
//! 1. Train the float model.
//! 2. PTQ: fuse, prepare, calibrate on 256 training images, convert to int8 (fbgemm engine).
//! 3. QAT: from the same float weights, fuse for QAT, `prepare_qat`, fine-tune with fake
//!    quantization (batch-norm statistics frozen for the last two epochs and observers
//!    disabled for the last one, as PyTorch's QAT tutorial does), `convert_qat` to int8.
//! 4. Both again with 4-bit weights (per-tensor symmetric, integer range -8..7; activations
//!    stay 8-bit), and with 2-bit weights (-2..1) as a stress test.
//!
//! Every accuracy reported for a quantized model is that of the converted model running the
//! int8 kernels, on the 359 held-out images (one image is 0.28 points).

use std::time::Instant;

use nn::data::{default_digits_path, load_digits, Dataset};
use nn::functional::{cross_entropy, Reduction};
use nn::optim::{Adam, AdamConfig, Optimizer};
use nn::prelude::*;
use nn::{
    BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, Flatten, Linear, MaxPool2d, QuantStub, ReLU,
    StateDict,
};
use qtensor::{QData, QScheme, QTensor};
use quantization::eager::{
    convert, fuse_modules, fuse_modules_qat, prepare, EagerError, FromFloatCtx, QConfigMapping,
    QuantMapping,
};
use quantization::qat::{convert_mapping, convert_qat, disable_observer, freeze_bn_stats};
use quantization::qat::{prepare_qat, QatMapping};
use quantization::{
    get_default_qat_qconfig, get_default_qconfig, Backend, DType, FakeQuantizeSpec, ObserverSpec,
    PostProcess, QConfig, QConfigEntry, UniformOptions,
};

/// Two conv-bn-relu blocks, a max pool and a linear classifier, between the stubs.
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

    /// A fresh model holding `state`.
    fn from_state(state: &StateDict) -> nn::Result<DigitsCnn> {
        let mut m = DigitsCnn::new()?;
        m.load_state_dict(state, true)?;
        Ok(m)
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

/// Fine-tuning: epochs and Adam's learning rate (a tenth of the float training's).
const QAT_EPOCHS: usize = 3;
const QAT_LR: f64 = 3e-4;

/// Float models (training seeds) the comparison is averaged over.
const SEEDS: [u64; 5] = [0, 1, 2, 3, 4];

const BLOCKS: [&[&str]; 2] = [&["conv1", "bn1", "relu1"], &["conv2", "bn2", "relu2"]];

fn accuracy(model: &mut DigitsCnn, data: &Dataset) -> nn::Result<f64> {
    let idx: Vec<usize> = (0..data.len()).collect();
    let (x, labels) = data.batch(&idx)?;
    let logits = nn::no_grad(|| model.forward(Value::Float(x)))?.into_float("accuracy")?;
    let pred = logits.argmax(1)?;
    let correct = pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// `epochs` of Adam at `lr` over mini-batches of 32; `before_epoch(e, model)` runs first.
fn train(
    model: &mut DigitsCnn,
    data: &Dataset,
    epochs: usize,
    lr: f64,
    mut before_epoch: impl FnMut(usize, &mut DigitsCnn),
) -> nn::Result<()> {
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr,
            ..Default::default()
        },
    )?;
    let mut rng = nn::Rng::new(7);
    model.train(true);
    for epoch in 0..epochs {
        before_epoch(epoch, model);
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

/// Per-tensor symmetric qint8 weights restricted to the integer range `lo..=hi`.
fn narrow_options(lo: i64, hi: i64) -> UniformOptions {
    UniformOptions::per_tensor()
        .dtype(DType::QInt8)
        .qscheme(QScheme::PerTensorSymmetric)
        .quant_range(lo, hi)
}

/// PTQ with narrow weights: the default fbgemm activation observer, a min/max weight
/// observer over `lo..=hi`.
fn ptq_narrow_qconfig(lo: i64, hi: i64) -> QConfig {
    QConfig {
        activation: get_default_qconfig(Backend::Fbgemm).activation,
        weight: QConfigEntry::Observer(ObserverSpec::MinMax(narrow_options(lo, hi))),
    }
}

/// QAT with narrow weights: the default fbgemm QAT activation fake quant; for the weights a
/// `FakeQuantize` over a moving-average min/max observer. (The fused fake quant of the default
/// qconfig picks its training scale with fbgemm's rule, `max(|min| / 8, max / 7)` at 4 bits,
/// while convert quantizes with the observer's `max(|min|, max) / 7.5`, as in PyTorch; at 8
/// bits the two differ by 0.4%, at 4 bits by up to 7%, which would undo part of what training
/// learned. This fake quant uses the observer's rule in both.)
fn qat_narrow_qconfig(lo: i64, hi: i64) -> QConfig {
    QConfig {
        activation: get_default_qat_qconfig(Backend::Fbgemm).activation,
        weight: QConfigEntry::FakeQuantize(FakeQuantizeSpec::FakeQuantize(
            ObserverSpec::MovingAverageMinMax {
                averaging_constant: 0.01,
                options: narrow_options(lo, hi),
                is_dynamic: false,
            },
        )),
    }
}

/// PyTorch's `_clamp_weights`: a weight quantized with a narrower range than its dtype keeps
/// its integers inside that range. The eager `convert` quantizes into the full qint8 range, so
/// this example's PTQ mapping clamps (a no-op at 8 bits); `convert_qat` clamps itself.
fn clamp_to_qconfig(ctx: &FromFloatCtx<'_>, q: QTensor) -> Result<QTensor, EagerError> {
    let Ok(PostProcess::Observer(obs)) = ctx.qconfig().weight.build() else {
        return Ok(q);
    };
    let Some((lo, hi)) = obs.quant_range() else {
        return Ok(q);
    };
    let (data, params) = q.into_parts();
    let data = match data {
        QData::QInt8(a) => QData::QInt8(a.mapv(|v| i64::from(v).clamp(lo, hi) as i8)),
        other => other,
    };
    QTensor::from_int_repr(data, params).map_err(|e| ctx.error(e.to_string()))
}

fn ptq_conv_relu2d(ctx: &FromFloatCtx<'_>) -> Result<Box<dyn Module>, EagerError> {
    let first = nn_intrinsic::first_child(ctx.module()).map_err(|e| ctx.error(e.to_string()))?;
    let conv = ctx.downcast::<Conv2d>(first)?;
    ctx.require_quint8_activation("conv")?;
    let w = conv.weight.data();
    let qw = clamp_to_qconfig(ctx, ctx.quantize_weight(w.view(), DType::QInt8)?)?;
    let bias = conv.bias.as_ref().map(|b| b.to_vec());
    let o = &conv.options;
    let options = nn_quantized::functional::ConvOptions {
        stride: o.stride.clone(),
        padding: o.padding.clone(),
        dilation: o.dilation.clone(),
        groups: o.groups,
        transposed: None,
    };
    let (s, z) = ctx.output_qparams()?;
    let core = nn_quantized::ConvCore::new(&qw, bias.as_deref(), options, s, z)
        .map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(nn_intrinsic::quantized::ConvReLU2d::new(core)))
}

fn ptq_linear(ctx: &FromFloatCtx<'_>) -> Result<Box<dyn Module>, EagerError> {
    let lin = ctx.downcast::<Linear>(ctx.module())?;
    ctx.require_quint8_activation("linear")?;
    let w = lin.weight.data();
    let qw = clamp_to_qconfig(ctx, ctx.quantize_weight(w.view(), DType::QInt8)?)?;
    let bias = lin.bias.as_ref().map(|b| b.to_vec());
    let (s, z) = ctx.output_qparams()?;
    let q = nn_quantized::Linear::new(&qw, bias.as_deref(), s, z)
        .map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}

/// The smallest and largest integer of the converted model's weights.
fn weight_int_range(model: &DigitsCnn) -> (i64, i64) {
    let mut range = (i64::MAX, i64::MIN);
    for (_, m) in model.named_modules() {
        let w = if let Some(c) = m.downcast_ref::<nn_intrinsic::quantized::ConvReLU2d>() {
            c.core().weight()
        } else if let Some(l) = m.downcast_ref::<nn_quantized::Linear>() {
            l.weight()
        } else {
            continue;
        };
        for &v in w.int_repr().to_i64().iter() {
            range = (range.0.min(v), range.1.max(v));
        }
    }
    range
}

/// Checks that the converted model really uses the weight range asked for.
fn check_weights(
    model: &DigitsCnn,
    (lo, hi): (i64, i64),
) -> Result<(), Box<dyn std::error::Error>> {
    let (a, b) = weight_int_range(model);
    if a < lo || b > hi {
        return Err(format!("converted weights span {a}..={b}, outside {lo}..={hi}").into());
    }
    Ok(())
}

type Run = Result<f64, Box<dyn std::error::Error>>;

/// Post-training quantization of the float model in `state`: int8 accuracy.
fn ptq(
    state: &StateDict,
    qconfig: QConfig,
    range: (i64, i64),
    train_set: &Dataset,
    test_set: &Dataset,
) -> Run {
    let mut model = DigitsCnn::from_state(state)?;
    model.eval();
    fuse_modules(&mut model, &BLOCKS)?;
    let mut mapping = QuantMapping::default_static();
    mapping.insert::<nn_intrinsic::ConvReLU2d>(ptq_conv_relu2d);
    mapping.insert::<Linear>(ptq_linear);
    prepare(&mut model, &QConfigMapping::global(qconfig), &mapping)?;
    let cal: Vec<usize> = (0..train_set.len().min(256)).collect();
    for chunk in cal.chunks(64) {
        let (x, _) = train_set.batch(chunk)?;
        model.forward(Value::Float(x))?;
    }
    convert(&mut model, &mapping)?;
    check_weights(&model, range)?;
    Ok(accuracy(&mut model, test_set)?)
}

/// Quantization-aware fine-tuning of the float model in `state`: the converted int8 model's
/// accuracy.
fn qat(
    state: &StateDict,
    qconfig: QConfig,
    range: (i64, i64),
    train_set: &Dataset,
    test_set: &Dataset,
) -> Run {
    let mut model = DigitsCnn::from_state(state)?;
    model.train(true);
    fuse_modules_qat(&mut model, &BLOCKS)?;
    let quant = convert_mapping();
    prepare_qat(
        &mut model,
        &QConfigMapping::global(qconfig),
        &QatMapping::default_qat(),
        &quant,
    )?;
    train(&mut model, train_set, QAT_EPOCHS, QAT_LR, |epoch, m| {
        if epoch + 2 == QAT_EPOCHS {
            freeze_bn_stats(m);
        }
        if epoch + 1 == QAT_EPOCHS {
            disable_observer(m);
        }
    })?;
    convert_qat(&mut model, &quant)?;
    check_weights(&model, range)?;
    Ok(accuracy(&mut model, test_set)?)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    qtensor::set_engine(qtensor::Engine::Fbgemm)?;
    let all = load_digits(default_digits_path())?;
    let (train_set, test_set) = all.split(0.2, 42)?;
    let full = (-128, 127);
    // Columns: float, PTQ / QAT at 8 bits, 4-bit weights, 2-bit weights.
    let names = [
        "float", "PTQ 8", "QAT 8", "PTQ w4", "QAT w4", "PTQ w2", "QAT w2",
    ];
    let mut rows: Vec<[f64; 7]> = Vec::new();
    println!(
        "held-out accuracy (%) of the int8 models, {} test images, fbgemm engine; QAT: {QAT_EPOCHS} epochs at lr {QAT_LR}",
        test_set.len()
    );
    println!(
        "{:>6} {}",
        "seed",
        names.map(|n| format!("{n:>7}")).join("")
    );
    for seed in SEEDS {
        nn::manual_seed(seed);
        let mut float_model = DigitsCnn::new()?;
        train(&mut float_model, &train_set, 8, 3e-3, |_, _| {})?;
        let state = float_model.state_dict();
        let (tr, te) = (&train_set, &test_set);
        let row = [
            accuracy(&mut float_model, te)?,
            ptq(&state, get_default_qconfig(Backend::Fbgemm), full, tr, te)?,
            qat(
                &state,
                get_default_qat_qconfig(Backend::Fbgemm),
                full,
                tr,
                te,
            )?,
            ptq(&state, ptq_narrow_qconfig(-8, 7), (-8, 7), tr, te)?,
            qat(&state, qat_narrow_qconfig(-8, 7), (-8, 7), tr, te)?,
            ptq(&state, ptq_narrow_qconfig(-2, 1), (-2, 1), tr, te)?,
            qat(&state, qat_narrow_qconfig(-2, 1), (-2, 1), tr, te)?,
        ];
        println!(
            "{seed:>6} {}",
            row.map(|a| format!("{:>7.2}", a * 100.0)).join("")
        );
        rows.push(row);
    }
    let m: Vec<f64> = (0..7)
        .map(|c| mean(&rows.iter().map(|r| r[c]).collect::<Vec<_>>()))
        .collect();
    println!(
        "{:>6} {}",
        "mean",
        m.iter()
            .map(|a| format!("{:>7.2}", a * 100.0))
            .collect::<String>()
    );
    let pts = |a: f64| (a - m[0]) * 100.0;
    let ok = |b: bool| if b { "met" } else { "NOT met" };
    println!(
        "8-bit: PTQ {:+.2}, QAT {:+.2} points from float (within 1 point: {})",
        pts(m[1]),
        pts(m[2]),
        ok(pts(m[1]).abs() <= 1.0 && pts(m[2]).abs() <= 1.0)
    );
    let image = 1.0 / test_set.len() as f64;
    for (bits, p, q) in [(4, m[3], m[4]), (2, m[5], m[6])] {
        let lost = m[0] - p;
        let verdict = if lost <= image {
            "PTQ loses less than one test image on average: nothing measurable to recover"
                .to_string()
        } else {
            let recovered = (q - p) / lost;
            format!(
                "QAT recovers {:.0}% of it (at least half: {})",
                recovered * 100.0,
                ok(recovered >= 0.5)
            )
        };
        println!(
            "{bits}-bit weights: PTQ {:+.2}, QAT {:+.2} points from float; {verdict}",
            pts(p),
            pts(q),
        );
    }
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
