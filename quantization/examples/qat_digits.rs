//! Quantization-aware training of a user's CNN on the vendored handwritten digits, against
//! post-training quantization, at 8-bit and at 4-bit weights:
//! `cargo run --release -p quantization --example qat_digits`.
//!
//! Two models: the digits CNN of the other examples (conv 1->16, conv 16->32, pool, linear),
//! and a narrow one (conv 1->2, conv 2->4, pool, linear) where every weight matters. On the
//! first, 4-bit per-tensor PTQ loses less than one test image, so there is nothing for QAT to
//! recover; on the narrow one it loses measurably. For each float model (training seed):
//!
//! 1. Train the float model (Adam, until more epochs no longer help it).
//! 2. PTQ: fuse, prepare, calibrate on 256 training images, convert to int8 (fbgemm engine),
//!    at 8 bits with `get_default_qconfig("fbgemm")`, at 4 (and 2) bits with a per-tensor
//!    symmetric `MinMaxObserver` over -8..7 (-2..1) for the weights; activations stay 8-bit.
//! 3. QAT: from the same float weights, `fuse_modules_qat`, `prepare_qat`, fine-tune with fake
//!    quantization (batch-norm statistics frozen for the last two epochs and observers
//!    disabled for the last one, as PyTorch's QAT tutorial does), `convert_qat` to int8; at 8
//!    bits with `get_default_qat_qconfig("fbgemm")`, at 4 (and 2) bits with a per-tensor
//!    symmetric `FakeQuantize` over the same range.
//! 4. Control (narrow model): float fine-tuning with QAT's exact schedule but no fake
//!    quantization, then the same 4-bit PTQ, to tell what QAT gains from training with
//!    quantization from what it gains from training longer.
//!
//! Every accuracy reported for a quantized model is that of the converted model running the
//! int8 kernels, on the 359 held-out images (one image is 0.28 points). The narrow model's
//! widths and float epochs were chosen on a validation split of the training images, never on
//! these; the QAT schedule is the one used for the standard model, unchanged.

use std::time::Instant;

use nn::data::{default_digits_path, load_digits, Dataset};
use nn::functional::{cross_entropy, Reduction};
use nn::optim::{Adam, AdamConfig, Optimizer};
use nn::prelude::*;
use nn::{
    BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, Flatten, Linear, MaxPool2d, QuantStub, ReLU,
    StateDict,
};
use qtensor::QScheme;
use quantization::eager::{
    convert, fuse_modules, fuse_modules_qat, prepare, QConfigMapping, QuantMapping,
};
use quantization::qat::{convert_mapping, convert_qat, disable_observer, freeze_bn_stats};
use quantization::qat::{prepare_qat, QatMapping};
use quantization::{
    get_default_qat_qconfig, get_default_qconfig, Backend, DType, FakeQuantizeSpec, ObserverSpec,
    QConfig, QConfigEntry, UniformOptions,
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

/// Output channels of the two convolutions.
type Widths = (usize, usize);

impl DigitsCnn {
    fn new((c1, c2): Widths) -> nn::Result<DigitsCnn> {
        let conv = |i, o| Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1));
        Ok(DigitsCnn {
            quant: Child::new(QuantStub::new()),
            conv1: Child::new(conv(1, c1)?),
            bn1: Child::new(BatchNorm2d::new(c1)),
            relu1: Child::new(ReLU::new()),
            conv2: Child::new(conv(c1, c2)?),
            bn2: Child::new(BatchNorm2d::new(c2)),
            relu2: Child::new(ReLU::new()),
            pool: Child::new(MaxPool2d::new(2)?),
            flatten: Child::new(Flatten::new()),
            fc: Child::new(Linear::new(c2 * 4 * 4, 10, true)),
            dequant: Child::new(DeQuantStub::new()),
        })
    }

    /// A fresh model of `widths` holding `state`.
    fn from_state(widths: Widths, state: &StateDict) -> nn::Result<DigitsCnn> {
        let mut m = DigitsCnn::new(widths)?;
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

/// Float training: Adam's learning rate (the epochs are per experiment).
const FLOAT_LR: f64 = 3e-3;

/// Fine-tuning: epochs and Adam's learning rate (a tenth of the float training's).
const QAT_EPOCHS: usize = 3;
const QAT_LR: f64 = 3e-4;

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
/// observer over `lo..=hi` (PyTorch's `MinMaxObserver.with_args(dtype=torch.qint8,
/// qscheme=torch.per_tensor_symmetric, quant_min=lo, quant_max=hi)`).
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

/// The PTQ qconfig at `bits`-bit weights: fbgemm's default at 8, else [`ptq_narrow_qconfig`].
fn ptq_qconfig(bits: u32) -> QConfig {
    match bits {
        8 => get_default_qconfig(Backend::Fbgemm),
        b => {
            let (lo, hi) = range_of(b);
            ptq_narrow_qconfig(lo, hi)
        }
    }
}

/// The QAT qconfig at `bits`-bit weights: fbgemm's default at 8, else [`qat_narrow_qconfig`].
fn qat_qconfig(bits: u32) -> QConfig {
    match bits {
        8 => get_default_qat_qconfig(Backend::Fbgemm),
        b => {
            let (lo, hi) = range_of(b);
            qat_narrow_qconfig(lo, hi)
        }
    }
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
    widths: Widths,
    state: &StateDict,
    qconfig: QConfig,
    range: (i64, i64),
    train_set: &Dataset,
    test_set: &Dataset,
) -> Run {
    let mut model = DigitsCnn::from_state(widths, state)?;
    model.eval();
    fuse_modules(&mut model, &BLOCKS)?;
    let mapping = QuantMapping::default_static();
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
    widths: Widths,
    state: &StateDict,
    qconfig: QConfig,
    range: (i64, i64),
    train_set: &Dataset,
    test_set: &Dataset,
) -> Run {
    let mut model = DigitsCnn::from_state(widths, state)?;
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

/// Float fine-tuning with QAT's schedule (same epochs, learning rate and batches, no fake
/// quantization), then the same PTQ: separates what QAT gains from quantization-aware
/// training from what it gains from training longer.
fn finetune_then_ptq(
    widths: Widths,
    state: &StateDict,
    qconfig: QConfig,
    range: (i64, i64),
    train_set: &Dataset,
    test_set: &Dataset,
) -> Run {
    let mut model = DigitsCnn::from_state(widths, state)?;
    train(&mut model, train_set, QAT_EPOCHS, QAT_LR, |_, _| {})?;
    ptq(
        widths,
        &model.state_dict(),
        qconfig,
        range,
        train_set,
        test_set,
    )
}

/// One column of a results table.
#[derive(Clone, Copy)]
enum Column {
    /// The float model.
    Float,
    /// PTQ with weights of this many bits (8: the default fbgemm qconfig).
    Ptq(u32),
    /// QAT with weights of this many bits (8: the default fbgemm QAT qconfig).
    Qat(u32),
    /// Float fine-tuning with QAT's schedule, then PTQ at this many bits.
    FinetunePtq(u32),
}

impl Column {
    fn name(self) -> String {
        let w = |b: u32| {
            if b == 8 {
                "8".to_string()
            } else {
                format!("w{b}")
            }
        };
        match self {
            Column::Float => "float".into(),
            Column::Ptq(b) => format!("PTQ {}", w(b)),
            Column::Qat(b) => format!("QAT {}", w(b)),
            Column::FinetunePtq(b) => format!("FT+PTQ {}", w(b)),
        }
    }
}

/// Integer weight range of `bits`-bit weights (8: the full qint8 range).
fn range_of(bits: u32) -> (i64, i64) {
    let half = 1i64 << (bits - 1);
    (-half, half - 1)
}

/// A model size and the columns measured on it, over `seeds` float models.
struct Experiment {
    title: &'static str,
    widths: Widths,
    /// Epochs of float training (until three more epochs no longer help the float model).
    float_epochs: usize,
    seeds: &'static [u64],
    columns: &'static [Column],
}

impl Experiment {
    /// Trains one float model per seed, measures every column, prints the table and returns
    /// it (one row per seed, accuracies in [0, 1]).
    fn run(
        &self,
        train_set: &Dataset,
        test_set: &Dataset,
    ) -> Result<Vec<Vec<f64>>, Box<dyn std::error::Error>> {
        let (c1, c2) = self.widths;
        println!(
            "\n{}: conv 1->{c1}, conv {c1}->{c2}, pool, linear {}->10; {} float epochs; {} seeds",
            self.title,
            c2 * 16,
            self.float_epochs,
            self.seeds.len()
        );
        let header: String = self
            .columns
            .iter()
            .map(|c| format!("{:>11}", c.name()))
            .collect();
        println!("{:>6}{header}", "seed");
        let mut rows = Vec::new();
        for &seed in self.seeds {
            nn::manual_seed(seed);
            let mut float_model = DigitsCnn::new(self.widths)?;
            train(
                &mut float_model,
                train_set,
                self.float_epochs,
                FLOAT_LR,
                |_, _| {},
            )?;
            let state = float_model.state_dict();
            let (w, tr, te) = (self.widths, train_set, test_set);
            let mut row = Vec::new();
            for &col in self.columns {
                let acc = match col {
                    Column::Float => accuracy(&mut float_model, te)?,
                    Column::Ptq(b) => ptq(w, &state, ptq_qconfig(b), range_of(b), tr, te)?,
                    Column::Qat(b) => qat(w, &state, qat_qconfig(b), range_of(b), tr, te)?,
                    Column::FinetunePtq(b) => {
                        finetune_then_ptq(w, &state, ptq_qconfig(b), range_of(b), tr, te)?
                    }
                };
                row.push(acc);
            }
            println!(
                "{seed:>6}{}",
                row.iter()
                    .map(|a| format!("{:>11.2}", a * 100.0))
                    .collect::<String>()
            );
            rows.push(row);
        }
        let m = self.means(&rows);
        println!(
            "{:>6}{}",
            "mean",
            m.iter()
                .map(|a| format!("{:>11.2}", a * 100.0))
                .collect::<String>()
        );
        Ok(rows)
    }

    fn means(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        (0..self.columns.len())
            .map(|c| mean(&rows.iter().map(|r| r[c]).collect::<Vec<_>>()))
            .collect()
    }

    /// Where `col` sits in a row; errors if the experiment does not measure it.
    fn index_of(&self, col: &str) -> Result<usize, Box<dyn std::error::Error>> {
        Ok(self
            .columns
            .iter()
            .position(|c| c.name() == col)
            .ok_or_else(|| format!("{} does not measure {col}", self.title))?)
    }

    /// The mean of `col` over seeds; errors if the experiment does not measure it.
    fn mean_of(&self, rows: &[Vec<f64>], col: &str) -> Result<f64, Box<dyn std::error::Error>> {
        Ok(self.means(rows)[self.index_of(col)?])
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Prints the 8-bit verdict (both within 1 point of float) for `exp`.
fn report_8bit(exp: &Experiment, rows: &[Vec<f64>]) -> Result<(), Box<dyn std::error::Error>> {
    let float = exp.mean_of(rows, "float")?;
    let (p, q) = (exp.mean_of(rows, "PTQ 8")?, exp.mean_of(rows, "QAT 8")?);
    let pts = |a: f64| (a - float) * 100.0;
    println!(
        "{}, 8 bits: PTQ {:+.2}, QAT {:+.2} points from float (both within 1 point: {})",
        exp.title,
        pts(p),
        pts(q),
        verdict(pts(p).abs() <= 1.0 && pts(q).abs() <= 1.0)
    );
    Ok(())
}

/// Prints what PTQ loses at `bits`-bit weights and how much of it QAT recovers, for `exp`.
fn report_narrow(
    exp: &Experiment,
    rows: &[Vec<f64>],
    bits: u32,
    image: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let float = exp.mean_of(rows, "float")?;
    let p = exp.mean_of(rows, &Column::Ptq(bits).name())?;
    let q = exp.mean_of(rows, &Column::Qat(bits).name())?;
    let pts = |a: f64| (a - float) * 100.0;
    let lost = float - p;
    let recovered = if lost <= image {
        "PTQ loses less than one test image on average: nothing measurable to recover".to_string()
    } else {
        let r = (q - p) / lost;
        format!(
            "QAT recovers {:.0}% of it (at least half: {})",
            r * 100.0,
            verdict(r >= 0.5)
        )
    };
    println!(
        "{}, {bits}-bit weights: PTQ {:+.2}, QAT {:+.2} points from float; {recovered}",
        exp.title,
        pts(p),
        pts(q)
    );
    let (ip, iq) = (
        exp.index_of(&Column::Ptq(bits).name())?,
        exp.index_of(&Column::Qat(bits).name())?,
    );
    let count = |f: fn(f64, f64) -> bool| rows.iter().filter(|r| f(r[iq], r[ip])).count();
    println!(
        "  per seed, QAT above / equal to / below PTQ: {} / {} / {} of {}",
        count(|q, p| q > p),
        count(|q, p| q == p),
        count(|q, p| q < p),
        rows.len()
    );
    if let Ok(f) = exp.mean_of(rows, &Column::FinetunePtq(bits).name()) {
        println!(
            "  control, float fine-tuning with QAT's schedule then PTQ: {:+.2} points from float \
             (recovers {:.0}% of PTQ's loss)",
            pts(f),
            (f - p) / lost * 100.0
        );
    }
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The digits CNN of the other examples: 8 bits, and narrow weights as a stress test.
const STANDARD: Experiment = Experiment {
    title: "standard CNN",
    widths: (16, 32),
    float_epochs: 8,
    seeds: &[0, 1, 2, 3, 4],
    columns: &[
        Column::Float,
        Column::Ptq(8),
        Column::Qat(8),
        Column::Ptq(4),
        Column::Qat(4),
        Column::Ptq(2),
        Column::Qat(2),
    ],
};

/// A narrow CNN where every weight matters, so that 4-bit per-tensor PTQ loses measurably;
/// trained longer, as it converges more slowly.
const NARROW: Experiment = Experiment {
    title: "narrow CNN",
    widths: (2, 4),
    float_epochs: 20,
    seeds: &[
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    ],
    columns: &[
        Column::Float,
        Column::Ptq(8),
        Column::Qat(8),
        Column::Ptq(4),
        Column::Qat(4),
        Column::FinetunePtq(4),
    ],
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    qtensor::set_engine(qtensor::Engine::Fbgemm)?;
    let all = load_digits(default_digits_path())?;
    let (train_set, test_set) = all.split(0.2, 42)?;
    println!(
        "held-out accuracy (%) of the converted int8 models, {} test images, fbgemm engine; \
         float: Adam lr {FLOAT_LR}; QAT: {QAT_EPOCHS} epochs at lr {QAT_LR}",
        test_set.len()
    );
    let image = 1.0 / test_set.len() as f64;
    let standard = STANDARD.run(&train_set, &test_set)?;
    let narrow = NARROW.run(&train_set, &test_set)?;
    println!();
    report_8bit(&STANDARD, &standard)?;
    report_8bit(&NARROW, &narrow)?;
    report_narrow(&STANDARD, &standard, 4, image)?;
    report_narrow(&NARROW, &narrow, 4, image)?;
    report_narrow(&STANDARD, &standard, 2, image)?;
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
