//! The suite's rows: fp32 through `nn`, static and dynamic through `nn-quantized`.

use ndarray::ArrayD;
use nn::{Conv2d, ConvConfig, Linear, Module, Tensor, Value};
use nn_quantized::functional as F;
use qtensor::{quantize_per_tensor, Engine, QDType};

use super::suite::{conv2d_cases, ConvCase, LINEAR};
use super::timing::{time_per_call, Row};
use super::Options;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Weight quantized as the baseline does: per-tensor qint8, scale 0.01, zero point 0.
fn qweight(w: &Tensor) -> Result<qtensor::QTensor, String> {
    quantize_per_tensor(w.data().view(), 0.01, 0, QDType::QInt8).map_err(err)
}

fn bias(layer_bias: &Option<Tensor>) -> Option<Vec<f32>> {
    layer_bias
        .as_ref()
        .map(|b| b.data().iter().copied().collect())
}

fn row(
    op: &'static str,
    mode: &'static str,
    engine: &'static str,
    shape: &str,
    opts: &Options,
    ops: f64,
    seconds: f64,
) -> Row {
    Row {
        op,
        mode,
        engine,
        shape: shape.to_string(),
        threads: opts.threads,
        ops,
        seconds,
    }
}

fn linear_rows(opts: &Options, emit: &mut dyn FnMut(Result<Row, String>)) {
    for &(m, k, n) in LINEAR {
        let shape = format!("{m}x{k}x{n}");
        let ops = 2.0 * (m * k * n) as f64;
        let mut layer = Linear::new(k, n, true);
        let x = Tensor::randn(&[m, k]);
        if opts.keep("linear", "fp32", &shape) {
            let _guard = nn::NoGradGuard::new();
            let mut run = || {
                layer
                    .forward(Value::Float(x.clone()))
                    .map(|_| ())
                    .map_err(err)
            };
            emit(run().map(|_| {
                let t = time_per_call(opts.min_time, || {
                    let _ = run();
                });
                row("linear", "fp32", "fp32", &shape, opts, ops, t)
            }));
        }
        for &engine in &opts.engines {
            let r = (|| -> Result<(Option<Row>, Option<Row>), String> {
                qtensor::set_engine(engine).map_err(err)?;
                let w = F::linear_prepack(&qweight(&layer.weight)?, bias(&layer.bias).as_deref())
                    .map_err(err)?;
                let xq =
                    quantize_per_tensor(x.data().view(), 0.05, 64, QDType::QUInt8).map_err(err)?;
                let s = opts.keep("linear", "static", &shape).then(|| {
                    let t = time_per_call(opts.min_time, || {
                        let _ = F::linear(&xq, &w, 0.1, 64, false);
                    });
                    row("linear", "static", engine.name(), &shape, opts, ops, t)
                });
                let xf: ArrayD<f32> = x.data().as_ref().clone();
                let d = opts.keep("linear", "dynamic", &shape).then(|| {
                    let t = time_per_call(opts.min_time, || {
                        let _ = F::linear_dynamic(xf.view(), &w, engine == Engine::Fbgemm, false);
                    });
                    row("linear", "dynamic", engine.name(), &shape, opts, ops, t)
                });
                Ok((s, d))
            })();
            match r {
                Ok((s, d)) => s.into_iter().chain(d).for_each(|r| emit(Ok(r))),
                Err(e) => emit(Err(format!("linear {shape} {engine}: {e}"))),
            }
        }
    }
}

fn conv_rows(opts: &Options, emit: &mut dyn FnMut(Result<Row, String>)) {
    for case in conv2d_cases() {
        let ConvCase {
            n,
            c,
            h,
            w,
            o,
            k,
            stride,
            groups,
        } = case;
        let shape = case.shape();
        let ops = case.ops();
        let cfg = ConvConfig::new(c, o, &[k, k])
            .stride(stride)
            .padding(k / 2)
            .groups(groups);
        let mut layer = match Conv2d::from_config(cfg) {
            Ok(l) => l,
            Err(e) => return emit(Err(format!("conv2d {shape}: {e}"))),
        };
        let x = Tensor::randn(&[n, c, h, w]);
        if opts.keep("conv2d", "fp32", &shape) {
            let _guard = nn::NoGradGuard::new();
            let t = time_per_call(opts.min_time, || {
                let _ = layer.forward(Value::Float(x.clone()));
            });
            emit(Ok(row("conv2d", "fp32", "fp32", &shape, opts, ops, t)));
        }
        if !opts.keep("conv2d", "static", &shape) {
            continue;
        }
        for &engine in &opts.engines {
            let r = (|| -> Result<Row, String> {
                qtensor::set_engine(engine).map_err(err)?;
                let options = F::ConvOptions {
                    stride: vec![stride; 2],
                    padding: vec![k / 2; 2],
                    dilation: vec![1; 2],
                    groups,
                    transposed: None,
                };
                let wq = F::conv_prepack(
                    &qweight(&layer.weight)?,
                    bias(&layer.bias).as_deref(),
                    &options,
                )
                .map_err(err)?;
                let xq =
                    quantize_per_tensor(x.data().view(), 0.05, 64, QDType::QUInt8).map_err(err)?;
                F::conv(&xq, &wq, 0.1, 64, false).map_err(err)?;
                let t = time_per_call(opts.min_time, || {
                    let _ = F::conv(&xq, &wq, 0.1, 64, false);
                });
                Ok(row("conv2d", "static", engine.name(), &shape, opts, ops, t))
            })();
            emit(r.map_err(|e| format!("conv2d {shape} {engine}: {e}")));
        }
    }
}

/// Every row of the suite that passes the filter.
pub fn run_all(opts: &Options, emit: &mut dyn FnMut(Result<Row, String>)) {
    linear_rows(opts, emit);
    conv_rows(opts, emit);
}
