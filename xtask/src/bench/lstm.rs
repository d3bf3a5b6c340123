//! The suite's LSTM rows: fp32 through `nn::LSTM` (without autograd, as the baseline runs under
//! `torch.no_grad()`), dynamic (qint8 weights, `quantize_dynamic`'s default qconfig) on each
//! engine through `nn-quantized-dynamic`.

use std::collections::BTreeMap;

use ndarray::{Array3, ArrayD};
use nn::{Module, Tensor, Value};
use nn_quantized_dynamic::{RnnOptions, LSTM};

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
            let r = (|| -> Result<Row, String> {
                let mut m = nn::LSTM::new(nn::RnnConfig::new(input, hidden)).map_err(err)?;
                for (name, p) in m.local_parameters() {
                    p.set_data(sd[&name].clone()).map_err(err)?;
                }
                m.eval();
                let _guard = nn::NoGradGuard::new();
                m.forward(Value::Float(x.clone())).map_err(err)?;
                Ok(row(
                    "fp32",
                    "fp32",
                    time_per_call(opts.min_time, || {
                        let _ = m.forward(Value::Float(x.clone()));
                    }),
                ))
            })();
            emit(r.map_err(|e| format!("lstm {shape} fp32: {e}")));
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
