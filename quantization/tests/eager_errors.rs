//! Bad input to the eager passes: typed errors or notices as PyTorch's, never a panic, and the
//! model left as it was.

mod eager_model;

use eager_model::{input, types, wave, Net};
use nn::prelude::*;
use nn::{ConvTranspose2d, DeQuantStub, Embedding, QuantStub};
use qtensor::{set_engine, Engine};
use quantization::eager::{
    convert, fuse_modules, prepare, EagerError, FromFloatCtx, ObserverModule, QConfigMapping,
    QuantMapping,
};
use quantization::{get_default_qconfig, qconfig, Backend};

fn prepared_net(spec: &QConfigMapping) -> (Net, QuantMapping) {
    set_engine(Engine::Qnnpack).unwrap();
    let mut net = Net::new(4, 3);
    net.eval();
    fuse_modules(&mut net, &Net::GROUPS).unwrap();
    let mapping = QuantMapping::default_static();
    prepare(&mut net, spec, &mapping).unwrap();
    (net, mapping)
}

fn qparams(net: &Net, name: &str) -> (f32, i64) {
    let q = net
        .get_submodule(&format!("{name}.activation_post_process"))
        .unwrap()
        .downcast_ref::<ObserverModule>()
        .unwrap()
        .calculate_qparams()
        .unwrap();
    (q.scales[0], q.zero_points.as_int().unwrap()[0])
}

#[test]
fn nan_in_calibration_data_is_an_error_that_leaves_the_observers_as_they_were() {
    let spec = QConfigMapping::global(get_default_qconfig(Backend::Qnnpack));
    let (mut net, _) = prepared_net(&spec);
    let (mut clean, _) = prepared_net(&spec);
    for m in [&mut net, &mut clean] {
        m.forward(input(&[2, 3, 8, 8], 0.3)).unwrap();
    }
    let mut bad = wave(&[2, 3, 8, 8], 0.7);
    bad[[1, 2, 3, 4]] = f32::NAN;
    let err = net.forward(Value::Float(Tensor::new(bad))).unwrap_err();
    assert_eq!(err.module_path(), Some("quant.activation_post_process"));
    assert!(err.to_string().contains("NaN"), "{err}");
    for name in ["quant", "conv1", "conv2", "skip", "fc1", "fc2"] {
        assert_eq!(qparams(&net, name), qparams(&clean, name), "{name}");
    }
}

#[test]
fn per_channel_weights_on_a_transposed_conv_are_refused_at_prepare() {
    set_engine(Engine::Qnnpack).unwrap();
    let mut seq = Sequential::new()
        .with(QuantStub::new())
        .with(ConvTranspose2d::new(3, 2, 3).unwrap())
        .with(DeQuantStub::new());
    seq.eval();
    let before = types(&seq);
    let mapping = QuantMapping::default_static();
    let spec = QConfigMapping::global(get_default_qconfig(Backend::Fbgemm));
    let err = prepare(&mut seq, &spec, &mapping).unwrap_err();
    match &err {
        EagerError::QConfig {
            path,
            module,
            reason,
        } => {
            assert_eq!((path.as_str(), module.as_str()), ("1", "ConvTranspose2d"));
            assert!(reason.contains("per-channel"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(types(&seq), before);
    // With per-tensor weights it quantizes, and the output follows the float one.
    let spec = QConfigMapping::global(get_default_qconfig(Backend::Qnnpack));
    let x = input(&[1, 3, 4, 4], 0.4);
    let float_y = seq.forward(x.clone()).unwrap().as_float().unwrap().to_vec();
    prepare(&mut seq, &spec, &mapping).unwrap();
    seq.forward(x.clone()).unwrap();
    convert(&mut seq, &mapping).unwrap();
    assert_eq!(seq.get(1).unwrap().type_name(), "QuantizedConvTranspose2d");
    let y = seq.forward(x).unwrap().as_float().unwrap().to_vec();
    let range = float_y.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in y.iter().zip(&float_y) {
        assert!((a - b).abs() <= 0.05 * range, "{a} vs {b}");
    }
}

#[test]
fn a_qconfig_the_kernels_cannot_run_is_refused_before_anything_changes() {
    // qint8 activations: the quantized convolution takes quint8 only.
    let spec = QConfigMapping::global(qconfig::default_symmetric_qnnpack_qconfig());
    let (mut net, mapping) = prepared_net(&spec);
    net.forward(input(&[2, 3, 8, 8], 0.3)).unwrap();
    let before = types(&net);
    let err = convert(&mut net, &mapping).unwrap_err();
    assert!(matches!(err, EagerError::QConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("quint8"), "{err}");
    assert_eq!(types(&net), before);
    // A dynamic qconfig is not a static one.
    let spec = QConfigMapping::global(qconfig::default_dynamic_qconfig());
    let (mut net, mapping) = prepared_net(&spec);
    net.forward(input(&[2, 3, 8, 8], 0.3)).unwrap();
    let err = convert(&mut net, &mapping).unwrap_err();
    assert!(err.to_string().contains("dynamic"), "{err}");
}

#[test]
fn embeddings_need_the_float_qparams_qconfig() {
    set_engine(Engine::Qnnpack).unwrap();
    let mapping = QuantMapping::default_static();
    let make = || {
        let mut s = Sequential::new().with(Embedding::new(10, 4, None).unwrap());
        s.eval();
        s
    };
    let idx = || {
        Value::Float(Tensor::new(
            ndarray::ArrayD::from_shape_vec(vec![3], vec![1.0, 7.0, 2.0]).unwrap(),
        ))
    };
    let mut seq = make();
    prepare(
        &mut seq,
        &QConfigMapping::global(get_default_qconfig(Backend::Qnnpack)),
        &mapping,
    )
    .unwrap();
    seq.forward(idx()).unwrap();
    let err = convert(&mut seq, &mapping).unwrap_err();
    assert!(
        err.to_string()
            .contains("float_qparams_weight_only_qconfig"),
        "{err}"
    );
    let mut seq = make();
    let float_y = seq.forward(idx()).unwrap().as_float().unwrap().to_vec();
    let spec = QConfigMapping::global(qconfig::float_qparams_weight_only_qconfig());
    prepare(&mut seq, &spec, &mapping).unwrap();
    convert(&mut seq, &mapping).unwrap();
    assert_eq!(seq.get(0).unwrap().type_name(), "QuantizedEmbedding");
    let y = seq.forward(idx()).unwrap().as_float().unwrap().to_vec();
    for (a, b) in y.iter().zip(&float_y) {
        assert!((a - b).abs() < 0.05, "{a} vs {b}");
    }
}

#[test]
fn missing_qconfigs_and_unknown_paths_are_noticed() {
    set_engine(Engine::Qnnpack).unwrap();
    let mut net = Net::new(4, 3);
    net.eval();
    let mapping = QuantMapping::default_static();
    let report = prepare(&mut net, &QConfigMapping::new(), &mapping).unwrap();
    assert!(report.observers.is_empty());
    assert!(report
        .notices
        .iter()
        .any(|n| n.message.contains("None of the submodule")));
    let spec =
        QConfigMapping::global(get_default_qconfig(Backend::Qnnpack)).set_path("conv9", None);
    let mut net = Net::new(4, 3);
    let report = prepare(&mut net, &spec, &mapping).unwrap();
    assert!(
        report.notices.iter().any(|n| n.path == "conv9"),
        "{:?}",
        report.notices
    );
}

/// A user's layer: multiplies by a constant.
struct Scale {
    factor: f32,
    training: bool,
}

impl Module for Scale {
    fn type_name(&self) -> &'static str {
        "Scale"
    }
    fn forward(&mut self, input: Value) -> nn::Result<Value> {
        Ok(Value::Float(
            input.into_float("Scale")?.mul_scalar(self.factor),
        ))
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_training_flag(&mut self, t: bool) {
        self.training = t;
    }
}

/// Its quantized form: the quantized mul_scalar.
struct QuantizedScale {
    factor: f32,
    training: bool,
}

impl Module for QuantizedScale {
    fn type_name(&self) -> &'static str {
        "QuantizedScale"
    }
    fn forward(&mut self, input: Value) -> nn::Result<Value> {
        let q = input.into_quant("QuantizedScale")?;
        let y = nn_quantized::functional::mul_scalar(&q, f64::from(self.factor))
            .map_err(|e| NnError::bad_arg("QuantizedScale", e.to_string()))?;
        Ok(Value::Quant(y))
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_training_flag(&mut self, t: bool) {
        self.training = t;
    }
}

#[test]
fn a_users_own_type_is_swapped_through_the_mapping() {
    set_engine(Engine::Qnnpack).unwrap();
    let mut seq = Sequential::new()
        .with(QuantStub::new())
        .with(Scale {
            factor: 2.0,
            training: true,
        })
        .with(DeQuantStub::new());
    seq.eval();
    let mut mapping = QuantMapping::default_static();
    mapping.insert::<Scale>(|ctx: &FromFloatCtx<'_>| {
        let s = ctx.downcast::<Scale>(ctx.module())?;
        // The observer on the user's module is there to read.
        ctx.output_qparams()?;
        Ok(Box::new(QuantizedScale {
            factor: s.factor,
            training: false,
        }))
    });
    let spec = QConfigMapping::global(get_default_qconfig(Backend::Qnnpack));
    let report = prepare(&mut seq, &spec, &mapping).unwrap();
    assert!(report
        .observers
        .contains(&"1.activation_post_process".to_string()));
    let x = input(&[3, 4], 0.2);
    seq.forward(x.clone()).unwrap();
    convert(&mut seq, &mapping).unwrap();
    assert_eq!(seq.get(1).unwrap().type_name(), "QuantizedScale");
    let y = seq.forward(x.clone()).unwrap().as_float().unwrap().to_vec();
    let want: Vec<f32> = x
        .as_float()
        .unwrap()
        .to_vec()
        .iter()
        .map(|v| v * 2.0)
        .collect();
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() < 0.1, "{a} vs {b}");
    }
}
