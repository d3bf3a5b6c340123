//! Saving and loading the dynamic modules: every kind (qint8 per-tensor / per-channel and
//! float16 weights, with and without biases, multi-layer and bidirectional recurrent ones)
//! round-trips through the file exactly and a module of the same architecture built with
//! other weights on any engine then computes bit for bit what the saved one computes.

mod common;

use common::{cell_weights, rnn_weights, with_engine, Lcg, TestQuantizer};
use nn::{Module, Tensor, Value};
use nn_quantized::state::{
    load_quantized_state_dict, quantized_state_dict, QuantizedStateDict, StateDType, StateError,
};
use nn_quantized_dynamic::{
    GRUCell, LSTMCell, Linear, LinearReLU, Nonlinearity, RNNCell, RnnOptions, GRU, LSTM,
};
use proptest::prelude::*;

const QUANTIZERS: [TestQuantizer; 3] = [
    TestQuantizer::PerTensor,
    TestQuantizer::PerChannel,
    TestQuantizer::Float16,
];

/// A dynamic module of `kind` (0..7) and an input for it.
fn build(kind: usize, q: TestQuantizer, dims: [usize; 4], seed: u64) -> (Box<dyn Module>, Value) {
    let mut g = Lcg::new(seed);
    let (input, hidden, bias) = (1 + dims[0], 1 + dims[1], dims[2].is_multiple_of(2));
    let x = |g: &mut Lcg, shape: &[usize]| Value::Float(Tensor::new(g.array(shape, -2.0, 2.0)));
    match kind {
        0 | 1 => {
            let w = g.array(&[hidden, input], -1.0, 1.0);
            let b = g.array(&[hidden], -1.0, 1.0);
            let b = bias.then(|| b.iter().copied().collect::<Vec<f32>>());
            let lin = Linear::from_float_weights(w.view(), b.as_deref(), &q).unwrap();
            let m: Box<dyn Module> = if kind == 0 {
                Box::new(lin)
            } else {
                Box::new(LinearReLU::new(lin))
            };
            (m, x(&mut g, &[3, input]))
        }
        2..=4 => {
            let gates = [4, 3, 1][kind - 2];
            let w = cell_weights(&mut g, gates, input, hidden, bias);
            let m: Box<dyn Module> = match kind {
                2 => Box::new(LSTMCell::from_state_dict(input, hidden, bias, &w, &q).unwrap()),
                3 => Box::new(GRUCell::from_state_dict(input, hidden, bias, &w, &q).unwrap()),
                _ => {
                    let act = if dims[3].is_multiple_of(2) {
                        Nonlinearity::Tanh
                    } else {
                        Nonlinearity::Relu
                    };
                    Box::new(RNNCell::from_state_dict(input, hidden, bias, act, &w, &q).unwrap())
                }
            };
            (m, x(&mut g, &[2, input]))
        }
        _ => {
            let lstm = kind == 5;
            let (layers, bidi) = (1 + dims[3] % 2, dims[3] >= 2);
            let o = RnnOptions::new(input, hidden)
                .num_layers(layers)
                .bidirectional(bidi)
                .bias(bias);
            let w = rnn_weights(
                &mut g,
                if lstm { 4 } else { 3 },
                input,
                hidden,
                layers,
                bidi,
                bias,
            );
            let m: Box<dyn Module> = if lstm {
                Box::new(LSTM::from_state_dict(o, &w, &q).unwrap())
            } else {
                Box::new(GRU::from_state_dict(o, &w, &q).unwrap())
            };
            (m, x(&mut g, &[3, 2, input]))
        }
    }
}

fn out_bits(v: &Value) -> Vec<u32> {
    match v {
        Value::Float(t) => t.to_vec().iter().map(|f| f.to_bits()).collect(),
        Value::Tuple(vs) => vs.iter().flat_map(out_bits).collect(),
        Value::Quant(_) => panic!("dynamic modules return floats"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn dynamic_modules_round_trip_exactly_on_every_engine(
        kind in 0usize..7,
        quantizer in 0usize..3,
        dims in proptest::array::uniform4(0usize..4),
        seeds in (any::<u64>(), any::<u64>()),
        pick in (0usize..2, 0usize..2),
    ) {
        let engines = qtensor::supported_engines();
        let (packing, loading) = (engines[pick.0 % engines.len()], engines[pick.1 % engines.len()]);
        let q = QUANTIZERS[quantizer];
        with_engine(loading, || -> Result<(), TestCaseError> {
            let (mut saved, x) = build(kind, q, dims, seeds.0);
            let want = out_bits(&saved.forward(x.clone()).unwrap());
            let sd = quantized_state_dict(saved.as_ref()).unwrap();
            let read = QuantizedStateDict::from_safetensors(&sd.to_safetensors().unwrap()).unwrap();
            prop_assert_eq!(&read, &sd);

            qtensor::set_engine(packing).unwrap();
            let (mut other, _) = build(kind, q, dims, seeds.1);
            qtensor::set_engine(loading).unwrap();
            load_quantized_state_dict(other.as_mut(), &read).unwrap();
            prop_assert_eq!(&quantized_state_dict(other.as_ref()).unwrap(), &sd);
            prop_assert_eq!(out_bits(&other.forward(x).unwrap()), want);
            Ok(())
        })?;
    }
}

#[test]
fn names_follow_the_float_modules_and_dtypes_are_checked() {
    with_engine(qtensor::default_engine(), || {
        let (lstm, _) = build(5, TestQuantizer::PerChannel, [1, 1, 0, 2], 1);
        let sd = quantized_state_dict(lstm.as_ref()).unwrap();
        assert_eq!(
            sd.keys(),
            [
                "weight_ih_l0",
                "weight_hh_l0",
                "bias_ih_l0",
                "bias_hh_l0",
                "weight_ih_l0_reverse",
                "weight_hh_l0_reverse",
                "bias_ih_l0_reverse",
                "bias_hh_l0_reverse"
            ]
        );
        assert_eq!(sd.get("weight_ih_l0").unwrap().dtype(), StateDType::QInt8);
        let (fp16, _) = build(0, TestQuantizer::Float16, [2, 2, 0, 0], 1);
        let fp16_sd = quantized_state_dict(fp16.as_ref()).unwrap();
        assert_eq!(fp16_sd.get("weight").unwrap().dtype(), StateDType::Float16);

        // A qint8 file does not load into a float16 module of the same shape.
        let (qint8, _) = build(0, TestQuantizer::PerTensor, [2, 2, 0, 0], 2);
        let mut fp16 = fp16;
        let err = load_quantized_state_dict(
            fp16.as_mut(),
            &quantized_state_dict(qint8.as_ref()).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, StateError::Mismatch { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("weight: the model has float16 [3, 3], the file has qint8 [3, 3]"),
            "{err}"
        );
        assert_eq!(quantized_state_dict(fp16.as_ref()).unwrap(), fp16_sd);
    });
}
