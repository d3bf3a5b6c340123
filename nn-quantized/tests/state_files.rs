//! Whole-model save / load: a file written on one engine loads into a model of the same
//! architecture built on any engine and reproduces the outputs bit for bit; every bad file or
//! model is a typed error naming the problem, and leaves the model exactly as it was.

mod state_common;
mod state_model;

use std::collections::HashMap;
use std::path::PathBuf;

use nn::Module;
use nn_quantized::state::{
    load_quantized, load_quantized_state_dict, quantized_state_dict, save_quantized, QStateTensor,
    QuantizedStateDict, StateError, FORMAT_VERSION,
};
use nn_quantized::{load_quantized as load_at_root, save_quantized as save_at_root};
use qtensor::{quantize_per_channel, QDType};
use state_common::{engine_lock, engines};
use state_model::{net, outputs, snapshot, Net, Variant};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nnq-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Loads `bytes` into `m` expecting an error; checks the model did not change.
fn refused(m: &mut Net, bytes: &[u8]) -> StateError {
    let before = snapshot(m);
    let err = QuantizedStateDict::from_safetensors(bytes)
        .and_then(|sd| load_quantized_state_dict(m, &sd))
        .expect_err("the load must fail");
    assert_eq!(
        snapshot(m),
        before,
        "a failed load changed the model ({err})"
    );
    err
}

fn refused_dict(m: &mut Net, sd: &QuantizedStateDict) -> StateError {
    let before = snapshot(m);
    let err = load_quantized_state_dict(m, sd).expect_err("the load must fail");
    assert_eq!(
        snapshot(m),
        before,
        "a failed load changed the model ({err})"
    );
    err
}

#[test]
fn a_saved_file_reproduces_the_model_on_every_engine_pair() {
    for &save_engine in &engines() {
        for &build_engine in &engines() {
            let _guard = engine_lock(save_engine);
            let mut saved = net(4, 11, Variant::Same);
            let want = outputs(&mut saved).unwrap();
            let path = temp(&format!("model-{save_engine}-{build_engine}.safetensors"));
            save_quantized(&saved, &path).unwrap();

            qtensor::set_engine(build_engine).unwrap();
            let mut other = net(4, 12, Variant::Same);
            assert_ne!(
                outputs(&mut other).unwrap(),
                want,
                "the two models must differ first"
            );
            qtensor::set_engine(save_engine).unwrap();
            load_at_root(&mut other, &path).unwrap();
            assert_eq!(
                outputs(&mut other).unwrap(),
                want,
                "{save_engine} <- {build_engine}"
            );
            assert_eq!(
                quantized_state_dict(&other).unwrap(),
                quantized_state_dict(&saved).unwrap()
            );
            let conv = other.conv.downcast_ref::<nn_quantized::Conv2d>().unwrap();
            assert_eq!(
                conv.core().engine(),
                save_engine,
                "weights repacked for the current engine"
            );
        }
    }
}

#[test]
fn the_state_has_pytorchs_names_and_the_float_parts() {
    let _guard = engine_lock(engines()[0]);
    let m = net(2, 1, Variant::Same);
    let sd = quantized_state_dict(&m).unwrap();
    let keys = sd.keys();
    for k in [
        "quant.scale",
        "quant.zero_point",
        "conv.weight",
        "conv.bias",
        "conv.scale",
        "conv.zero_point",
        "bn.running_mean",
        "act.scale",
        "skip.scale",
        "fc.weight",
        "head.weight",
        "head.bias",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert!(matches!(
        sd.get("conv.weight"),
        Some(QStateTensor::Quantized(_))
    ));
    assert!(matches!(sd.get("head.weight"), Some(QStateTensor::F32(_))));
    let types: Vec<&str> = sd.module_types().iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "Quantize",
            "QuantizedConv2d",
            "QuantizedBatchNorm2d",
            "QuantizedHardswish",
            "QFunctional",
            "QuantizedLinear"
        ]
    );
    // The metadata header carries the format and version.
    let bytes = sd.to_safetensors().unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["format_version"], FORMAT_VERSION.to_string());
    let tensors: serde_json::Value = serde_json::from_str(&meta["tensors"]).unwrap();
    let conv_w = tensors
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "conv.weight")
        .unwrap();
    assert_eq!(conv_w["dtype"], "qint8");
    assert_eq!(conv_w["scheme"], "per_channel_affine");
    assert_eq!(conv_w["axis"], 0);
}

#[test]
fn damaged_truncated_foreign_and_future_files_are_refused() {
    let _guard = engine_lock(engines()[0]);
    let bytes = quantized_state_dict(&net(3, 5, Variant::Same))
        .unwrap()
        .to_safetensors()
        .unwrap();
    let mut m = net(3, 6, Variant::Same);
    for cut in [0, 7, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let err = refused(&mut m, &bytes[..cut]);
        assert!(
            matches!(err, StateError::Corrupt { .. }),
            "cut {cut}: {err}"
        );
    }
    // A flipped bit in the last tensor's data: only the checksum can see it.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x04;
    let err = refused(&mut m, &flipped);
    assert!(err.to_string().contains("checksum"), "{err}");

    // Rewrite the header with other metadata, keeping the tensors.
    let with_meta = |edit: &dyn Fn(&mut HashMap<String, String>)| {
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        edit(&mut meta);
        safetensors::serialize(st.tensors(), Some(meta)).unwrap()
    };
    let future = with_meta(&|m| {
        m.insert("format_version".into(), (FORMAT_VERSION + 1).to_string());
    });
    let err = refused(&mut m, &future);
    assert_eq!(
        err,
        StateError::FutureVersion {
            found: FORMAT_VERSION + 1,
            supported: FORMAT_VERSION
        }
    );
    let foreign = with_meta(&|m| {
        m.insert("format".into(), "something-else".into());
    });
    assert!(matches!(
        refused(&mut m, &foreign),
        StateError::NotQuantizedFile { .. }
    ));
    let no_list = with_meta(&|m| {
        m.remove("tensors");
    });
    assert!(matches!(
        refused(&mut m, &no_list),
        StateError::Corrupt { .. }
    ));

    // A float state dict written by nn is not a quantized-model file.
    let float = nn::Linear::new(3, 2, true)
        .state_dict()
        .to_safetensors()
        .unwrap();
    let err = refused(&mut m, &float);
    assert!(matches!(err, StateError::NotQuantizedFile { .. }), "{err}");

    let err = load_quantized(&mut m, temp("does-not-exist.safetensors")).unwrap_err();
    assert!(
        matches!(err, StateError::Io { action: "read", .. }),
        "{err}"
    );
}

#[test]
fn a_file_for_another_architecture_names_every_difference() {
    let _guard = engine_lock(engines()[0]);
    let sd = quantized_state_dict(&net(3, 5, Variant::Same)).unwrap();

    let mut wider = net(4, 6, Variant::Same);
    match refused_dict(&mut wider, &sd) {
        StateError::Mismatch {
            mismatched,
            missing,
            unexpected,
        } => {
            assert!(missing.is_empty() && unexpected.is_empty());
            let keys: Vec<&str> = mismatched.iter().map(|m| m.key.as_str()).collect();
            assert!(
                keys.contains(&"conv.weight") && keys.contains(&"fc.weight"),
                "{keys:?}"
            );
            let w = mismatched.iter().find(|m| m.key == "conv.weight").unwrap();
            assert_eq!(
                (w.expected.as_str(), w.found.as_str()),
                ("qint8 [4, 3, 3, 3]", "qint8 [3, 3, 3, 3]")
            );
        }
        other => panic!("{other}"),
    }

    let mut no_bn = net(3, 6, Variant::NoBatchNorm);
    match refused_dict(&mut no_bn, &sd) {
        StateError::Mismatch {
            unexpected,
            missing,
            ..
        } => {
            assert!(missing.is_empty());
            assert!(unexpected.iter().all(|k| k.starts_with("bn.")) && unexpected.len() == 6);
        }
        other => panic!("{other}"),
    }
    // The other way round, the model's batch norm finds nothing in the file.
    let small = quantized_state_dict(&net(3, 5, Variant::NoBatchNorm)).unwrap();
    let mut with_bn = net(3, 6, Variant::Same);
    match refused_dict(&mut with_bn, &small) {
        StateError::Mismatch { missing, .. } => assert_eq!(missing.len(), 6, "{missing:?}"),
        other => panic!("{other}"),
    }

    let mut float_fc = net(3, 6, Variant::FloatFc);
    let err = refused_dict(&mut float_fc, &sd);
    let text = err.to_string();
    assert!(
        text.contains("fc.weight: the model has float32 [4, 75], the file has qint8 [4, 75]"),
        "{text}"
    );

    let mut leaky = net(3, 6, Variant::OtherActivation);
    let text = refused_dict(&mut leaky, &sd).to_string();
    assert!(
        text.contains(
            "module 'act': the model has QuantizedLeakyReLU, the file has QuantizedHardswish"
        ),
        "{text}"
    );
}

#[test]
fn values_no_module_can_take_are_refused_before_anything_changes() {
    let _guard = engine_lock(engines()[0]);
    let good = quantized_state_dict(&net(3, 5, Variant::Same)).unwrap();
    let mut m = net(3, 6, Variant::Same);
    let cases: Vec<(&str, QStateTensor)> = vec![
        ("quant.scale", QStateTensor::scalar_f64(0.0)),
        ("quant.zero_point", QStateTensor::scalar_i64(300)),
        ("skip.scale", QStateTensor::scalar_f64(f64::NAN)),
        // A valid quantized tensor the linear kernel cannot take: per-channel along axis 1.
        ("fc.weight", {
            let w = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[4, 75]), 0.1f32);
            let q =
                quantize_per_channel(w.view(), &[0.01; 75], &[0; 75], 1, QDType::QInt8).unwrap();
            QStateTensor::Quantized(q)
        }),
    ];
    for (key, value) in cases {
        let mut bad = good.clone();
        bad.insert(key, value);
        let err = refused_dict(&mut m, &bad);
        match &err {
            StateError::InvalidEntry { key: k, .. } => assert_eq!(k, key, "{err}"),
            other => panic!("{key}: {other}"),
        }
    }
}

#[test]
fn float_models_are_refused_by_save_and_load() {
    let _guard = engine_lock(engines()[0]);
    let sd = quantized_state_dict(&net(3, 5, Variant::Same)).unwrap();
    let mut float = nn::Sequential::new().with(nn::Linear::new(3, 2, true));
    let err = quantized_state_dict(&float).unwrap_err();
    assert!(matches!(err, StateError::NotQuantized { .. }), "{err}");
    let err = save_at_root(&float, temp("float.safetensors")).unwrap_err();
    assert!(err.to_string().contains("convert it first"), "{err}");
    let before = float.state_dict();
    let err = load_quantized_state_dict(&mut float, &sd).unwrap_err();
    assert!(matches!(err, StateError::NotQuantized { .. }), "{err}");
    assert_eq!(float.state_dict(), before);
}
