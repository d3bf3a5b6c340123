//! Kind `op`: one quantized operator on one engine (`ops_fbgemm.json`, `ops_qnnpack.json`).

use nn_quantized::functional as F;
use qtensor::QTensor;

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;
use crate::conformance::kinds::UNSUPPORTED;

fn q(case: &Case, key: &str) -> Result<QTensor, String> {
    case.input(key)?.to_qtensor()
}

fn f32s(case: &Case, key: &str) -> Result<Vec<f32>, String> {
    Ok(case.input(key)?.to_f32()?.iter().copied().collect())
}

fn bias(case: &Case) -> Result<Option<Vec<f32>>, String> {
    if case.inputs.contains_key("b") {
        Ok(Some(f32s(case, "b")?))
    } else {
        Ok(None)
    }
}

fn out_qparams(case: &Case) -> Result<(f64, i64), String> {
    Ok((case.f64("out_scale")?, case.i64("out_zero_point")?))
}

fn pair2(case: &Case, key: &str) -> Result<[usize; 2], String> {
    match case.i64s(key)?.as_slice() {
        [a, b] => Ok([*a as usize, *b as usize]),
        [a] => Ok([*a as usize; 2]),
        other => Err(format!("param '{key}': expected 2 values, got {other:?}")),
    }
}

/// Runs the case's operator.
fn run_op(case: &Case) -> Result<QTensor, String> {
    let op = case.str("op")?;
    let e = |e: F::QOpError| match e {
        F::QOpError::EngineUnavailable { .. } => format!("{UNSUPPORTED}{e}"),
        _ => e.to_string(),
    };
    match op {
        "add" | "add_relu" | "mul" => {
            let (a, b) = (q(case, "a")?, q(case, "b")?);
            let (s, z) = out_qparams(case)?;
            let f = match op {
                "add" => F::add,
                "add_relu" => F::add_relu,
                _ => F::mul,
            };
            f(&a, &b, s, z).map_err(e)
        }
        "add_scalar" => F::add_scalar(&q(case, "a")?, case.f64("scalar")?).map_err(e),
        "mul_scalar" => F::mul_scalar(&q(case, "a")?, case.f64("scalar")?).map_err(e),
        "cat" => {
            let (a, b) = (q(case, "a")?, q(case, "b")?);
            let (s, z) = out_qparams(case)?;
            F::cat(&[&a, &b], case.i64("dim")? as usize, s, z).map_err(e)
        }
        "relu" => F::relu(&q(case, "x")?).map_err(e),
        "relu6" => F::relu6(&q(case, "x")?).map_err(e),
        "tanh" => F::tanh(&q(case, "x")?).map_err(e),
        "hardswish" | "sigmoid" => {
            let (s, z) = out_qparams(case)?;
            let f = if op == "hardswish" {
                F::hardswish
            } else {
                F::sigmoid
            };
            f(&q(case, "x")?, s, z).map_err(e)
        }
        "leaky_relu" => {
            let (s, z) = out_qparams(case)?;
            F::leaky_relu(&q(case, "x")?, case.f64("negative_slope")?, s, z).map_err(e)
        }
        "elu" => {
            let (s, z) = out_qparams(case)?;
            F::elu(&q(case, "x")?, case.f64("alpha")?, s, z).map_err(e)
        }
        "max_pool2d" => {
            let mut p = F::MaxPool2d::new(pair2(case, "kernel_size")?);
            p.stride = pair2(case, "stride")?;
            p.padding = pair2(case, "padding")?;
            F::max_pool2d(&q(case, "x")?, &p).map_err(e)
        }
        "avg_pool2d" => {
            let mut p = F::AvgPool2d::new(pair2(case, "kernel_size")?);
            p.stride = pair2(case, "stride")?;
            p.padding = pair2(case, "padding")?;
            F::avg_pool2d(&q(case, "x")?, &p).map_err(e)
        }
        "adaptive_avg_pool2d" => {
            F::adaptive_avg_pool2d(&q(case, "x")?, pair2(case, "output_size")?).map_err(e)
        }
        "upsample" => {
            let mode = case.str("mode")?;
            if mode != "nearest" {
                return Err(format!("upsample mode {mode} is not supported"));
            }
            let f = case.f64("scale_factor")?;
            F::upsample_nearest2d(&q(case, "x")?, F::UpsampleSize::ScaleFactor { h: f, w: f })
                .map_err(e)
        }
        "flatten" => {
            let x = q(case, "x")?;
            F::flatten(&x, case.i64("start_dim")? as usize, x.ndim() - 1).map_err(e)
        }
        "batch_norm2d" => {
            let (s, z) = out_qparams(case)?;
            let (w, b) = (f32s(case, "weight")?, f32s(case, "bias")?);
            let (m, v) = (f32s(case, "running_mean")?, f32s(case, "running_var")?);
            let bn = F::BatchNormParams {
                weight: &w,
                bias: &b,
                running_mean: &m,
                running_var: &v,
                eps: case.f64("eps")?,
            };
            F::batch_norm2d(&q(case, "x")?, &bn, s, z, false).map_err(e)
        }
        "linear" | "linear_relu" => {
            let (s, z) = out_qparams(case)?;
            let w = F::linear_prepack(&q(case, "w")?, bias(case)?.as_deref()).map_err(e)?;
            F::linear(&q(case, "x")?, &w, s, z, op == "linear_relu").map_err(e)
        }
        "conv1d" | "conv2d" | "conv2d_relu" | "conv3d" | "conv_transpose2d" => {
            let (s, z) = out_qparams(case)?;
            let weight = q(case, "w")?;
            let dims = weight.ndim() - 2;
            let usizes = |k: &str| -> Result<Vec<usize>, String> {
                Ok(case.i64s(k)?.into_iter().map(|v| v as usize).collect())
            };
            let options = F::ConvOptions {
                stride: usizes("stride")?,
                padding: usizes("padding")?,
                dilation: usizes("dilation")?,
                groups: case.i64("groups")? as usize,
                transposed: (op == "conv_transpose2d").then(|| vec![0; dims]),
            };
            let w = F::conv_prepack(&weight, bias(case)?.as_deref(), &options).map_err(e)?;
            F::conv(&q(case, "x")?, &w, s, z, op == "conv2d_relu").map_err(e)
        }
        other => Err(format!("{UNSUPPORTED}operator '{other}'")),
    }
}

/// `linear_dynamic`: float in, float out, within 1e-4 of the output's range.
fn linear_dynamic(case: &Case) -> Result<Verdict, String> {
    let w = F::linear_prepack(&q(case, "w")?, bias(case)?.as_deref()).map_err(|e| e.to_string())?;
    let x = case.input("x")?.to_f32()?;
    let y = F::linear_dynamic(x.view(), &w, case.bool_or("reduce_range", false), false).map_err(
        |e| match e {
            F::QOpError::EngineUnavailable { .. } => format!("{UNSUPPORTED}{e}"),
            _ => e.to_string(),
        },
    )?;
    let want = case.expected("y")?.to_f32()?;
    let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    let mut c = Checker::new();
    if y.shape() != want.shape() {
        c.fail(format!(
            "y: shape {:?}, expected {:?}",
            y.shape(),
            want.shape()
        ));
    } else {
        c.floats(
            "y",
            y.as_slice().unwrap_or_default(),
            want.as_slice().unwrap_or_default(),
            1e-4 * range,
        );
    }
    Ok(c.finish())
}

/// Runs one operator case with the case's engine selected.
pub fn op(case: &Case) -> Result<Verdict, String> {
    super::select_engine(case)?;
    if case.str("op")? == "linear_dynamic" {
        return linear_dynamic(case);
    }
    let got = run_op(case)?;
    let mut c = Checker::new();
    c.qtensor("y", &got, &case.expected("y")?);
    Ok(c.finish())
}
