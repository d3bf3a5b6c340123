//! LSTM / GRU / RNN layers and cells against a scalar reference, and their gradients.

mod common;

use common::{check_grad, param, rand};
use ndarray::ArrayD;
use nn::prelude::*;
use nn::{GRUCell, LSTMCell, RNNCell, RnnConfig, GRU, LSTM, RNN};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Lstm,
    Gru,
    Tanh,
    Relu,
}

fn sig(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// `W v + b` for a `(rows, cols)` weight.
fn affine(w: &ArrayD<f32>, b: Option<&ArrayD<f32>>, v: &[f64]) -> Vec<f64> {
    let (rows, cols) = (w.shape()[0], w.shape()[1]);
    (0..rows)
        .map(|r| {
            b.map_or(0.0, |b| f64::from(b[[r]]))
                + (0..cols).map(|k| f64::from(w[[r, k]]) * v[k]).sum::<f64>()
        })
        .collect()
}

/// One step of the recurrence, written out from PyTorch's documentation.
fn step(kind: Kind, p: &[ArrayD<f32>], x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let hid = h.len();
    let (bi, bh) = (p.get(2), p.get(3));
    let gi = affine(&p[0], bi, x);
    let gh = affine(&p[1], bh, h);
    match kind {
        Kind::Lstm => {
            let g: Vec<f64> = gi.iter().zip(&gh).map(|(a, b)| a + b).collect();
            let mut hn = vec![0.0; hid];
            let mut cn = vec![0.0; hid];
            for j in 0..hid {
                let (i, f, gg, o) = (
                    sig(g[j]),
                    sig(g[hid + j]),
                    g[2 * hid + j].tanh(),
                    sig(g[3 * hid + j]),
                );
                cn[j] = f * c[j] + i * gg;
                hn[j] = o * cn[j].tanh();
            }
            (hn, cn)
        }
        Kind::Gru => {
            let hn = (0..hid)
                .map(|j| {
                    let r = sig(gi[j] + gh[j]);
                    let z = sig(gi[hid + j] + gh[hid + j]);
                    let n = (gi[2 * hid + j] + r * gh[2 * hid + j]).tanh();
                    (1.0 - z) * n + z * h[j]
                })
                .collect();
            (hn, vec![])
        }
        Kind::Tanh => ((0..hid).map(|j| (gi[j] + gh[j]).tanh()).collect(), vec![]),
        Kind::Relu => ((0..hid).map(|j| (gi[j] + gh[j]).max(0.0)).collect(), vec![]),
    }
}

/// The whole stack on `x (T, B, I)`; returns output `(T, B, D*H)` flattened and the final states.
fn reference(
    kind: Kind,
    m: &dyn Module,
    layers: usize,
    dirs: usize,
    hid: usize,
    x: &ArrayD<f32>,
    h0: Option<&ArrayD<f32>>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let params: Vec<ArrayD<f32>> = m
        .local_parameters()
        .into_iter()
        .map(|(_, t)| t.to_array())
        .collect();
    let per = params.len() / (layers * dirs);
    let (t_len, b) = (x.shape()[0], x.shape()[1]);
    let mut layer_in: Vec<Vec<Vec<f64>>> = (0..t_len)
        .map(|t| {
            (0..b)
                .map(|n| {
                    x.index_axis(ndarray::Axis(0), t)
                        .index_axis(ndarray::Axis(0), n)
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect()
                })
                .collect()
        })
        .collect();
    let (mut hn_all, mut cn_all) = (Vec::new(), Vec::new());
    for l in 0..layers {
        let mut out = vec![vec![Vec::new(); b]; t_len];
        for d in 0..dirs {
            let p = &params[(l * dirs + d) * per..(l * dirs + d + 1) * per];
            for n in 0..b {
                let mut h: Vec<f64> = match h0 {
                    Some(h0) => (0..hid)
                        .map(|j| f64::from(h0[[l * dirs + d, n, j]]))
                        .collect(),
                    None => vec![0.0; hid],
                };
                let mut c = vec![0.0; hid];
                let order: Vec<usize> = if d == 0 {
                    (0..t_len).collect()
                } else {
                    (0..t_len).rev().collect()
                };
                for t in order {
                    let (hn, cn) = step(kind, p, &layer_in[t][n], &h, &c);
                    h = hn;
                    if kind == Kind::Lstm {
                        c = cn;
                    }
                    out[t][n].extend_from_slice(&h);
                }
                hn_all.push((l * dirs + d, n, h));
                cn_all.push((l * dirs + d, n, c));
            }
        }
        layer_in = out;
    }
    let flat_out: Vec<f64> = layer_in.into_iter().flatten().flatten().collect();
    let order = |mut v: Vec<(usize, usize, Vec<f64>)>| {
        v.sort_by_key(|(i, n, _)| (*i, *n));
        v.into_iter().flat_map(|(_, _, h)| h).collect::<Vec<f64>>()
    };
    (flat_out, order(hn_all), order(cn_all))
}

fn close(a: &[f32], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((f64::from(*x) - y).abs() < 1e-5, "element {i}: {x} vs {y}");
    }
}

fn build(kind: Kind, cfg: RnnConfig) -> Box<dyn Module> {
    match kind {
        Kind::Lstm => Box::new(LSTM::new(cfg).unwrap()),
        Kind::Gru => Box::new(GRU::new(cfg).unwrap()),
        Kind::Tanh => Box::new(RNN::new(cfg, false).unwrap()),
        Kind::Relu => Box::new(RNN::new(cfg, true).unwrap()),
    }
}

fn outputs(kind: Kind, y: Value) -> (Tensor, Tensor, Option<Tensor>) {
    let mut v = y.into_tuple("t").unwrap().into_iter();
    let out = v.next().unwrap().into_float("t").unwrap();
    let state = v.next().unwrap();
    if kind == Kind::Lstm {
        let mut hc = state.into_tuple("t").unwrap().into_iter();
        (
            out,
            hc.next().unwrap().into_float("t").unwrap(),
            Some(hc.next().unwrap().into_float("t").unwrap()),
        )
    } else {
        (out, state.into_float("t").unwrap(), None)
    }
}

#[test]
fn layers_match_the_reference() {
    for kind in [Kind::Lstm, Kind::Gru, Kind::Tanh, Kind::Relu] {
        for (layers, bidir, batch_first, with_h0) in [
            (1, false, false, false),
            (2, true, false, true),
            (2, false, true, false),
            (1, true, true, true),
        ] {
            let (t, b, i, h) = (4, 3, 5, 6);
            let cfg = RnnConfig::new(i, h)
                .num_layers(layers)
                .bidirectional(bidir)
                .batch_first(batch_first);
            let mut m = build(kind, cfg);
            let dirs = if bidir { 2 } else { 1 };
            let x = rand(&[t, b, i], 11);
            let h0 = rand(&[layers * dirs, b, h], 12);
            let xin = if batch_first {
                x.transpose(0, 1).unwrap()
            } else {
                x.clone()
            };
            let input = match (with_h0, kind) {
                (false, _) => Value::Float(xin),
                (true, Kind::Lstm) => Value::Tuple(vec![
                    Value::Float(xin),
                    Value::Tuple(vec![
                        Value::Float(h0.clone()),
                        Value::Float(Tensor::zeros(&[layers * dirs, b, h])),
                    ]),
                ]),
                (true, _) => Value::Tuple(vec![Value::Float(xin), Value::Float(h0.clone())]),
            };
            let (out, hn, cn) = outputs(kind, m.forward(input).unwrap());
            let h0d = h0.data();
            let (r_out, r_h, r_c) = reference(
                kind,
                m.as_ref(),
                layers,
                dirs,
                h,
                &x.data(),
                with_h0.then_some(&*h0d),
            );
            let out = if batch_first {
                out.transpose(0, 1).unwrap()
            } else {
                out
            };
            assert_eq!(out.shape(), vec![t, b, dirs * h]);
            close(&out.to_vec(), &r_out);
            close(&hn.to_vec(), &r_h);
            if let Some(cn) = cn {
                close(&cn.to_vec(), &r_c);
            }
        }
    }
}

#[test]
fn pytorch_parameter_names_and_print() {
    let m = LSTM::new(RnnConfig::new(4, 3).num_layers(2).bidirectional(true)).unwrap();
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        &names[..6],
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
            "bias_hh_l0",
            "weight_ih_l0_reverse",
            "weight_hh_l0_reverse"
        ]
    );
    assert_eq!(names[8], "weight_ih_l1");
    assert_eq!(m.named_parameters()[8].1.shape(), vec![12, 6]);
    assert_eq!(m.extra_repr(), "4, 3, num_layers=2, bidirectional=True");
    let g = GRU::new(RnnConfig::new(4, 3).bias(false)).unwrap();
    assert_eq!(g.named_parameters().len(), 2);
    assert_eq!(g.named_parameters()[0].1.shape(), vec![9, 4]);
    assert_eq!(
        RNNCell::new(2, 3, true, true).unwrap().extra_repr(),
        "2, 3, nonlinearity=relu"
    );
}

#[test]
fn unbatched_inputs_and_errors() {
    let mut m = GRU::new(RnnConfig::new(3, 2)).unwrap();
    let x = rand(&[5, 3], 1);
    let (out, hn, _) = outputs(Kind::Gru, m.forward(Value::Float(x.clone())).unwrap());
    assert_eq!((out.shape(), hn.shape()), (vec![5, 2], vec![1, 2]));
    let (bout, _, _) = outputs(
        Kind::Gru,
        m.forward(Value::Float(x.unsqueeze(1).unwrap())).unwrap(),
    );
    assert_eq!(out.to_vec(), bout.to_vec());
    let err = m.forward(Value::Float(rand(&[0, 2, 3], 1))).unwrap_err();
    assert!(err.to_string().contains("sequence length"), "{err}");
    let err = nn::no_grad(|| m.forward(Value::Float(rand(&[0, 3], 1)))).unwrap_err();
    assert!(err.to_string().contains("sequence length"), "{err}");
    let err = m.forward(Value::Float(rand(&[5, 2, 4], 1))).unwrap_err();
    assert!(err.to_string().contains("(L, N, 3)"), "{err}");
    let err = m
        .forward(Value::Tuple(vec![
            Value::Float(rand(&[5, 2, 3], 1)),
            Value::Float(rand(&[2, 2, 2], 1)),
        ]))
        .unwrap_err();
    assert!(err.to_string().contains("h0"), "{err}");
}

#[test]
fn cells_match_the_reference_step() {
    let (b, i, h) = (3, 4, 5);
    let x = rand(&[b, i], 21);
    let h0 = rand(&[b, h], 22);
    let c0 = rand(&[b, h], 23);
    let mut cells: Vec<(Kind, Box<dyn Module>)> = vec![
        (Kind::Lstm, Box::new(LSTMCell::new(i, h, true).unwrap())),
        (Kind::Gru, Box::new(GRUCell::new(i, h, true).unwrap())),
        (
            Kind::Tanh,
            Box::new(RNNCell::new(i, h, false, false).unwrap()),
        ),
        (
            Kind::Relu,
            Box::new(RNNCell::new(i, h, true, true).unwrap()),
        ),
    ];
    for (kind, cell) in &mut cells {
        let input = if *kind == Kind::Lstm {
            Value::Tuple(vec![
                Value::Float(x.clone()),
                Value::Tuple(vec![Value::Float(h0.clone()), Value::Float(c0.clone())]),
            ])
        } else {
            Value::Tuple(vec![Value::Float(x.clone()), Value::Float(h0.clone())])
        };
        let y = cell.forward(input).unwrap();
        let p: Vec<ArrayD<f32>> = cell
            .local_parameters()
            .into_iter()
            .map(|(_, t)| t.to_array())
            .collect();
        let (xd, hd, cd) = (x.data(), h0.data(), c0.data());
        let (mut rh, mut rc) = (Vec::new(), Vec::new());
        for n in 0..b {
            let row = |a: &ArrayD<f32>| {
                a.index_axis(ndarray::Axis(0), n)
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect::<Vec<f64>>()
            };
            let (hn, cn) = step(*kind, &p, &row(&xd), &row(&hd), &row(&cd));
            rh.extend(hn);
            rc.extend(cn);
        }
        match y {
            Value::Tuple(v) => {
                close(&v[0].as_float().unwrap().to_vec(), &rh);
                close(&v[1].as_float().unwrap().to_vec(), &rc);
            }
            Value::Float(t) => close(&t.to_vec(), &rh),
            Value::Quant(_) => unreachable!("float cell"),
        }
    }
}

#[test]
fn gradients_through_time() {
    for kind in [Kind::Lstm, Kind::Gru, Kind::Tanh] {
        let mut m = build(kind, RnnConfig::new(3, 2).num_layers(2).bidirectional(true));
        let x = param(&[3, 2, 3], 31);
        let h0 = param(&[4, 2, 2], 32);
        let mut leaves = m.parameters();
        leaves.push(x.clone());
        leaves.push(h0.clone());
        let refs: Vec<&Tensor> = leaves.iter().collect();
        check_grad(&refs, || {
            let input = if kind == Kind::Lstm {
                Value::Tuple(vec![
                    Value::Float(x.clone()),
                    Value::Tuple(vec![
                        Value::Float(h0.clone()),
                        Value::Float(h0.mul_scalar(0.5)),
                    ]),
                ])
            } else {
                Value::Tuple(vec![Value::Float(x.clone()), Value::Float(h0.clone())])
            };
            let (out, hn, cn) = outputs(kind, m.forward(input)?);
            let mut y = out.sum().add(&hn.sum())?;
            if let Some(cn) = cn {
                y = y.add(&cn.sum())?;
            }
            Ok(y)
        });
    }
    let mut cell = LSTMCell::new(3, 2, true).unwrap();
    let x = param(&[2, 3], 33);
    let leaves: Vec<Tensor> = cell.parameters();
    let mut refs: Vec<&Tensor> = leaves.iter().collect();
    refs.push(&x);
    check_grad(&refs, || {
        let y = cell.forward(Value::Float(x.clone()))?.into_tuple("t")?;
        y[0].as_float().expect("h").add(y[1].as_float().expect("c"))
    });
}

/// The inference path (no gradient needed) against the reference and against the graph path,
/// on sizes that are not multiples of the kernels' tiles (hidden 33 and 70 against blocks of
/// 32 units, batch 9 against row blocks of 8), without bias, and with one and two threads
/// (which must give the same bits).
#[test]
fn inference_path_equals_the_graph_path_and_the_reference() {
    for kind in [Kind::Lstm, Kind::Gru, Kind::Tanh, Kind::Relu] {
        for (t, b, i, h, layers, bidir, bias) in [
            (3, 9, 5, 33, 2, true, true),
            (2, 1, 7, 70, 1, false, false),
            (1, 2, 40, 1, 1, true, true),
            (4, 8, 3, 4, 1, false, true),
        ] {
            let cfg = RnnConfig::new(i, h)
                .num_layers(layers)
                .bidirectional(bidir)
                .bias(bias);
            let mut m = build(kind, cfg);
            let dirs = if bidir { 2 } else { 1 };
            let x = rand(&[t, b, i], 41);
            let h0 = rand(&[layers * dirs, b, h], 42);
            let c0 = rand(&[layers * dirs, b, h], 43);
            let input = || match kind {
                Kind::Lstm => Value::Tuple(vec![
                    Value::Float(x.clone()),
                    Value::Tuple(vec![Value::Float(h0.clone()), Value::Float(c0.clone())]),
                ]),
                _ => Value::Tuple(vec![Value::Float(x.clone()), Value::Float(h0.clone())]),
            };
            let graph = outputs(kind, m.forward(input()).unwrap());
            assert!(graph.0.requires_grad(), "graph path taken");
            let mut runs = Vec::new();
            for threads in [1, 2] {
                nn::set_num_threads(threads).unwrap();
                let fused = nn::no_grad(|| outputs(kind, m.forward(input()).unwrap()));
                nn::set_num_threads(1).unwrap();
                assert!(!fused.0.requires_grad());
                runs.push(fused);
            }
            let flat = |o: &(Tensor, Tensor, Option<Tensor>)| -> Vec<f32> {
                let mut v = o.0.to_vec();
                v.extend(o.1.to_vec());
                if let Some(c) = &o.2 {
                    v.extend(c.to_vec());
                }
                v
            };
            let (g, f1, f2) = (flat(&graph), flat(&runs[0]), flat(&runs[1]));
            assert_eq!(runs[0].0.shape(), graph.0.shape());
            assert_eq!(runs[0].1.shape(), graph.1.shape());
            assert!(
                f1.iter().zip(&f2).all(|(a, b)| a.to_bits() == b.to_bits()),
                "thread counts differ"
            );
            assert_eq!(f1.len(), g.len());
            for (k, (a, b)) in f1.iter().zip(&g).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{} layers {layers} hidden {h}: element {k}: fused {a} vs graph {b}",
                    t
                );
            }
            // And the whole stack against the f64 reference (c0 = 0 there, so without it).
            let plain = nn::no_grad(|| {
                outputs(
                    kind,
                    m.forward(Value::Tuple(if kind == Kind::Lstm {
                        vec![
                            Value::Float(x.clone()),
                            Value::Tuple(vec![
                                Value::Float(h0.clone()),
                                Value::Float(Tensor::zeros(&[layers * dirs, b, h])),
                            ]),
                        ]
                    } else {
                        vec![Value::Float(x.clone()), Value::Float(h0.clone())]
                    }))
                    .unwrap(),
                )
            });
            let h0d = h0.data();
            let (r_out, r_h, r_c) =
                reference(kind, m.as_ref(), layers, dirs, h, &x.data(), Some(&*h0d));
            close(&plain.0.to_vec(), &r_out);
            close(&plain.1.to_vec(), &r_h);
            if let Some(cn) = plain.2 {
                close(&cn.to_vec(), &r_c);
            }
        }
    }
}

/// Changing a weight after a forward pass is seen by the next inference pass (the packed
/// copy is refreshed).
#[test]
fn inference_path_sees_weight_updates() {
    let mut m = LSTM::new(RnnConfig::new(3, 4)).unwrap();
    let x = rand(&[2, 1, 3], 51);
    let run = |m: &mut LSTM| {
        nn::no_grad(|| outputs(Kind::Lstm, m.forward(Value::Float(x.clone())).unwrap()).0).to_vec()
    };
    let before = run(&mut m);
    let w = m.local_parameters()[1].1.clone();
    w.update_data(|d| d.mapv_inplace(|v| v * 0.5 + 0.1));
    let after = run(&mut m);
    let graph = outputs(Kind::Lstm, m.forward(Value::Float(x.clone())).unwrap())
        .0
        .to_vec();
    assert_ne!(before, after);
    for (a, b) in after.iter().zip(&graph) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}
