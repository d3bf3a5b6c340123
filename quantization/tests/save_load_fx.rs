//! Saving and loading a graph-mode converted model: the quantized modules it calls, and its
//! own quantization attributes (scales and zero points of functional ops, packed weights of
//! functional linears) are saved; a model traced, calibrated on other data and converted from
//! other float weights on any engine then reproduces the saved model bit for bit.

use nn::functional as F;
use nn::prelude::*;
use nn::{Conv2d, ConvConfig, Forward, Linear};
use nn_quantized::state::{quantized_state_dict, QStateTensor, StateError};
use qtensor::Engine;
use quantization::fx::{convert_fx, get_default_qconfig_mapping, prepare_fx, GraphModule};
use quantization::{load_quantized, save_quantized, Backend};

#[derive(Module)]
struct Fxm {
    conv: Child,
    w: Tensor,
    b: Tensor,
}

impl Forward for Fxm {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = F::relu(&self.conv.forward(x)?.into_float("Fxm")?);
        let z = F::relu(&y.add(&y)?);
        let flat = F::flatten(&z, 1, -1)?;
        Ok(Value::Float(F::linear(&flat, &self.w, Some(&self.b))?))
    }
}

fn converted(engine: Engine, seed: u64) -> GraphModule {
    qtensor::set_engine(engine).unwrap();
    nn::manual_seed(seed);
    let lin = Linear::new(3 * 4 * 4, 5, true);
    let mut m = Fxm {
        conv: Child::new(Conv2d::from_config(ConvConfig::new(2, 3, &[3, 3]).padding(1)).unwrap()),
        w: lin.weight.clone(),
        b: lin.bias.clone().unwrap(),
    };
    m.eval();
    let cal: Vec<Value> = (0..3)
        .map(|_| Value::Float(Tensor::randn(&[2, 2, 4, 4]).mul_scalar(1.0 + seed as f32)))
        .collect();
    let mapping = get_default_qconfig_mapping(Backend::from(engine));
    let mut p = prepare_fx(m, &mapping, &cal[..1]).unwrap();
    for x in &cal {
        p.forward(x.clone()).unwrap();
    }
    convert_fx(p).unwrap()
}

fn bits(m: &mut GraphModule) -> Vec<u32> {
    nn::manual_seed(123);
    let y = m
        .forward(Value::Float(Tensor::randn(&[3, 2, 4, 4])))
        .unwrap();
    y.as_float()
        .unwrap()
        .to_vec()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// One test function: the engine and the seed are process-wide.
#[test]
fn fx_models_reload_bit_for_bit_across_engines() {
    let dir = std::env::temp_dir().join(format!("quantization-fx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let engines = qtensor::supported_engines().to_vec();
    for &save_engine in &engines {
        for &build_engine in &engines {
            let mut saved = converted(save_engine, 1);
            let want = bits(&mut saved);
            let sd = quantized_state_dict(&saved).unwrap();
            let scale = sd
                .iter()
                .find(|(k, _)| k.contains("scale_"))
                .expect("a scale attribute");
            assert!(matches!(scale.1, QStateTensor::F64(_)), "{}", scale.0);
            let packed = sd
                .keys()
                .into_iter()
                .find(|k| k.ends_with("packed_weight_0.weight"));
            assert!(packed.is_some(), "{:?}", sd.keys());
            assert!(sd.keys().contains(&"conv.weight"), "{:?}", sd.keys());
            let path = dir.join(format!("{save_engine}-{build_engine}.safetensors"));
            save_quantized(&saved, &path).unwrap();

            let mut other = converted(build_engine, 2);
            qtensor::set_engine(save_engine).unwrap();
            assert_ne!(bits(&mut other), want);
            load_quantized(&mut other, &path).unwrap();
            assert_eq!(bits(&mut other), want, "{save_engine} <- {build_engine}");
            assert_eq!(quantized_state_dict(&other).unwrap(), sd);
        }
    }

    // A traced float graph module has no quantized state.
    qtensor::set_engine(engines[0]).unwrap();
    let mut float = quantization::fx::symbolic_trace(
        Fxm {
            conv: Child::new(Conv2d::from_config(ConvConfig::new(2, 3, &[3, 3])).unwrap()),
            w: Tensor::randn(&[5, 12]),
            b: Tensor::randn(&[5]),
        },
        &[Value::Float(Tensor::randn(&[1, 2, 4, 4]))],
    )
    .unwrap();
    let err = load_quantized(
        &mut float,
        dir.join(format!("{}-{}.safetensors", engines[0], engines[0])),
    )
    .unwrap_err();
    assert!(matches!(err, StateError::NotQuantized { .. }), "{err}");
}
