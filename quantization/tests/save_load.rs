//! Saving and loading an eager-mode converted model: a file written on one engine loads into
//! the same model prepared, calibrated (on other data) and converted on any engine and then
//! reproduces the saved model's outputs bit for bit; other architectures, float and only
//! prepared models are refused with the model unchanged.

mod eager_model;

use std::path::PathBuf;

use eager_model::{floats, input, Net};
use nn::prelude::*;
use nn_quantized::state::quantized_state_dict;
use qtensor::{set_engine, Engine};
use quantization::eager::{convert, fuse_modules, prepare, QConfigMapping, QuantMapping};
use quantization::{get_default_qconfig, load_quantized, save_quantized, Backend, StateError};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quantization-save-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn backend(e: Engine) -> Backend {
    match e {
        Engine::Fbgemm => Backend::Fbgemm,
        Engine::Qnnpack => Backend::Qnnpack,
    }
}

/// The test model fused with `groups`, prepared with `engine`'s default qconfig, calibrated
/// on inputs drawn with `k`, converted; on `engine`.
fn converted(engine: Engine, groups: &[&[&str]], k: f32) -> Net {
    set_engine(engine).unwrap();
    let mut net = Net::new(6, 10);
    net.eval();
    fuse_modules(&mut net, groups).unwrap();
    let mapping = QuantMapping::default_static();
    prepare(
        &mut net,
        &QConfigMapping::global(get_default_qconfig(backend(engine))),
        &mapping,
    )
    .unwrap();
    for i in 0..3 {
        net.forward(input(&[4, 3, 8, 8], k + 0.1 * i as f32))
            .unwrap();
    }
    convert(&mut net, &mapping).unwrap();
    net
}

fn bits(net: &mut Net) -> Vec<u32> {
    let y = net.forward(input(&[3, 3, 8, 8], 0.41)).unwrap();
    floats(&y).iter().map(|v| v.to_bits()).collect()
}

/// One test function: the engine setting is process-wide.
#[test]
fn saved_models_reload_bit_for_bit_across_engines_and_other_models_are_refused() {
    let engines = qtensor::supported_engines().to_vec();
    for &save_engine in &engines {
        for &build_engine in &engines {
            let mut saved = converted(save_engine, &Net::GROUPS, 0.13);
            let want = bits(&mut saved);
            let path = temp(&format!("{save_engine}-{build_engine}.safetensors"));
            save_quantized(&saved, &path).unwrap();

            let mut other = converted(build_engine, &Net::GROUPS, 0.57);
            set_engine(save_engine).unwrap();
            assert_ne!(
                bits(&mut other),
                want,
                "other calibration data, other model"
            );
            load_quantized(&mut other, &path).unwrap();
            assert_eq!(
                bits(&mut other),
                want,
                "saved on {save_engine}, built on {build_engine}"
            );
            assert_eq!(
                quantized_state_dict(&other).unwrap(),
                quantized_state_dict(&saved).unwrap()
            );
        }
    }

    let engine = engines[0];
    let path = temp("reference.safetensors");
    save_quantized(&converted(engine, &Net::GROUPS, 0.13), &path).unwrap();

    // fc1 not fused with its ReLU: QuantizedLinear where the file has QuantizedLinearReLU.
    let mut unfused = converted(engine, &Net::GROUPS[..2], 0.57);
    let before = (quantized_state_dict(&unfused).unwrap(), bits(&mut unfused));
    let err = load_quantized(&mut unfused, &path).unwrap_err();
    assert!(
        err.to_string().contains(
            "module 'fc1': the model has QuantizedLinear, the file has QuantizedLinearReLU"
        ),
        "{err}"
    );
    assert_eq!(
        (quantized_state_dict(&unfused).unwrap(), bits(&mut unfused)),
        before
    );

    // A float model and a model only prepared have nothing quantized to load into.
    let mut float = Net::new(6, 10);
    let float_before = float.state_dict();
    let err = load_quantized(&mut float, &path).unwrap_err();
    assert!(matches!(err, StateError::NotQuantized { .. }), "{err}");
    assert_eq!(float.state_dict(), float_before);
    let mapping = QuantMapping::default_static();
    prepare(
        &mut float,
        &QConfigMapping::global(get_default_qconfig(backend(engine))),
        &mapping,
    )
    .unwrap();
    let err = load_quantized(&mut float, &path).unwrap_err();
    assert!(matches!(err, StateError::NotQuantized { .. }), "{err}");
}
