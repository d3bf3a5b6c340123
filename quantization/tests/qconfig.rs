//! QConfig: PyTorch's named configurations build what PyTorch builds; user-built ones work.

use qtensor::{Engine, QScheme};
use quantization::qconfig::{self, get_default_qat_qconfig_version};
use quantization::{
    get_default_qat_qconfig, get_default_qconfig, Backend, DType, MinMaxObserver, ObserverSpec,
    PostProcess, QConfig, QConfigEntry, QuantError, UniformOptions,
};

/// (name, built, activation's (class, dtype, range), weight's (class, dtype, range, scheme)).
type Row = (
    &'static str,
    QConfig,
    (&'static str, Option<(i64, i64)>),
    (&'static str, Option<(i64, i64)>, QScheme),
);

fn describe(p: &PostProcess) -> (&'static str, Option<(i64, i64)>, QScheme) {
    match p {
        PostProcess::Observer(o) => (o.name(), o.quant_range(), o.qscheme()),
        PostProcess::FakeQuantize(f) => (f.name(), Some(f.quant_range()), f.qscheme()),
        PostProcess::Identity => ("Identity", None, QScheme::PerTensorAffine),
    }
}

#[test]
fn named_defaults_build_what_pytorch_builds() {
    use QScheme::*;
    let rows: Vec<Row> = vec![
        (
            "default_qconfig",
            qconfig::default_qconfig(),
            ("MinMaxObserver", Some((0, 127))),
            ("MinMaxObserver", Some((-128, 127)), PerTensorSymmetric),
        ),
        (
            "default_per_channel_qconfig",
            qconfig::default_per_channel_qconfig(),
            ("MinMaxObserver", Some((0, 127))),
            (
                "PerChannelMinMaxObserver",
                Some((-128, 127)),
                PerChannelSymmetric,
            ),
        ),
        (
            "default_dynamic_qconfig",
            qconfig::default_dynamic_qconfig(),
            ("PlaceholderObserver", Some((0, 255))),
            ("MinMaxObserver", Some((-128, 127)), PerTensorSymmetric),
        ),
        (
            "per_channel_dynamic_qconfig",
            qconfig::per_channel_dynamic_qconfig(),
            ("PlaceholderObserver", Some((0, 255))),
            (
                "PerChannelMinMaxObserver",
                Some((-128, 127)),
                PerChannelSymmetric,
            ),
        ),
        (
            "float16_dynamic_qconfig",
            qconfig::float16_dynamic_qconfig(),
            ("PlaceholderObserver", None),
            ("PlaceholderObserver", None, PerTensorAffine),
        ),
        (
            "float_qparams_weight_only_qconfig",
            qconfig::float_qparams_weight_only_qconfig(),
            ("PlaceholderObserver", None),
            (
                "PerChannelMinMaxObserver",
                Some((0, 255)),
                PerChannelAffineFloatQParams,
            ),
        ),
        (
            "default_weight_only_qconfig",
            qconfig::default_weight_only_qconfig(),
            ("Identity", None),
            ("FakeQuantize", Some((-128, 127)), PerTensorSymmetric),
        ),
        (
            "default_qat_qconfig",
            qconfig::default_qat_qconfig(),
            ("FakeQuantize", Some((0, 127))),
            ("FakeQuantize", Some((-128, 127)), PerTensorSymmetric),
        ),
        (
            "fbgemm",
            get_default_qconfig(Backend::Fbgemm),
            ("HistogramObserver", Some((0, 127))),
            (
                "PerChannelMinMaxObserver",
                Some((-128, 127)),
                PerChannelSymmetric,
            ),
        ),
        (
            "x86",
            get_default_qconfig(Backend::X86),
            ("HistogramObserver", Some((0, 127))),
            (
                "PerChannelMinMaxObserver",
                Some((-128, 127)),
                PerChannelSymmetric,
            ),
        ),
        (
            "qnnpack",
            get_default_qconfig(Engine::Qnnpack),
            ("HistogramObserver", Some((0, 255))),
            ("MinMaxObserver", Some((-128, 127)), PerTensorSymmetric),
        ),
        (
            "onednn",
            get_default_qconfig(Backend::Onednn),
            ("HistogramObserver", Some((0, 255))),
            (
                "PerChannelMinMaxObserver",
                Some((-128, 127)),
                PerChannelSymmetric,
            ),
        ),
        (
            "qat fbgemm",
            get_default_qat_qconfig(Engine::Fbgemm),
            ("FusedMovingAvgObsFakeQuantize", Some((0, 127))),
            (
                "FusedMovingAvgObsFakeQuantize",
                Some((-128, 127)),
                PerChannelSymmetric,
            ),
        ),
        (
            "qat qnnpack",
            get_default_qat_qconfig(Backend::Qnnpack),
            ("FusedMovingAvgObsFakeQuantize", Some((0, 255))),
            (
                "FusedMovingAvgObsFakeQuantize",
                Some((-128, 127)),
                PerTensorSymmetric,
            ),
        ),
        (
            "qat fbgemm v0",
            get_default_qat_qconfig_version(Backend::Fbgemm, 0).unwrap(),
            ("FakeQuantize", Some((0, 127))),
            ("FakeQuantize", Some((-128, 127)), PerChannelSymmetric),
        ),
        (
            "symmetric qnnpack",
            qconfig::default_symmetric_qnnpack_qconfig(),
            ("HistogramObserver", Some((-128, 127))),
            ("MinMaxObserver", Some((-127, 127)), PerTensorSymmetric),
        ),
    ];
    for (name, q, act, weight) in rows {
        let a = describe(&q.activation.build().unwrap());
        let w = describe(&q.weight.build().unwrap());
        assert_eq!((a.0, a.1), act, "{name} activation");
        assert_eq!(w, weight, "{name} weight");
    }
    let f16 = qconfig::float16_dynamic_qconfig();
    assert_eq!(f16.activation.dtype(), Some(DType::Float16));
    assert!(f16.activation.is_dynamic() && !f16.weight.is_dynamic());
    assert!(qconfig::default_dynamic_qconfig().activation.is_dynamic());
}

#[test]
fn every_named_default_builds_fresh_instances() {
    let all = [
        qconfig::default_debug_qconfig(),
        qconfig::float16_static_qconfig(),
        qconfig::float_qparams_weight_only_qconfig_4bit(),
        qconfig::default_dynamic_qat_qconfig(),
        qconfig::default_activation_only_qconfig(),
        qconfig::default_qat_qconfig_v2(),
        qconfig::default_per_channel_symmetric_qnnpack_qconfig(),
        qconfig::default_symmetric_qnnpack_qat_qconfig(),
        qconfig::default_per_channel_symmetric_qnnpack_qat_qconfig(),
        qconfig::default_embedding_qat_qconfig(),
        qconfig::default_embedding_qat_qconfig_4bit(),
        qconfig::default_quint8_weight_qconfig(),
    ];
    for q in all {
        let (a, b) = (q.weight.build().unwrap(), q.weight.build().unwrap());
        if let (PostProcess::Observer(mut a), PostProcess::Observer(b)) = (a, b) {
            a.observe(ndarray::ArrayD::ones(vec![2, 2]).view()).unwrap();
            if !a.min_val().is_empty() {
                assert_ne!(a.min_val(), b.min_val(), "instances share state");
            }
        }
        q.activation.build().unwrap();
    }
}

#[test]
fn users_build_their_own() {
    let four_bit = ObserverSpec::MinMax(
        UniformOptions::per_tensor()
            .dtype(DType::QInt8)
            .qscheme(QScheme::PerTensorSymmetric)
            .quant_range(-8, 7),
    );
    let q = QConfig::new(
        QConfigEntry::custom("my observer", || {
            Ok(PostProcess::Observer(Box::new(MinMaxObserver::new(
                UniformOptions::per_tensor().quant_range(0, 15),
            )?)))
        }),
        QConfigEntry::Observer(four_bit),
    );
    let PostProcess::Observer(mut w) = q.weight.build().unwrap() else {
        panic!("observer expected")
    };
    w.observe(ndarray::array![-1.0f32, 0.5].into_dyn().view())
        .unwrap();
    let p = w.calculate_qparams().unwrap();
    assert_eq!(p.scales, vec![1.0f32 / 7.5]);
    assert_eq!(q.activation.build().unwrap().quant_range(), Some((0, 15)));
    assert_eq!(q.clone(), q);
    let failing = QConfigEntry::custom("bad", || Err(QuantError::Factory("nope".into())));
    assert!(failing.build().is_err());
}

#[test]
fn unknown_backends_and_versions_are_errors() {
    assert_eq!(
        "tensorrt".parse::<Backend>().unwrap_err(),
        QuantError::UnknownBackend {
            name: "tensorrt".into()
        }
    );
    assert_eq!("x86".parse::<Backend>().unwrap(), Backend::X86);
    assert!(get_default_qat_qconfig_version(Backend::Fbgemm, 2).is_err());
    let spec = ObserverSpec::histogram();
    assert_eq!(spec.build().unwrap().name(), "HistogramObserver");
}
