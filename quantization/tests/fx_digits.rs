//! Graph mode and eager mode give the same int8 model on a trained digits CNN: the same
//! forward code (with stubs), fused and observed by each mode, calibrated on the same images.

use nn::data::{default_digits_path, load_digits, Dataset};
use nn::functional::{cross_entropy, Reduction};
use nn::optim::{Adam, AdamConfig, Optimizer};
use nn::prelude::*;
use nn::{
    BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, Flatten, Forward, Linear, MaxPool2d, QuantStub,
    ReLU,
};
use quantization::eager::{convert, fuse_modules, prepare, QConfigMapping, QuantMapping};
use quantization::fx::{convert_fx, get_default_qconfig_mapping, prepare_fx};
use quantization::{get_default_qconfig, Backend};

#[derive(Module)]
struct Digits {
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

impl Digits {
    fn new() -> Digits {
        let conv = |i, o| {
            Child::new(Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1)).unwrap())
        };
        Digits {
            quant: Child::new(QuantStub::new()),
            conv1: conv(1, 8),
            bn1: Child::new(BatchNorm2d::new(8)),
            relu1: Child::new(ReLU::new()),
            conv2: conv(8, 16),
            bn2: Child::new(BatchNorm2d::new(16)),
            relu2: Child::new(ReLU::new()),
            pool: Child::new(MaxPool2d::new(2).unwrap()),
            flatten: Child::new(Flatten::new()),
            fc: Child::new(Linear::new(16 * 4 * 4, 10, true)),
            dequant: Child::new(DeQuantStub::new()),
        }
    }
}

impl Forward for Digits {
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

fn predictions(m: &mut dyn Module, data: &Dataset) -> Vec<usize> {
    let idx: Vec<usize> = (0..data.len()).collect();
    let (x, _) = data.batch(&idx).unwrap();
    let y = nn::no_grad(|| m.forward(Value::Float(x)))
        .unwrap()
        .into_float("p")
        .unwrap();
    y.argmax(1).unwrap().iter().copied().collect()
}

fn accuracy(pred: &[usize], data: &Dataset) -> f64 {
    pred.iter()
        .zip(&data.labels)
        .filter(|(p, l)| p == l)
        .count() as f64
        / data.len() as f64
}

#[test]
fn graph_mode_and_eager_mode_agree_on_the_digits_cnn() {
    nn::manual_seed(0);
    let all = load_digits(default_digits_path()).unwrap();
    let (train, test) = all.split(0.2, 42).unwrap();
    let mut model = Digits::new();
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 3e-3,
            ..Default::default()
        },
    )
    .unwrap();
    let mut rng = nn::Rng::new(7);
    for _ in 0..2 {
        for b in train.batches(32, &mut rng) {
            let (x, y) = train.batch(&b).unwrap();
            let logits = model
                .forward(Value::Float(x))
                .unwrap()
                .into_float("t")
                .unwrap();
            let loss = cross_entropy(&logits, &y, Reduction::Mean).unwrap();
            opt.zero_grad();
            loss.backward().unwrap();
            opt.step().unwrap();
        }
    }
    model.eval();
    let state = model.state_dict();
    let float_acc = accuracy(&predictions(&mut model, &test), &test);
    assert!(float_acc > 0.85, "float accuracy {float_acc}");
    let cal: Vec<usize> = (0..256).collect();
    let (cal_x, _) = train.batch(&cal).unwrap();
    for engine in [qtensor::Engine::Fbgemm, qtensor::Engine::Qnnpack] {
        qtensor::set_engine(engine).unwrap();
        let backend = Backend::from(engine);
        let fresh = || {
            let mut m = Digits::new();
            m.load_state_dict(&state, true).unwrap();
            m.eval();
            m
        };
        // Eager: stubs, manual fusion, prepare, calibrate, convert.
        let mut eager = fresh();
        fuse_modules(
            &mut eager,
            &[&["conv1", "bn1", "relu1"], &["conv2", "bn2", "relu2"]],
        )
        .unwrap();
        let mapping = QuantMapping::default_static();
        prepare(
            &mut eager,
            &QConfigMapping::global(get_default_qconfig(backend)),
            &mapping,
        )
        .unwrap();
        eager.forward(Value::Float(cal_x.clone())).unwrap();
        convert(&mut eager, &mapping).unwrap();
        // Graph mode: the same model, nothing done by hand.
        let example = Value::Float(cal_x.clone());
        let mut fx =
            prepare_fx(fresh(), &get_default_qconfig_mapping(backend), &[example]).unwrap();
        fx.forward(Value::Float(cal_x.clone())).unwrap();
        let mut fx = convert_fx(fx).unwrap();
        let (pe, pf) = (predictions(&mut eager, &test), predictions(&mut fx, &test));
        let agree = pe.iter().zip(&pf).filter(|(a, b)| a == b).count() as f64 / pe.len() as f64;
        let (ae, af) = (accuracy(&pe, &test), accuracy(&pf, &test));
        assert!(
            agree >= 0.99,
            "{engine}: eager and graph mode agree on {agree}"
        );
        assert!(
            (ae - af).abs() <= 0.01,
            "{engine}: eager {ae} vs graph mode {af}"
        );
        assert!(
            af >= float_acc - 0.02,
            "{engine}: int8 {af} vs float {float_acc}"
        );
    }
}
