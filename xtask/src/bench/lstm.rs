//! The suite's LSTM rows: dynamic (qint8 weights, `quantize_dynamic`'s default qconfig) on each
//! engine through `nn-quantized-dynamic`, and fp32.
//!
//! `nn` has no float LSTM yet, so the fp32 row is the same algorithm on float products: the
//! input-to-hidden product of the whole sequence as one `nn::functional::linear` call, then per
//! step the hidden-to-hidden product and the same cell equations
//! (`nn_quantized_dynamic::equations::lstm_update`).

use std::collections::BTreeMap;

use ndarray::{Array3, ArrayD, IxDyn};
use nn::Tensor;
use nn_quantized_dynamic::{equations, RnnOptions, LSTM};

use super::timing::{time_per_call, Row};
use super::Options;

/// LSTM shapes `(seq, batch, input, hidden)`, as `torch_baseline.py`.
pub const LSTM_SIZES: &[(usize, usize, usize, usize)] = &[(32, 8, 256, 512), (16, 1, 512, 512)];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `nn.LSTM(input, hidden)`'s parameters with PyTorch's default init, `U(-1/sqrt(H), 1/sqrt(H))`.
fn weights(input: usize, hidden: usize) -> BTreeMap<String, ArrayD<f32>> {
    let k = 1.0 / (hidden as f32).sqrt();
    [
        ("weight_ih_l0", vec![4 * hidden, input]),
        ("weight_hh_l0", vec![4 * hidden, hidden]),
        ("bias_ih_l0", vec![4 * hidden]),
        ("bias_hh_l0", vec![4 * hidden]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), Tensor::rand_uniform(&s, -k, k).to_array()))
    .collect()
}

/// One float LSTM layer from a zero state.
fn float_lstm(
    x: &Tensor,
    p: &[Tensor; 4],
    seq: usize,
    batch: usize,
    hidden: usize,
) -> Result<Vec<f32>, String> {
    let [w_ih, w_hh, b_ih, b_hh] = p;
    let flat = x.reshape(&[(seq * batch) as isize, -1]).map_err(err)?;
    let proj = nn::functional::linear(&flat, w_ih, Some(b_ih))
        .map_err(err)?
        .to_vec();
    let (mut h, mut c) = (vec![0.0f32; batch * hidden], vec![0.0f32; batch * hidden]);
    let mut out = Vec::with_capacity(seq * batch * hidden);
    let step = batch * 4 * hidden;
    for t in 0..seq {
        let ht =
            Tensor::new(ArrayD::from_shape_vec(IxDyn(&[batch, hidden]), h.clone()).map_err(err)?);
        let mut hh = nn::functional::linear(&ht, w_hh, Some(b_hh))
            .map_err(err)?
            .to_vec();
        equations::lstm_update(
            &mut hh,
            &proj[t * step..(t + 1) * step],
            &mut h,
            &mut c,
            hidden,
        );
        out.extend_from_slice(&h);
    }
    Ok(out)
}

/// The LSTM rows.
pub fn rows(opts: &Options, emit: &mut dyn FnMut(Result<Row, String>)) {
    for &(seq, batch, input, hidden) in LSTM_SIZES {
        let shape = format!("{seq}x{batch}x{input}->{hidden}");
        let ops = 2.0 * (seq * batch * 4 * hidden * (input + hidden)) as f64;
        let row = |mode, engine, seconds| Row {
            op: "lstm",
            mode,
            engine,
            shape: shape.clone(),
            threads: opts.threads,
            ops,
            seconds,
        };
        let sd = weights(input, hidden);
        let x = Tensor::randn(&[seq, batch, input]);
        if opts.keep("lstm", "fp32", &shape) {
            let p = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
                .map(|n| Tensor::new(sd[n].clone()));
            emit(float_lstm(&x, &p, seq, batch, hidden).map(|_| {
                row(
                    "fp32",
                    "fp32",
                    time_per_call(opts.min_time, || {
                        let _ = float_lstm(&x, &p, seq, batch, hidden);
                    }),
                )
            }));
        }
        if !opts.keep("lstm", "dynamic", &shape) {
            continue;
        }
        let x3: Array3<f32> = match x.to_array().into_dimensionality() {
            Ok(a) => a,
            Err(e) => return emit(Err(err(e))),
        };
        for &engine in &opts.engines {
            let r = (|| -> Result<Row, String> {
                qtensor::set_engine(engine).map_err(err)?;
                let qc = quantization::qconfig::default_dynamic_qconfig();
                let lstm =
                    LSTM::from_state_dict(RnnOptions::new(input, hidden), &sd, &qc).map_err(err)?;
                lstm.run(x3.view(), None).map_err(err)?;
                Ok(row(
                    "dynamic",
                    engine.name(),
                    time_per_call(opts.min_time, || {
                        let _ = lstm.run(x3.view(), None);
                    }),
                ))
            })();
            emit(r.map_err(|e| format!("lstm {shape} {engine}: {e}")));
        }
    }
}
