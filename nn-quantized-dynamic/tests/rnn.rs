//! LSTM / GRU: against a step-by-step reference built from the public dynamic `Linear` and the
//! scalar cell equations (bit for bit), against float networks written from PyTorch's
//! documented equations (within the quantization error), `from_float`, the `Module` interface,
//! and bad input.

mod common;

use common::float_rnn::{self, Cell, FloatStandIn};
use common::{bits, engines, max_diff, rnn_weights, with_engine, Lcg, TestQuantizer};
use ndarray::{s, Array2, Array3, ArrayD, Axis, IxDyn};
use nn::{Module, NnError, Tensor, Value};
use nn_quantized_dynamic::equations::{sigmoid, tanh};
use nn_quantized_dynamic::{DynamicError, Linear, RnnMode, RnnOptions, WeightDType, GRU, LSTM};
use proptest::prelude::*;
use qtensor::Engine;

/// Either network, for the shared reference.
enum Net {
    Lstm(LSTM),
    Gru(GRU),
}

impl Net {
    fn build(
        mode: RnnMode,
        o: RnnOptions,
        sd: &std::collections::BTreeMap<String, ArrayD<f32>>,
        q: TestQuantizer,
    ) -> Result<Net, DynamicError> {
        Ok(match mode {
            RnnMode::Lstm => Net::Lstm(LSTM::from_state_dict(o, sd, &q)?),
            RnnMode::Gru => Net::Gru(GRU::from_state_dict(o, sd, &q)?),
        })
    }

    fn options(&self) -> RnnOptions {
        match self {
            Net::Lstm(m) => *m.options(),
            Net::Gru(m) => *m.options(),
        }
    }

    fn part(&self, name: &str) -> Linear {
        let (w, b) = match self {
            Net::Lstm(m) => (m.weight(name), m.bias(&name.replacen("weight", "bias", 1))),
            Net::Gru(m) => (m.weight(name), m.bias(&name.replacen("weight", "bias", 1))),
        };
        Linear::new(w.expect("weight").clone(), b.map(<[f32]>::to_vec)).expect("linear")
    }

    fn run(
        &self,
        x: &Array3<f32>,
        h0: Option<&Array3<f32>>,
        c0: Option<&Array3<f32>>,
    ) -> (Array3<f32>, Array3<f32>, Option<Array3<f32>>) {
        match self {
            Net::Lstm(m) => {
                let st = h0.zip(c0).map(|(h, c)| (h.view(), c.view()));
                let o = m.run(x.view(), st).expect("lstm run");
                (o.output, o.h_n, Some(o.c_n))
            }
            Net::Gru(m) => {
                let o = m.run(x.view(), h0.map(|h| h.view())).expect("gru run");
                (o.output, o.h_n, None)
            }
        }
    }
}

fn rows(a: &Array3<f32>) -> ArrayD<f32> {
    let (t, b, f) = a.dim();
    a.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&[t * b, f]))
        .expect("rows")
}

/// The reference: per layer and direction, one `Linear` call on the whole layer input, then per
/// step a `Linear` call on the hidden state and the cell equations written out per element.
fn reference(
    net: &Net,
    x: &Array3<f32>,
    h0: &Array3<f32>,
    c0: &Array3<f32>,
) -> (Array3<f32>, Array3<f32>, Array3<f32>) {
    let o = net.options();
    let lstm = matches!(net, Net::Lstm(_));
    let x = if o.batch_first {
        x.clone()
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned()
    } else {
        x.clone()
    };
    let (seq, batch, _) = x.dim();
    let (hs, dirs) = (o.hidden_size, o.num_directions());
    let mut h_n = h0.clone();
    let mut c_n = c0.clone();
    let mut layer_in = x;
    for l in 0..o.num_layers {
        let mut out = Array3::<f32>::zeros((seq, batch, dirs * hs));
        for d in 0..dirs {
            let suffix = if d == 1 { "_reverse" } else { "" };
            let ih_lin = net.part(&format!("weight_ih_l{l}{suffix}"));
            let hh_lin = net.part(&format!("weight_hh_l{l}{suffix}"));
            let ih = ih_lin.run(rows(&layer_in).view()).expect("ih");
            let idx = l * dirs + d;
            let mut h: Array2<f32> = h_n.index_axis(Axis(0), idx).to_owned();
            let mut c: Array2<f32> = c_n.index_axis(Axis(0), idx).to_owned();
            let order: Vec<usize> = if d == 0 {
                (0..seq).collect()
            } else {
                (0..seq).rev().collect()
            };
            for t in order {
                let hh = hh_lin.run(h.view().into_dyn()).expect("hh");
                for b in 0..batch {
                    for j in 0..hs {
                        let g = |k: usize| hh[[b, k * hs + j]] + ih[[t * batch + b, k * hs + j]];
                        if lstm {
                            let (i, f, gg, og) =
                                (sigmoid(g(0)), sigmoid(g(1)), tanh(g(2)), sigmoid(g(3)));
                            c[[b, j]] = f * c[[b, j]] + i * gg;
                            h[[b, j]] = og * tanh(c[[b, j]]);
                        } else {
                            let r = sigmoid(g(0));
                            let z = sigmoid(g(1));
                            let n = tanh(ih[[t * batch + b, 2 * hs + j]] + hh[[b, 2 * hs + j]] * r);
                            h[[b, j]] = (h[[b, j]] - n) * z + n;
                        }
                    }
                }
                out.slice_mut(s![t, .., d * hs..(d + 1) * hs]).assign(&h);
            }
            h_n.index_axis_mut(Axis(0), idx).assign(&h);
            c_n.index_axis_mut(Axis(0), idx).assign(&c);
        }
        layer_in = out;
    }
    let y = if o.batch_first {
        layer_in
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned()
    } else {
        layer_in
    };
    (y, h_n, c_n)
}

#[derive(Debug, Clone)]
struct Case {
    mode: RnnMode,
    layers: usize,
    bidirectional: bool,
    batch_first: bool,
    bias: bool,
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    with_state: bool,
    engine: usize,
    quantizer: usize,
    seed: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        (
            prop_oneof![Just(RnnMode::Lstm), Just(RnnMode::Gru)],
            1usize..=3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            1usize..=4,
            1usize..=3,
            1usize..=6,
            1usize..=5,
            any::<bool>(),
        ),
        (0usize..2, 0usize..3, any::<u64>()),
    )
        .prop_map(
            |(
                (mode, layers, bidirectional, batch_first, bias),
                (seq, batch, input, hidden, with_state),
                (engine, quantizer, seed),
            )| Case {
                mode,
                layers,
                bidirectional,
                batch_first,
                bias,
                seq,
                batch,
                input,
                hidden,
                with_state,
                engine,
                quantizer,
                seed,
            },
        )
}

const QUANTIZERS: [TestQuantizer; 3] = [
    TestQuantizer::PerTensor,
    TestQuantizer::PerChannel,
    TestQuantizer::Float16,
];

fn run_case(c: &Case) {
    let engine = engines()[c.engine % engines().len()];
    let q = QUANTIZERS[c.quantizer];
    let mut rng = Lcg::new(c.seed);
    let o = RnnOptions::new(c.input, c.hidden)
        .num_layers(c.layers)
        .bidirectional(c.bidirectional)
        .batch_first(c.batch_first)
        .bias(c.bias);
    let sd = rnn_weights(
        &mut rng,
        c.mode.gates(),
        c.input,
        c.hidden,
        c.layers,
        c.bidirectional,
        c.bias,
    );
    let xshape = if c.batch_first {
        [c.batch, c.seq, c.input]
    } else {
        [c.seq, c.batch, c.input]
    };
    let x: Array3<f32> = rng
        .array(&xshape, -2.0, 2.0)
        .into_dimensionality()
        .expect("3-D");
    let sshape = (c.layers * o.num_directions(), c.batch, c.hidden);
    let (h0, c0): (Array3<f32>, Array3<f32>) = if c.with_state {
        (
            rng.array(&[sshape.0, sshape.1, sshape.2], -1.0, 1.0)
                .into_dimensionality()
                .expect("3-D"),
            rng.array(&[sshape.0, sshape.1, sshape.2], -1.0, 1.0)
                .into_dimensionality()
                .expect("3-D"),
        )
    } else {
        (Array3::zeros(sshape), Array3::zeros(sshape))
    };
    let lstm = c.mode == RnnMode::Lstm;
    let (got, want) = with_engine(engine, || {
        let net = Net::build(c.mode, o, &sd, q).expect("build");
        let got = if c.with_state {
            net.run(&x, Some(&h0), lstm.then_some(&c0))
        } else {
            net.run(&x, None, None)
        };
        (got, reference(&net, &x, &h0, &c0))
    });
    assert_eq!(
        bits(&got.0.into_dyn()),
        bits(&want.0.into_dyn()),
        "output {c:?}"
    );
    assert_eq!(
        bits(&got.1.into_dyn()),
        bits(&want.1.into_dyn()),
        "h_n {c:?}"
    );
    if let Some(cn) = got.2 {
        assert_eq!(bits(&cn.into_dyn()), bits(&want.2.into_dyn()), "c_n {c:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn networks_equal_the_step_by_step_reference(c in cases()) {
        run_case(&c);
    }
}

/// The dynamic networks stay within the quantization error of float networks computed from
/// PyTorch's documented equations (in f64), for every layout option.
#[test]
fn networks_approximate_the_float_equations() {
    for (mode, cell) in [(RnnMode::Lstm, Cell::Lstm), (RnnMode::Gru, Cell::Gru)] {
        for (bidir, batch_first) in [(false, false), (true, false), (true, true), (false, true)] {
            for (q, tol) in [
                (TestQuantizer::PerTensor, 0.02),
                (TestQuantizer::PerChannel, 0.02),
                (TestQuantizer::Float16, 5e-4),
            ] {
                let (layers, seq, batch, input, hidden) = (2, 6, 3, 10, 16);
                let mut rng = Lcg::new(7);
                let sd = rnn_weights(&mut rng, mode.gates(), input, hidden, layers, bidir, true);
                let o = RnnOptions::new(input, hidden)
                    .num_layers(layers)
                    .bidirectional(bidir)
                    .batch_first(batch_first);
                let xs: Array3<f32> = rng
                    .array(&[seq, batch, input], -1.5, 1.5)
                    .into_dimensionality()
                    .unwrap();
                let st = (layers * o.num_directions(), batch, hidden);
                let h0: Array3<f32> = rng
                    .array(&[st.0, st.1, st.2], -0.5, 0.5)
                    .into_dimensionality()
                    .unwrap();
                let c0: Array3<f32> = rng
                    .array(&[st.0, st.1, st.2], -0.5, 0.5)
                    .into_dimensionality()
                    .unwrap();
                let (fy, fh, fc) = float_rnn::network(
                    cell,
                    &sd,
                    layers,
                    bidir,
                    hidden,
                    xs.view(),
                    h0.view(),
                    c0.view(),
                );
                let x_in = if batch_first {
                    xs.clone()
                        .permuted_axes([1, 0, 2])
                        .as_standard_layout()
                        .into_owned()
                } else {
                    xs.clone()
                };
                for engine in engines() {
                    let (y, h, cn) = with_engine(engine, || {
                        let net = Net::build(mode, o, &sd, q).unwrap();
                        net.run(&x_in, Some(&h0), (mode == RnnMode::Lstm).then_some(&c0))
                    });
                    let y = if batch_first {
                        y.permuted_axes([1, 0, 2]).as_standard_layout().into_owned()
                    } else {
                        y
                    };
                    let what =
                        format!("{mode:?} bidir={bidir} batch_first={batch_first} {q:?} {engine}");
                    assert!(
                        max_diff(&y.into_dyn(), &fy.clone().into_dyn()) < tol,
                        "y {what}"
                    );
                    assert!(
                        max_diff(&h.into_dyn(), &fh.clone().into_dyn()) < tol,
                        "h_n {what}"
                    );
                    if let Some(cn) = cn {
                        assert!(
                            max_diff(&cn.into_dyn(), &fc.clone().into_dyn()) < 2.0 * tol,
                            "c_n {what}"
                        );
                    }
                }
            }
        }
    }
}

fn stand_in(
    kind: &'static str,
    sd: &std::collections::BTreeMap<String, ArrayD<f32>>,
    repr: &str,
) -> FloatStandIn {
    FloatStandIn {
        kind,
        params: sd.clone(),
        repr: repr.to_string(),
    }
}

#[test]
fn from_float_reads_sizes_names_and_batch_first() {
    let mut rng = Lcg::new(3);
    let sd = rnn_weights(&mut rng, 4, 5, 3, 2, true, true);
    let float = stand_in(
        "LSTM",
        &sd,
        "5, 3, num_layers=2, batch_first=True, bidirectional=True",
    );
    let x: Array3<f32> = rng
        .array(&[2, 4, 5], -1.0, 1.0)
        .into_dimensionality()
        .unwrap();
    let (a, b) = with_engine(Engine::Qnnpack, || {
        let a = LSTM::from_float(&float, &TestQuantizer::PerTensor).unwrap();
        let want = RnnOptions::new(5, 3)
            .num_layers(2)
            .bidirectional(true)
            .batch_first(true);
        assert_eq!(*a.options(), want);
        let b = LSTM::from_state_dict(want, &sd, &TestQuantizer::PerTensor).unwrap();
        (
            a.run(x.view(), None).unwrap(),
            b.run(x.view(), None).unwrap(),
        )
    });
    assert_eq!(a, b);
    assert_eq!(a.output.dim(), (2, 4, 6));

    let gsd = rnn_weights(&mut rng, 3, 5, 3, 1, false, false);
    let g = with_engine(Engine::Qnnpack, || {
        GRU::from_float(
            &stand_in("GRU", &gsd, "5, 3, bias=False"),
            &TestQuantizer::PerChannel,
        )
    })
    .unwrap();
    assert_eq!(*g.options(), RnnOptions::new(5, 3).bias(false));
    assert_eq!(g.extra_repr(), "5, 3, bias=False");
    assert_eq!(g.type_name(), "DynamicQuantizedGRU");
}

#[test]
fn from_float_rejects_other_modules_and_projections() {
    let mut rng = Lcg::new(4);
    let sd = rnn_weights(&mut rng, 4, 2, 2, 1, false, true);
    let e = LSTM::from_float(&stand_in("GRU", &sd, "2, 2"), &TestQuantizer::PerTensor).unwrap_err();
    assert!(matches!(e, DynamicError::FromFloat { .. }), "{e}");
    let mut proj = sd.clone();
    proj.insert("weight_hr_l0".into(), ArrayD::zeros(IxDyn(&[1, 2])));
    let e = LSTM::from_float(
        &stand_in("LSTM", &proj, "2, 2, proj_size=1"),
        &TestQuantizer::PerTensor,
    )
    .unwrap_err();
    assert!(e.to_string().contains("projections"), "{e}");
}

fn small_lstm(engine: Engine, o: RnnOptions) -> LSTM {
    let mut rng = Lcg::new(11);
    let sd = rnn_weights(
        &mut rng,
        4,
        o.input_size,
        o.hidden_size,
        o.num_layers,
        o.bidirectional,
        o.bias,
    );
    with_engine(engine, || {
        LSTM::from_state_dict(o, &sd, &TestQuantizer::PerTensor)
    })
    .unwrap()
}

fn t(shape: &[usize], v: f32) -> Value {
    Value::Float(Tensor::full(shape, v))
}

#[test]
fn module_forward_takes_and_returns_pytorch_tuples() {
    let mut m = small_lstm(Engine::Qnnpack, RnnOptions::new(3, 2).num_layers(2));
    let direct = m
        .run(Array3::from_elem((4, 1, 3), 0.5).view(), None)
        .unwrap();
    let out = m
        .forward(t(&[4, 1, 3], 0.5))
        .unwrap()
        .into_tuple("test")
        .unwrap();
    assert_eq!(out.len(), 2);
    let y = out[0].as_float().unwrap().to_array();
    assert_eq!(y, direct.output.into_dyn());
    let state = out[1].clone().into_tuple("test").unwrap();
    assert_eq!(state[0].shape(), Some(vec![2, 1, 2]));
    assert_eq!(
        state[1].as_float().unwrap().to_array(),
        direct.c_n.into_dyn()
    );
    // With an explicit state tuple.
    let with_state = Value::Tuple(vec![
        t(&[4, 1, 3], 0.5),
        Value::Tuple(vec![t(&[2, 1, 2], 0.0), t(&[2, 1, 2], 0.0)]),
    ]);
    let again = m.forward(with_state).unwrap().into_tuple("test").unwrap();
    assert_eq!(again[0].as_float().unwrap().to_array(), y);
    assert_eq!(m.extra_repr(), "3, 2, num_layers=2");

    let mut rng = Lcg::new(5);
    let sd = rnn_weights(&mut rng, 3, 3, 2, 1, false, true);
    let mut g = with_engine(Engine::Qnnpack, || {
        GRU::from_state_dict(RnnOptions::new(3, 2), &sd, &TestQuantizer::PerTensor)
    })
    .unwrap();
    let out = g
        .forward(Value::Tuple(vec![t(&[4, 1, 3], 0.5), t(&[1, 1, 2], 0.1)]))
        .unwrap()
        .into_tuple("test")
        .unwrap();
    assert_eq!(out[1].shape(), Some(vec![1, 1, 2]));
}

fn lstm_err(m: &LSTM, x: &[usize], state: Option<(&[usize], &[usize])>, fill: f32) -> DynamicError {
    let xa = Array3::from_elem((x[0], x[1], x[2]), fill);
    let st = state.map(|(h, c)| {
        (
            Array3::from_elem((h[0], h[1], h[2]), 0.0f32),
            Array3::from_elem((c[0], c[1], c[2]), 0.0f32),
        )
    });
    m.run(xa.view(), st.as_ref().map(|(h, c)| (h.view(), c.view())))
        .unwrap_err()
}

#[test]
fn bad_input_is_a_typed_error() {
    for engine in engines() {
        let m = small_lstm(engine, RnnOptions::new(3, 2).num_layers(2));
        assert!(matches!(
            lstm_err(&m, &[4, 1, 5], None, 0.0),
            DynamicError::InputShape { .. }
        ));
        assert!(matches!(
            lstm_err(&m, &[4, 0, 3], None, 0.0),
            DynamicError::Empty { what: "batch", .. }
        ));
        assert!(matches!(
            lstm_err(&m, &[0, 2, 3], None, 0.0),
            DynamicError::Empty {
                what: "sequence",
                ..
            }
        ));
        assert!(matches!(
            lstm_err(&m, &[4, 1, 3], None, f32::NAN),
            DynamicError::NonFinite { .. }
        ));
        assert!(matches!(
            lstm_err(&m, &[4, 1, 3], None, f32::INFINITY),
            DynamicError::NonFinite { .. }
        ));
        for (h, c, which) in [
            ([1usize, 1, 2], [2usize, 1, 2], "h_0"),
            ([2, 2, 2], [2, 1, 2], "h_0"),
            ([2, 1, 3], [2, 1, 2], "h_0"),
            ([2, 1, 2], [2, 3, 2], "c_0"),
        ] {
            match lstm_err(&m, &[4, 1, 3], Some((&h, &c)), 0.0) {
                DynamicError::StateShape {
                    state, expected, ..
                } => {
                    assert_eq!(state, which);
                    assert_eq!(expected, vec![2, 1, 2]);
                }
                other => panic!("{other}"),
            }
        }
    }
    // Through the Module interface: typed NnErrors, never a panic.
    let mut m = small_lstm(Engine::Qnnpack, RnnOptions::new(3, 2).batch_first(true));
    let e = m.forward(t(&[2, 3], 0.0)).unwrap_err();
    assert!(matches!(e, NnError::InputShape { .. }), "{e}");
    let e = m
        .forward(Value::Tuple(vec![t(&[1, 4, 3], 0.0), t(&[1, 1, 2], 0.0)]))
        .unwrap_err();
    assert!(matches!(e, NnError::WrongValue { .. }), "{e}");
    let e = m
        .forward(Value::Tuple(vec![
            t(&[1, 4, 3], 0.0),
            Value::Tuple(vec![t(&[1, 1, 2], 0.0), t(&[2, 1, 2], 0.0)]),
        ]))
        .unwrap_err();
    assert!(e.to_string().contains("c_0"), "{e}");
    let e = m
        .forward(Value::Tuple(vec![
            t(&[1, 4, 3], 0.0),
            Value::Tuple(vec![t(&[1, 2], 0.0), t(&[1, 1, 2], 0.0)]),
        ]))
        .unwrap_err();
    assert!(e.to_string().contains("h_0"), "{e}");
    let e = m
        .forward(Value::Tuple(vec![t(&[1, 4, 3], 0.0)]))
        .unwrap_err();
    assert!(matches!(e, NnError::BadArgument { .. }), "{e}");
}

#[test]
fn bad_weights_and_options_are_typed_errors() {
    let mut rng = Lcg::new(9);
    let sd = rnn_weights(&mut rng, 4, 3, 2, 1, false, true);
    let o = RnnOptions::new(3, 2);
    let q = TestQuantizer::PerTensor;
    let build =
        |sd: &std::collections::BTreeMap<String, ArrayD<f32>>, o: RnnOptions, q: &TestQuantizer| {
            with_engine(Engine::Qnnpack, || {
                LSTM::from_state_dict(o, sd, q).map(|_| ())
            })
        };
    let mut missing = sd.clone();
    missing.remove("bias_hh_l0");
    assert!(
        matches!(build(&missing, o, &q), Err(DynamicError::MissingWeight { name, .. }) if name == "bias_hh_l0")
    );
    let mut extra = sd.clone();
    extra.insert("weight_ih_l1".into(), ArrayD::zeros(IxDyn(&[8, 2])));
    assert!(matches!(
        build(&extra, o, &q),
        Err(DynamicError::UnexpectedWeights { .. })
    ));
    let mut wrong = sd.clone();
    wrong.insert("weight_hh_l0".into(), ArrayD::zeros(IxDyn(&[8, 3])));
    assert!(matches!(
        build(&wrong, o, &q),
        Err(DynamicError::WeightShape { .. })
    ));
    let mut nan = sd.clone();
    nan.get_mut("weight_ih_l0").unwrap()[[0, 0]] = f32::NAN;
    assert!(matches!(
        build(&nan, o, &q),
        Err(DynamicError::NonFinite { .. })
    ));
    let mut nan_bias = sd.clone();
    nan_bias.get_mut("bias_ih_l0").unwrap()[[1]] = f32::INFINITY;
    assert!(matches!(
        build(&nan_bias, o, &q),
        Err(DynamicError::NonFinite { .. })
    ));
    assert!(matches!(
        build(&sd, RnnOptions::new(0, 2), &q),
        Err(DynamicError::Config { .. })
    ));
    assert!(matches!(
        build(&sd, RnnOptions::new(3, 2).num_layers(0), &q),
        Err(DynamicError::Config { .. })
    ));
    assert!(matches!(
        build(&sd, RnnOptions::new(3, 2).dropout(1.5), &q),
        Err(DynamicError::Config { .. })
    ));
    assert!(matches!(
        build(&sd, o, &TestQuantizer::Failing),
        Err(DynamicError::WeightQuantization { .. })
    ));
}

#[test]
fn stored_weights_keep_their_names_and_dtype() {
    let m = small_lstm(Engine::Qnnpack, RnnOptions::new(3, 2).bidirectional(true));
    assert_eq!(m.dtype(), WeightDType::QInt8);
    assert_eq!(m.weight("weight_ih_l0_reverse").unwrap().shape(), &[8, 3]);
    assert_eq!(m.weight("weight_hh_l0").unwrap().shape(), &[8, 2]);
    assert_eq!(m.bias("bias_ih_l0_reverse").unwrap().len(), 8);
    assert!(m.weight("weight_ih_l1").is_none());
    assert!(m.weight("bias_ih_l0").is_none());
}
