//! LSTMCell / GRUCell / RNNCell: against a reference built from the public dynamic `Linear` and
//! the scalar cell equations (bit for bit), against float cells (within the quantization error),
//! `from_float`, the `Module` interface, and bad input.

mod common;

use std::collections::BTreeMap;

use common::float_rnn::{self, Cell, FloatStandIn};
use common::{bits, cell_weights, engines, max_diff, with_engine, Lcg, TestQuantizer};
use ndarray::{Array2, ArrayD};
use nn::{Module, NnError, Tensor, Value};
use nn_quantized_dynamic::equations::{sigmoid, tanh};
use nn_quantized_dynamic::{DynamicError, GRUCell, LSTMCell, Linear, Nonlinearity, RNNCell};
use proptest::prelude::*;
use qtensor::Engine;

const QUANTIZERS: [TestQuantizer; 3] = [
    TestQuantizer::PerTensor,
    TestQuantizer::PerChannel,
    TestQuantizer::Float16,
];

/// Any of the three cells.
enum AnyCell {
    Lstm(LSTMCell),
    Gru(GRUCell),
    Rnn(RNNCell),
}

fn gates(cell: Cell) -> usize {
    match cell {
        Cell::Lstm => 4,
        Cell::Gru => 3,
        Cell::RnnTanh | Cell::RnnRelu => 1,
    }
}

fn build(
    cell: Cell,
    input: usize,
    hidden: usize,
    bias: bool,
    sd: &BTreeMap<String, ArrayD<f32>>,
    q: TestQuantizer,
) -> Result<AnyCell, DynamicError> {
    Ok(match cell {
        Cell::Lstm => AnyCell::Lstm(LSTMCell::from_state_dict(input, hidden, bias, sd, &q)?),
        Cell::Gru => AnyCell::Gru(GRUCell::from_state_dict(input, hidden, bias, sd, &q)?),
        Cell::RnnTanh => AnyCell::Rnn(RNNCell::from_state_dict(
            input,
            hidden,
            bias,
            Nonlinearity::Tanh,
            sd,
            &q,
        )?),
        Cell::RnnRelu => AnyCell::Rnn(RNNCell::from_state_dict(
            input,
            hidden,
            bias,
            Nonlinearity::Relu,
            sd,
            &q,
        )?),
    })
}

impl AnyCell {
    fn run(
        &self,
        x: &Array2<f32>,
        h: Option<&Array2<f32>>,
        c: Option<&Array2<f32>>,
    ) -> (Array2<f32>, Option<Array2<f32>>) {
        match self {
            AnyCell::Lstm(m) => {
                let (h, c) = m
                    .run(x.view(), h.zip(c).map(|(h, c)| (h.view(), c.view())))
                    .expect("run");
                (h, Some(c))
            }
            AnyCell::Gru(m) => (m.run(x.view(), h.map(|h| h.view())).expect("run"), None),
            AnyCell::Rnn(m) => (m.run(x.view(), h.map(|h| h.view())).expect("run"), None),
        }
    }

    /// The product `which` (`ih` / `hh`) as a public `Linear` with the same stored weight and
    /// the float bias given.
    fn part(&self, which: &str, bias: Option<&ArrayD<f32>>) -> Linear {
        let w = match self {
            AnyCell::Lstm(m) => m.weight(&format!("weight_{which}")),
            AnyCell::Gru(m) => m.weight(&format!("weight_{which}")),
            AnyCell::Rnn(m) => m.weight(&format!("weight_{which}")),
        };
        let b = bias.map(|b| b.iter().copied().collect());
        Linear::new(w.expect("weight").clone(), b).expect("linear")
    }
}

/// The reference step: `Linear` products and the equations per element.
fn reference(
    cell: Cell,
    m: &AnyCell,
    sd: &BTreeMap<String, ArrayD<f32>>,
    x: &Array2<f32>,
    h: &Array2<f32>,
    c: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>) {
    let ih = m
        .part("ih", sd.get("bias_ih"))
        .run(x.view().into_dyn())
        .expect("ih");
    let hh = m
        .part("hh", sd.get("bias_hh"))
        .run(h.view().into_dyn())
        .expect("hh");
    let (batch, hs) = h.dim();
    let (mut h2, mut c2) = (h.clone(), c.clone());
    for b in 0..batch {
        for j in 0..hs {
            let g = |k: usize| hh[[b, k * hs + j]] + ih[[b, k * hs + j]];
            match cell {
                Cell::Lstm => {
                    let (i, f, gg, o) = (sigmoid(g(0)), sigmoid(g(1)), tanh(g(2)), sigmoid(g(3)));
                    c2[[b, j]] = f * c[[b, j]] + i * gg;
                    h2[[b, j]] = o * tanh(c2[[b, j]]);
                }
                Cell::Gru => {
                    let (r, z) = (sigmoid(g(0)), sigmoid(g(1)));
                    let n = tanh(ih[[b, 2 * hs + j]] + hh[[b, 2 * hs + j]] * r);
                    h2[[b, j]] = (h[[b, j]] - n) * z + n;
                }
                Cell::RnnTanh => h2[[b, j]] = tanh(g(0)),
                Cell::RnnRelu => h2[[b, j]] = g(0).max(0.0),
            }
        }
    }
    (h2, c2)
}

const CELLS: [Cell; 4] = [Cell::Lstm, Cell::Gru, Cell::RnnTanh, Cell::RnnRelu];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cells_equal_the_reference(
        which in 0usize..4, batch in 1usize..5, input in 1usize..9, hidden in 1usize..7,
        bias in any::<bool>(), with_state in any::<bool>(), engine in 0usize..2,
        quantizer in 0usize..3, seed in any::<u64>(),
    ) {
        let cell = CELLS[which];
        let engine = engines()[engine % engines().len()];
        let mut rng = Lcg::new(seed);
        let sd = cell_weights(&mut rng, gates(cell), input, hidden, bias);
        let x: Array2<f32> = rng.array(&[batch, input], -2.0, 2.0).into_dimensionality().unwrap();
        let (h, c): (Array2<f32>, Array2<f32>) = if with_state {
            (rng.array(&[batch, hidden], -1.0, 1.0).into_dimensionality().unwrap(),
             rng.array(&[batch, hidden], -1.0, 1.0).into_dimensionality().unwrap())
        } else {
            (Array2::zeros((batch, hidden)), Array2::zeros((batch, hidden)))
        };
        let ((gh, gc), (wh, wc)) = with_engine(engine, || {
            let m = build(cell, input, hidden, bias, &sd, QUANTIZERS[quantizer]).unwrap();
            let got = if with_state { m.run(&x, Some(&h), Some(&c)) } else { m.run(&x, None, None) };
            (got, reference(cell, &m, &sd, &x, &h, &c))
        });
        prop_assert_eq!(bits(&gh.into_dyn()), bits(&wh.into_dyn()), "h {:?}", cell);
        if let Some(gc) = gc {
            prop_assert_eq!(bits(&gc.into_dyn()), bits(&wc.into_dyn()), "c");
        }
    }
}

#[test]
fn cells_approximate_the_float_equations() {
    let (batch, input, hidden) = (4, 12, 10);
    for cell in CELLS {
        for (q, tol) in [
            (TestQuantizer::PerTensor, 0.02),
            (TestQuantizer::PerChannel, 0.02),
            (TestQuantizer::Float16, 5e-4),
        ] {
            let mut rng = Lcg::new(21);
            let sd = cell_weights(&mut rng, gates(cell), input, hidden, true);
            let x: Array2<f32> = rng
                .array(&[batch, input], -1.5, 1.5)
                .into_dimensionality()
                .unwrap();
            let h: Array2<f32> = rng
                .array(&[batch, hidden], -0.8, 0.8)
                .into_dimensionality()
                .unwrap();
            let c: Array2<f32> = rng
                .array(&[batch, hidden], -0.8, 0.8)
                .into_dimensionality()
                .unwrap();
            let (fh, fc) = float_rnn::cell_batch(cell, &sd, x.view(), h.view(), c.view());
            for engine in engines() {
                let (gh, gc) = with_engine(engine, || {
                    build(cell, input, hidden, true, &sd, q)
                        .unwrap()
                        .run(&x, Some(&h), Some(&c))
                });
                let what = format!("{cell:?} {q:?} {engine}");
                assert!(
                    max_diff(&gh.into_dyn(), &fh.clone().into_dyn()) < tol,
                    "h {what}"
                );
                if let Some(gc) = gc {
                    assert!(
                        max_diff(&gc.into_dyn(), &fc.clone().into_dyn()) < tol,
                        "c {what}"
                    );
                }
            }
        }
    }
}

fn t(shape: &[usize], v: f32) -> Value {
    Value::Float(Tensor::full(shape, v))
}

#[test]
fn from_float_and_module_interface() {
    let mut rng = Lcg::new(2);
    let sd = cell_weights(&mut rng, 1, 3, 2, true);
    let float = FloatStandIn {
        kind: "RNNCell",
        params: sd.clone(),
        repr: "3, 2, nonlinearity=relu".into(),
    };
    let mut m = with_engine(Engine::Qnnpack, || {
        RNNCell::from_float(&float, &TestQuantizer::PerTensor)
    })
    .unwrap();
    assert_eq!(m.nonlinearity(), Nonlinearity::Relu);
    assert_eq!((m.input_size(), m.hidden_size()), (3, 2));
    assert_eq!(m.extra_repr(), "3, 2, nonlinearity=relu");
    assert_eq!(m.type_name(), "DynamicQuantizedRNNCell");
    let y = m.forward(t(&[4, 3], 0.5)).unwrap();
    assert_eq!(y.shape(), Some(vec![4, 2]));
    assert!(y.as_float().unwrap().to_vec().iter().all(|&v| v >= 0.0));

    let lsd = cell_weights(&mut rng, 4, 3, 2, false);
    let lfloat = FloatStandIn {
        kind: "LSTMCell",
        params: lsd,
        repr: "3, 2, bias=False".into(),
    };
    let mut l = with_engine(Engine::Qnnpack, || {
        LSTMCell::from_float(&lfloat, &TestQuantizer::PerChannel)
    })
    .unwrap();
    assert_eq!(l.extra_repr(), "3, 2, bias=False");
    let out = l
        .forward(Value::Tuple(vec![
            t(&[1, 3], 0.5),
            Value::Tuple(vec![t(&[1, 2], 0.1), t(&[1, 2], 0.2)]),
        ]))
        .unwrap();
    let hc = out.into_tuple("test").unwrap();
    assert_eq!(hc.len(), 2);
    assert_eq!(hc[1].shape(), Some(vec![1, 2]));
    assert!(matches!(
        GRUCell::from_float(&lfloat, &TestQuantizer::PerTensor),
        Err(DynamicError::FromFloat { .. })
    ));
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut rng = Lcg::new(8);
    for engine in engines() {
        let sd = cell_weights(&mut rng, 4, 3, 2, true);
        let m = with_engine(engine, || {
            LSTMCell::from_state_dict(3, 2, true, &sd, &TestQuantizer::PerTensor)
        })
        .unwrap();
        let run = |x: (usize, usize), h: (usize, usize), c: (usize, usize), v: f32| {
            let xa = Array2::from_elem(x, v);
            let (ha, ca) = (Array2::zeros(h), Array2::zeros(c));
            m.run(xa.view(), Some((ha.view(), ca.view()))).unwrap_err()
        };
        assert!(matches!(
            run((2, 4), (2, 2), (2, 2), 0.0),
            DynamicError::InputShape { .. }
        ));
        assert!(matches!(
            run((0, 3), (0, 2), (0, 2), 0.0),
            DynamicError::Empty { .. }
        ));
        assert!(matches!(
            run((2, 3), (1, 2), (2, 2), 0.0),
            DynamicError::StateShape { state: "hx", .. }
        ));
        assert!(matches!(
            run((2, 3), (2, 2), (2, 3), 0.0),
            DynamicError::StateShape { state: "cx", .. }
        ));
        assert!(matches!(
            run((2, 3), (2, 2), (2, 2), f32::NAN),
            DynamicError::NonFinite { .. }
        ));
        let nan_state = Array2::from_elem((2, 2), f32::NAN);
        let e = m
            .run(
                Array2::zeros((2, 3)).view(),
                Some((Array2::zeros((2, 2)).view(), nan_state.view())),
            )
            .unwrap_err();
        assert!(matches!(e, DynamicError::NonFinite { .. }), "{e}");
    }
    let sd = cell_weights(&mut rng, 3, 3, 2, true);
    let mut g = with_engine(Engine::Qnnpack, || {
        GRUCell::from_state_dict(3, 2, true, &sd, &TestQuantizer::PerTensor)
    })
    .unwrap();
    assert!(matches!(
        g.forward(t(&[2, 3, 1], 0.0)).unwrap_err(),
        NnError::InputShape { .. }
    ));
    let e = g
        .forward(Value::Tuple(vec![t(&[2, 3], 0.0), t(&[3, 2], 0.0)]))
        .unwrap_err();
    assert!(e.to_string().contains("hx"), "{e}");
    let e = g
        .forward(Value::Tuple(vec![t(&[2, 3], 0.0), t(&[2], 0.0)]))
        .unwrap_err();
    assert!(e.to_string().contains("hx"), "{e}");
    assert!(matches!(
        GRUCell::from_state_dict(0, 2, true, &sd, &TestQuantizer::PerTensor),
        Err(DynamicError::Config { .. })
    ));
    assert!(matches!(
        GRUCell::from_state_dict(3, 2, false, &sd, &TestQuantizer::PerTensor),
        Err(DynamicError::UnexpectedWeights { .. })
    ));
}
