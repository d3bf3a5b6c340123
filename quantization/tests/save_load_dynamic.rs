//! Saving and loading a dynamically quantized model (`quantize_dynamic`: an LSTM encoder and a
//! linear head, a float layer left out): qint8 and float16, saved on one engine and loaded into
//! the same model converted from other float weights on any engine, reproduces the outputs bit
//! for bit, float layer included.

use nn::prelude::*;
use nn_quantized::state::quantized_state_dict;
use nn_quantized_dynamic::WeightDType;
use qtensor::set_engine;
use quantization::dynamic::{quantize_dynamic, DynamicSpec};
use quantization::{load_quantized, save_quantized};

#[derive(Module)]
struct Encoder {
    rnn: Child,
    head: Child,
    keep: Child,
}

impl nn::Forward for Encoder {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let out = self.rnn.forward(x)?.into_tuple("Encoder")?;
        let y = out[0].as_float().expect("output").clone();
        let last = y.narrow(0, y.shape()[0] - 1, 1)?.squeeze_dim(0)?;
        let h = self.head.forward(Value::Float(last))?;
        self.keep.forward(h)
    }
}

fn encoder(seed: u64, dtype: WeightDType) -> Encoder {
    nn::manual_seed(seed);
    let rnn = nn::LSTM::new(nn::RnnConfig::new(5, 6).num_layers(2).bidirectional(true)).unwrap();
    let mut m = Encoder {
        rnn: Child::new(rnn),
        head: Child::new(nn::Linear::new(12, 4, true)),
        keep: Child::new(nn::Linear::new(4, 3, true)),
    };
    quantize_dynamic(&mut m, &DynamicSpec::names(["rnn", "head"]), dtype).unwrap();
    m
}

fn bits(m: &mut Encoder) -> Vec<u32> {
    nn::manual_seed(77);
    let x = Tensor::randn(&[4, 2, 5]);
    let y = m.forward(Value::Float(x)).unwrap();
    y.as_float()
        .unwrap()
        .to_vec()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// One test function: the engine and the seed are process-wide.
#[test]
fn dynamic_models_reload_bit_for_bit_across_engines() {
    let dir = std::env::temp_dir().join(format!("quantization-dynamic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let engines = qtensor::supported_engines().to_vec();
    for dtype in [WeightDType::QInt8, WeightDType::Float16] {
        for &save_engine in &engines {
            for &build_engine in &engines {
                set_engine(save_engine).unwrap();
                let mut saved = encoder(1, dtype);
                let want = bits(&mut saved);
                let path = dir.join(format!(
                    "{dtype:?}-{save_engine}-{build_engine}.safetensors"
                ));
                save_quantized(&saved, &path).unwrap();
                let sd = quantized_state_dict(&saved).unwrap();
                assert!(sd.keys().contains(&"rnn.weight_hh_l1_reverse"));
                assert!(sd.keys().contains(&"keep.weight"));

                set_engine(build_engine).unwrap();
                let mut other = encoder(2, dtype);
                set_engine(save_engine).unwrap();
                assert_ne!(bits(&mut other), want);
                load_quantized(&mut other, &path).unwrap();
                assert_eq!(
                    bits(&mut other),
                    want,
                    "{dtype:?} {save_engine} <- {build_engine}"
                );
                assert_eq!(quantized_state_dict(&other).unwrap(), sd);
            }
        }
    }
}
