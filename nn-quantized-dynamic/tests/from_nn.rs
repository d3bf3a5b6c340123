//! `from_float` from `nn`'s own float modules (`nn::Linear`, `nn::LSTM`, `nn::GRU`, the cells):
//! the options carry over, and the dynamic module's outputs stay within the quantization error
//! of the float module's (an independent float implementation), through the `Module`
//! interface, initial states included.

mod common;

use common::{engines, with_engine, Lcg, TestQuantizer};
use ndarray::ArrayD;
use nn::{Module, RnnConfig, Tensor, Value};
use nn_quantized_dynamic::{GRUCell, LSTMCell, Nonlinearity, RNNCell, RnnOptions, GRU, LSTM};

/// Builds a float module from `nn`'s generator seeded with `seed` (under the test lock, so
/// parallel tests do not interleave draws) and its dynamic counterpart for `engine`.
fn pair<F: Module, D>(
    engine: qtensor::Engine,
    seed: u64,
    float: impl FnOnce() -> F,
    dynamic: impl FnOnce(&F) -> D,
) -> (F, D) {
    with_engine(engine, || {
        nn::manual_seed(seed);
        let f = float();
        let d = dynamic(&f);
        (f, d)
    })
}

fn tensor(rng: &mut Lcg, shape: &[usize], spread: f32) -> Tensor {
    Tensor::new(rng.array(shape, -spread, spread))
}

/// Every float tensor in a (nested) output, flattened in order.
fn leaves(v: Value) -> Vec<ArrayD<f32>> {
    match v {
        Value::Float(t) => vec![t.to_array()],
        Value::Tuple(items) => items.into_iter().flat_map(leaves).collect(),
        Value::Quant(_) => panic!("unexpected quantized output"),
    }
}

fn compare(float: &mut dyn Module, dynamic: &mut dyn Module, input: Value, tol: f32, what: &str) {
    let want = nn::no_grad(|| leaves(float.forward(input.clone()).expect("float forward")));
    let got = leaves(dynamic.forward(input).expect("dynamic forward"));
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.shape(), w.shape(), "{what} output {i}");
        let d = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d < tol, "{what} output {i}: max difference {d}");
    }
}

#[test]
fn recurrent_networks_from_nn_keep_options_and_outputs() {
    for (bidir, batch_first, layers) in [
        (false, false, 1),
        (true, false, 2),
        (true, true, 2),
        (false, true, 3),
    ] {
        for q in [
            TestQuantizer::PerTensor,
            TestQuantizer::PerChannel,
            TestQuantizer::Float16,
        ] {
            let tol = if matches!(q, TestQuantizer::Float16) {
                1e-3
            } else {
                0.03
            };
            let (input, hidden, seq, batch) = (7, 9, 5, 3);
            let config = RnnConfig::new(input, hidden)
                .num_layers(layers)
                .bidirectional(bidir)
                .batch_first(batch_first);
            let want = RnnOptions::new(input, hidden)
                .num_layers(layers)
                .bidirectional(bidir)
                .batch_first(batch_first);
            let mut rng = Lcg::new(layers as u64 + 10 * bidir as u64);
            let x_shape = if batch_first {
                [batch, seq, input]
            } else {
                [seq, batch, input]
            };
            let x = tensor(&mut rng, &x_shape, 1.5);
            let states = layers * want.num_directions();
            let h0 = tensor(&mut rng, &[states, batch, hidden], 0.5);
            let c0 = tensor(&mut rng, &[states, batch, hidden], 0.5);
            for engine in engines() {
                let what = format!(
                    "bidir={bidir} batch_first={batch_first} layers={layers} {q:?} {engine}"
                );
                let (mut lstm, dl) = pair(
                    engine,
                    1,
                    || nn::LSTM::new(config.clone()).unwrap(),
                    |f| LSTM::from_float(f, &q),
                );
                let mut dl = dl.unwrap();
                assert_eq!(*dl.options(), want);
                let with_state = Value::Tuple(vec![
                    Value::Float(x.clone()),
                    Value::Tuple(vec![Value::Float(h0.clone()), Value::Float(c0.clone())]),
                ]);
                compare(&mut lstm, &mut dl, with_state, tol, &format!("LSTM {what}"));
                compare(
                    &mut lstm,
                    &mut dl,
                    Value::Float(x.clone()),
                    tol,
                    &format!("LSTM zero state {what}"),
                );

                let (mut gru, dg) = pair(
                    engine,
                    2,
                    || nn::GRU::new(config.clone()).unwrap(),
                    |f| GRU::from_float(f, &q),
                );
                let mut dg = dg.unwrap();
                assert_eq!(*dg.options(), want);
                let with_state =
                    Value::Tuple(vec![Value::Float(x.clone()), Value::Float(h0.clone())]);
                compare(&mut gru, &mut dg, with_state, tol, &format!("GRU {what}"));
            }
        }
    }
}

#[test]
fn cells_from_nn_keep_options_and_outputs() {
    let (input, hidden, batch) = (6, 8, 4);
    let mut rng = Lcg::new(99);
    let x = tensor(&mut rng, &[batch, input], 1.5);
    let h = tensor(&mut rng, &[batch, hidden], 0.5);
    let c = tensor(&mut rng, &[batch, hidden], 0.5);
    for engine in engines() {
        for q in [
            TestQuantizer::PerTensor,
            TestQuantizer::PerChannel,
            TestQuantizer::Float16,
        ] {
            let tol = if matches!(q, TestQuantizer::Float16) {
                1e-3
            } else {
                0.03
            };
            let what = format!("{q:?} {engine}");
            let (mut fl, dl) = pair(
                engine,
                3,
                || nn::LSTMCell::new(input, hidden, true).unwrap(),
                |f| LSTMCell::from_float(f, &q),
            );
            let mut dl = dl.unwrap();
            assert_eq!((dl.input_size(), dl.hidden_size()), (input, hidden));
            let state = Value::Tuple(vec![Value::Float(h.clone()), Value::Float(c.clone())]);
            compare(
                &mut fl,
                &mut dl,
                Value::Tuple(vec![Value::Float(x.clone()), state]),
                tol,
                &format!("LSTMCell {what}"),
            );

            let (mut fg, dg) = pair(
                engine,
                4,
                || nn::GRUCell::new(input, hidden, false).unwrap(),
                |f| GRUCell::from_float(f, &q),
            );
            let mut dg = dg.unwrap();
            assert_eq!(dg.extra_repr(), fg.extra_repr());
            compare(
                &mut fg,
                &mut dg,
                Value::Tuple(vec![Value::Float(x.clone()), Value::Float(h.clone())]),
                tol,
                &format!("GRUCell {what}"),
            );

            for relu in [false, true] {
                let (mut fr, dr) = pair(
                    engine,
                    5,
                    || nn::RNNCell::new(input, hidden, true, relu).unwrap(),
                    |f| RNNCell::from_float(f, &q),
                );
                let mut dr = dr.unwrap();
                let act = if relu {
                    Nonlinearity::Relu
                } else {
                    Nonlinearity::Tanh
                };
                assert_eq!(dr.nonlinearity(), act);
                assert_eq!(dr.extra_repr(), fr.extra_repr());
                compare(
                    &mut fr,
                    &mut dr,
                    Value::Float(x.clone()),
                    tol,
                    &format!("RNNCell relu={relu} {what}"),
                );
            }
        }
    }
}

#[test]
fn linear_from_nn_keeps_outputs() {
    let mut rng = Lcg::new(5);
    let x = tensor(&mut rng, &[3, 2, 10], 2.0);
    for engine in engines() {
        for q in [
            TestQuantizer::PerTensor,
            TestQuantizer::PerChannel,
            TestQuantizer::Float16,
        ] {
            // Outputs reach ~3 here: float16 weights are within 2^-11 relative.
            let tol = if matches!(q, TestQuantizer::Float16) {
                3e-3
            } else {
                0.05
            };
            let (mut fl, dl) = pair(
                engine,
                6,
                || nn::Linear::new(10, 12, true),
                |f| nn_quantized_dynamic::Linear::from_float(f, &q),
            );
            let mut dl = dl.unwrap();
            compare(
                &mut fl,
                &mut dl,
                Value::Float(x.clone()),
                tol,
                &format!("Linear {q:?} {engine}"),
            );
        }
    }
}

#[test]
fn a_float_models_state_dict_builds_the_same_module() {
    let config = RnnConfig::new(4, 6).num_layers(2).bidirectional(true);
    let (float, from_float) = pair(
        qtensor::Engine::Qnnpack,
        7,
        || nn::GRU::new(config.clone()).unwrap(),
        |f| GRU::from_float(f, &TestQuantizer::PerTensor),
    );
    let mut outer = nn::Sequential::new();
    outer.push_named("rnn", Box::new(float)).unwrap();
    let sd = outer.state_dict().sub("rnn");
    let opts = RnnOptions::new(4, 6).num_layers(2).bidirectional(true);
    let from_sd = with_engine(qtensor::Engine::Qnnpack, || {
        GRU::from_state_dict(opts, &sd, &TestQuantizer::PerTensor)
    })
    .unwrap();
    let x = tensor(&mut Lcg::new(1), &[3, 2, 4], 1.0)
        .to_array()
        .into_dimensionality()
        .unwrap();
    assert_eq!(
        from_float.unwrap().run(x.view(), None).unwrap(),
        from_sd.run(x.view(), None).unwrap()
    );
    // The whole model's dict has prefixed names: every one is unexpected, and named.
    let e = GRU::from_state_dict(opts, &outer.state_dict(), &TestQuantizer::PerTensor).unwrap_err();
    assert!(
        matches!(
            e,
            nn_quantized_dynamic::DynamicError::UnexpectedWeights { .. }
        ),
        "{e}"
    );
}
