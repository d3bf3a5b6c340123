//! `quantize_dynamic`: which modules are swapped (types, names, inheritance, exclusion, the root),
//! all-or-nothing on error, qint8 / float16 / per-channel, custom mappings, recurrent modules
//! through the default table, and `QConfig` as the weight quantizer.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;

use common::Lcg;
use ndarray::{ArrayD, IxDyn};
use nn::{Linear, Module, NnError, ReLU, Sequential, Tensor, Value};
use nn_quantized_dynamic::{DynamicError, DynamicWeight, WeightDType, WeightQuantizer};
use qtensor::{Engine, QParams, QScheme};
use quantization::dynamic::{
    quantize_dynamic, quantize_dynamic_with, DynamicMapping, DynamicSpec, QuantizeDynamicError,
};
use quantization::qconfig::{self, QConfig};
use quantization::{MinMaxObserver, Observer, UniformOptions};

static ENGINE: Mutex<()> = Mutex::new(());

/// Runs `f` with the qnnpack engine current (modules pack for the engine current when built).
fn qnnpack<T>(f: impl FnOnce() -> T) -> T {
    let _g = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    qtensor::set_engine(Engine::Qnnpack).unwrap();
    f()
}

/// A float `Linear` with deterministic weights (nn's generator is shared by parallel tests).
fn linear(rng: &mut Lcg, input: usize, output: usize, bias: bool) -> Linear {
    let k = 1.0 / (input as f32).sqrt();
    let w = Tensor::parameter(rng.tensor(&[output, input], k, 0.0));
    let b = bias.then(|| Tensor::parameter(rng.tensor(&[output], k, 0.0)));
    Linear::from_parts(w, b).unwrap()
}

fn input(rng: &mut Lcg, shape: &[usize]) -> Tensor {
    Tensor::new(rng.tensor(shape, 1.0, 0.0))
}

fn mlp(seed: u64) -> Sequential {
    let mut rng = Lcg(seed);
    Sequential::new()
        .with(linear(&mut rng, 6, 8, true))
        .with(ReLU::new())
        .with(linear(&mut rng, 8, 3, true))
}

fn nested(seed: u64) -> Sequential {
    let mut rng = Lcg(seed);
    let mut inner = Sequential::new();
    inner.push(Box::new(linear(&mut rng, 8, 8, true)));
    inner.push(Box::new(ReLU::new()));
    let mut outer = Sequential::new();
    outer.push(Box::new(linear(&mut rng, 6, 8, true)));
    outer.push_named("block", Box::new(inner)).unwrap();
    outer.push(Box::new(linear(&mut rng, 8, 3, true)));
    outer
}

fn types_at(m: &dyn Module) -> Vec<(String, String)> {
    m.named_modules()
        .into_iter()
        .map(|(p, m)| (p, m.type_name().to_string()))
        .collect()
}

fn run(m: &mut dyn Module, x: &Tensor) -> ArrayD<f32> {
    m.forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("test")
        .unwrap()
        .to_array()
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_set_of_types_swaps_those_layers_and_keeps_the_rest() {
    let mut m = mlp(1);
    let x = input(&mut Lcg(10), &[5, 6]);
    let float_y = run(&mut m, &x);
    let swapped =
        qnnpack(|| quantize_dynamic(&mut m, &DynamicSpec::types(["Linear"]), WeightDType::QInt8))
            .unwrap();
    let paths: Vec<_> = swapped
        .iter()
        .map(|s| (s.path.as_str(), s.from.as_str(), s.to.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("0", "Linear", "DynamicQuantizedLinear"),
            ("2", "Linear", "DynamicQuantizedLinear")
        ]
    );
    assert_eq!(m.get_submodule("1").unwrap().type_name(), "ReLU");
    assert!(!m.is_training());
    let y = run(&mut m, &x);
    assert!(max_diff(&y, &float_y) < 0.015, "{}", max_diff(&y, &float_y));
    // Converted layers are not in the table: a second pass changes nothing.
    let again =
        qnnpack(|| quantize_dynamic(&mut m, &DynamicSpec::Default, WeightDType::QInt8)).unwrap();
    assert!(again.is_empty());
}

#[test]
fn qconfigs_propagate_down_the_tree_and_names_win_over_types() {
    // A name selects a container: everything mappable below it is converted.
    let mut m = nested(2);
    qnnpack(|| quantize_dynamic(&mut m, &DynamicSpec::names(["block"]), WeightDType::QInt8))
        .unwrap();
    let t = types_at(&m);
    assert!(t.contains(&("block.0".into(), "DynamicQuantizedLinear".into())));
    assert!(t.contains(&("0".into(), "Linear".into())));
    assert!(t.contains(&("2".into(), "Linear".into())));

    // A type everywhere except one name mapped to None.
    let mut m = nested(2);
    let spec = DynamicSpec::map()
        .with_type("Linear", Some(qconfig::default_dynamic_qconfig()))
        .with_name("block.0", None);
    qnnpack(|| quantize_dynamic(&mut m, &spec, WeightDType::QInt8)).unwrap();
    let t = types_at(&m);
    assert!(t.contains(&("block.0".into(), "Linear".into())));
    assert!(t.contains(&("0".into(), "DynamicQuantizedLinear".into())));
    assert!(t.contains(&("2".into(), "DynamicQuantizedLinear".into())));

    // The global key "" gives every module the qconfig; excluding a container excludes below it.
    let mut m = nested(2);
    let spec = DynamicSpec::map()
        .with_name("", Some(qconfig::default_dynamic_qconfig()))
        .with_name("block", None);
    let swapped = qnnpack(|| quantize_dynamic(&mut m, &spec, WeightDType::QInt8)).unwrap();
    assert_eq!(
        swapped.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["0", "2"]
    );

    // The root itself is never swapped, as in PyTorch.
    let mut lin = linear(&mut Lcg(12), 3, 2, true);
    let swapped =
        qnnpack(|| quantize_dynamic(&mut lin, &DynamicSpec::Default, WeightDType::QInt8)).unwrap();
    assert!(swapped.is_empty());
    assert_eq!(lin.type_name(), "Linear");
}

#[test]
fn errors_leave_the_model_unchanged() {
    let mut m = mlp(3);
    let before = types_at(&m);
    let e = qnnpack(|| {
        quantize_dynamic(
            &mut m,
            &DynamicSpec::names(["0", "fc9"]),
            WeightDType::QInt8,
        )
    })
    .unwrap_err();
    assert!(
        matches!(e, QuantizeDynamicError::NoSuchModule { ref name } if name == "fc9"),
        "{e}"
    );
    assert_eq!(types_at(&m), before);

    // The first layer converts, the second has a qconfig whose weights are quint8.
    let spec = DynamicSpec::map()
        .with_name("0", Some(qconfig::default_dynamic_qconfig()))
        .with_name("2", Some(qconfig::default_quint8_weight_qconfig()));
    let e = qnnpack(|| quantize_dynamic(&mut m, &spec, WeightDType::QInt8)).unwrap_err();
    match &e {
        QuantizeDynamicError::Convert { path, source, .. } => {
            assert_eq!(path, "2");
            assert!(
                matches!(**source, DynamicError::WeightQuantization { .. }),
                "{source}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(types_at(&m), before);
    assert!(
        m.is_training(),
        "a failed conversion does not switch to eval mode either"
    );

    // NaN weights are refused by the observer.
    let mut m = mlp(3);
    if let Some(l) = m.get_submodule_mut("2").unwrap().downcast_mut::<Linear>() {
        l.weight.update_data(|w| w[[0, 0]] = f32::NAN);
    }
    let e = qnnpack(|| quantize_dynamic(&mut m, &DynamicSpec::Default, WeightDType::QInt8))
        .unwrap_err();
    assert!(matches!(e, QuantizeDynamicError::Convert { .. }), "{e}");
    assert_eq!(types_at(&m), before);
}

fn linear_weight(m: &dyn Module, path: &str) -> DynamicWeight {
    m.get_submodule(path)
        .unwrap()
        .downcast_ref::<nn_quantized_dynamic::Linear>()
        .unwrap()
        .weight()
        .clone()
}

#[test]
fn dtypes_and_per_channel_qconfigs() {
    let x = input(&mut Lcg(11), &[4, 6]);
    let mut m = mlp(4);
    let float_y = run(&mut m, &x);
    qnnpack(|| {
        quantize_dynamic(
            &mut m,
            &DynamicSpec::types(["Linear"]),
            WeightDType::Float16,
        )
    })
    .unwrap();
    assert!(matches!(linear_weight(&m, "0"), DynamicWeight::Float16(_)));
    assert!(max_diff(&run(&mut m, &x), &float_y) < 2e-4);

    let mut m = mlp(4);
    let spec = DynamicSpec::map().with_type("Linear", Some(qconfig::per_channel_dynamic_qconfig()));
    qnnpack(|| quantize_dynamic(&mut m, &spec, WeightDType::Float16)).unwrap();
    let DynamicWeight::QInt8(w) = linear_weight(&m, "2") else {
        panic!("qint8 expected")
    };
    assert!(
        matches!(w.qparams(), QParams::PerChannel { axis: 0, scales, .. } if scales.len() == 3)
    );
    assert!(max_diff(&run(&mut m, &x), &float_y) < 0.015);
}

#[test]
fn custom_mappings_convert_other_types() {
    fn relu_to_identity(_: &dyn Module, _: &QConfig) -> Result<Box<dyn Module>, DynamicError> {
        Ok(Box::new(nn::Identity::new()))
    }
    let mut map = DynamicMapping::empty();
    map.insert("ReLU", relu_to_identity);
    assert_eq!(map.float_types(), ["ReLU"]);
    let mut m = mlp(5);
    let swapped = qnnpack(|| {
        quantize_dynamic_with(
            &mut m,
            &DynamicSpec::types(["ReLU", "Linear"]),
            WeightDType::QInt8,
            &map,
        )
    })
    .unwrap();
    assert_eq!(swapped.len(), 1);
    assert_eq!(m.get_submodule("1").unwrap().type_name(), "Identity");
    assert_eq!(m.get_submodule("0").unwrap().type_name(), "Linear");
}

/// A float module with PyTorch's class name, parameter names and printed form.
struct FloatRnn {
    kind: &'static str,
    params: BTreeMap<String, ArrayD<f32>>,
    repr: &'static str,
}

impl Module for FloatRnn {
    fn type_name(&self) -> &'static str {
        self.kind
    }
    fn forward(&mut self, _: Value) -> Result<Value, NnError> {
        Err(NnError::bad_arg(self.kind, "not run in this test"))
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), Tensor::parameter(v.clone())))
            .collect()
    }
    fn is_training(&self) -> bool {
        true
    }
    fn set_training_flag(&mut self, _: bool) {}
    fn extra_repr(&self) -> String {
        self.repr.into()
    }
}

fn params(rng: &mut Lcg, names: &[(&str, &[usize])]) -> BTreeMap<String, ArrayD<f32>> {
    names
        .iter()
        .map(|(n, s)| (n.to_string(), rng.tensor(s, 0.3, 0.0)))
        .collect()
}

#[test]
fn the_default_table_converts_recurrent_modules() {
    let mut rng = Lcg(6);
    let lstm = params(
        &mut rng,
        &[
            ("weight_ih_l0", &[8, 3]),
            ("weight_hh_l0", &[8, 2]),
            ("bias_ih_l0", &[8]),
            ("bias_hh_l0", &[8]),
        ],
    );
    let gru = params(
        &mut rng,
        &[
            ("weight_ih_l0", &[6, 2]),
            ("weight_hh_l0", &[6, 2]),
            ("bias_ih_l0", &[6]),
            ("bias_hh_l0", &[6]),
        ],
    );
    let cell = params(
        &mut rng,
        &[
            ("weight_ih", &[2, 4]),
            ("weight_hh", &[2, 2]),
            ("bias_ih", &[2]),
            ("bias_hh", &[2]),
        ],
    );
    let mut m = Sequential::new();
    m.push(Box::new(FloatRnn {
        kind: "LSTM",
        params: lstm,
        repr: "3, 2, batch_first=True",
    }));
    m.push(Box::new(FloatRnn {
        kind: "GRU",
        params: gru,
        repr: "2, 2",
    }));
    m.push(Box::new(FloatRnn {
        kind: "RNNCell",
        params: cell,
        repr: "4, 2, nonlinearity=relu",
    }));
    let swapped =
        qnnpack(|| quantize_dynamic(&mut m, &DynamicSpec::Default, WeightDType::QInt8)).unwrap();
    let to: Vec<_> = swapped.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(
        to,
        [
            "DynamicQuantizedLSTM",
            "DynamicQuantizedGRU",
            "DynamicQuantizedRNNCell"
        ]
    );
    let l = m
        .get_submodule("0")
        .unwrap()
        .downcast_ref::<nn_quantized_dynamic::LSTM>()
        .unwrap();
    assert!(l.options().batch_first);
    let c = m
        .get_submodule("2")
        .unwrap()
        .downcast_ref::<nn_quantized_dynamic::RNNCell>()
        .unwrap();
    assert_eq!(c.nonlinearity(), nn_quantized_dynamic::Nonlinearity::Relu);
}

#[test]
fn qconfig_quantizes_weights_with_its_observer() {
    let mut rng = Lcg(7);
    let w = rng.tensor(&[5, 7], 0.5, 0.1);
    let qc = qconfig::default_dynamic_qconfig();
    assert_eq!(qc.weight_dtype().unwrap(), WeightDType::QInt8);
    let q = qc.quantize_weight(w.view()).unwrap();
    let mut obs = MinMaxObserver::new(
        UniformOptions::per_tensor()
            .dtype(quantization::DType::QInt8)
            .qscheme(QScheme::PerTensorSymmetric),
    )
    .unwrap();
    obs.observe(w.view()).unwrap();
    let want = obs.calculate_qparams().unwrap();
    assert_eq!(
        q.qparams(),
        &QParams::PerTensor {
            scale: f64::from(want.scales[0]),
            zero_point: 0
        }
    );
    let pc = qconfig::per_channel_dynamic_qconfig()
        .quantize_weight(w.view())
        .unwrap();
    assert!(matches!(pc.qparams(), QParams::PerChannel { axis: 0, .. }));
    assert_eq!(
        qconfig::float16_dynamic_qconfig().weight_dtype().unwrap(),
        WeightDType::Float16
    );
    assert!(qconfig::default_quint8_weight_qconfig()
        .weight_dtype()
        .is_err());
    assert!(qconfig::default_activation_only_qconfig()
        .weight_dtype()
        .is_err());
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
    assert!(qc.quantize_weight(empty.view()).is_err());
}

/// A user's model (derived `Module`): a layer to convert next to one that must stay float.
#[derive(nn::Module)]
struct Model {
    head: nn::Child,
    keep: nn::Child,
    training: bool,
}

impl nn::Forward for Model {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = self.head.forward(x)?;
        self.keep.forward(y)
    }
}

#[test]
fn derived_models_are_converted_by_field_name() {
    let mut rng = Lcg(8);
    let mut m = Model {
        head: nn::Child::new(linear(&mut rng, 4, 4, true)),
        keep: nn::Child::new(linear(&mut rng, 4, 2, false)),
        training: true,
    };
    let x = input(&mut rng, &[3, 4]);
    let float_y = run(&mut m, &x);
    let spec = DynamicSpec::map()
        .with_type("Linear", Some(qconfig::default_dynamic_qconfig()))
        .with_name("keep", None);
    let swapped = qnnpack(|| quantize_dynamic(&mut m, &spec, WeightDType::QInt8)).unwrap();
    assert_eq!(swapped.len(), 1);
    assert_eq!(
        m.get_submodule("head").unwrap().type_name(),
        "DynamicQuantizedLinear"
    );
    assert_eq!(m.get_submodule("keep").unwrap().type_name(), "Linear");
    assert!(max_diff(&run(&mut m, &x), &float_y) < 0.015);
}

/// An encoder-head model: `nn::LSTM` then `nn::Linear` on the last output step.
#[derive(nn::Module)]
struct Encoder {
    rnn: nn::Child,
    head: nn::Child,
    training: bool,
}

impl nn::Forward for Encoder {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let out = self.rnn.forward(x)?.into_tuple("Encoder")?;
        let y = out[0].as_float().expect("output").clone();
        let last = y.narrow(0, y.shape()[0] - 1, 1)?.squeeze_dim(0)?;
        self.head.forward(Value::Float(last))
    }
}

#[test]
fn the_default_spec_converts_nn_lstm_models() {
    let (mut m, x) = qnnpack(|| {
        nn::manual_seed(9);
        let rnn =
            nn::LSTM::new(nn::RnnConfig::new(5, 8).num_layers(2).bidirectional(true)).unwrap();
        let m = Encoder {
            rnn: nn::Child::new(rnn),
            head: nn::Child::new(Linear::new(16, 3, true)),
            training: true,
        };
        (m, input(&mut Lcg(13), &[6, 2, 5]))
    });
    let float_y = nn::no_grad(|| run(&mut m, &x));
    let swapped =
        qnnpack(|| quantize_dynamic(&mut m, &DynamicSpec::Default, WeightDType::QInt8)).unwrap();
    let to: Vec<_> = swapped
        .iter()
        .map(|s| (s.path.as_str(), s.to.as_str()))
        .collect();
    assert_eq!(
        to,
        [
            ("rnn", "DynamicQuantizedLSTM"),
            ("head", "DynamicQuantizedLinear")
        ]
    );
    let y = run(&mut m, &x);
    assert!(max_diff(&y, &float_y) < 0.02, "{}", max_diff(&y, &float_y));
    assert_eq!(
        m.get_submodule("rnn").unwrap().repr(),
        "DynamicQuantizedLSTM(5, 8, num_layers=2, bidirectional=True)"
    );
}

#[test]
fn fused_linear_relu_becomes_a_dynamic_linear_relu() {
    let mut rng = Lcg(14);
    let fused = nn_intrinsic::LinearReLU::new(linear(&mut rng, 5, 4, true), ReLU::new());
    let mut m = Sequential::new()
        .with(fused)
        .with(linear(&mut rng, 4, 2, true));
    let x = input(&mut rng, &[3, 5]);
    let float_hidden = run(m.get_submodule_mut("0").unwrap(), &x);
    let swapped = qnnpack(|| {
        quantize_dynamic(
            &mut m,
            &DynamicSpec::types(["LinearReLU"]),
            WeightDType::QInt8,
        )
    })
    .unwrap();
    assert_eq!(swapped[0].to, "DynamicQuantizedLinearReLU");
    assert_eq!(m.get_submodule("1").unwrap().type_name(), "Linear");
    let hidden = run(m.get_submodule_mut("0").unwrap(), &x);
    assert!(hidden.iter().all(|&v| v >= 0.0));
    assert!(max_diff(&hidden, &float_hidden) < 0.015);

    // Selecting only `Linear` leaves the fused module (and the Linear inside it) float.
    let mut rng = Lcg(14);
    let fused = nn_intrinsic::LinearReLU::new(linear(&mut rng, 5, 4, true), ReLU::new());
    let mut m = Sequential::new()
        .with(fused)
        .with(linear(&mut rng, 4, 2, true));
    let swapped =
        qnnpack(|| quantize_dynamic(&mut m, &DynamicSpec::types(["Linear"]), WeightDType::QInt8))
            .unwrap();
    assert_eq!(
        swapped.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["1"]
    );
    assert_eq!(m.get_submodule("0.0").unwrap().type_name(), "Linear");
}
