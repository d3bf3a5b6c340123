//! Kind `qat_conv_bn2d`: one training step of `nniqat.ConvBn2d` / `ConvBnReLU2d` (the fold
//! simulated with the weight fake-quant of a QAT qconfig): output, input and weight gradients,
//! and the batch norm's running statistics after the step.

use nn::functional::ConvOptions;
use nn::{BatchNorm2d, BatchNormConfig, Module, Tensor, Value};
use nn_intrinsic::qat::{ConvBn2d, ConvBnReLU2d};
use quantization::qat::FakeQuantizeModule;
use quantization::{get_default_qat_qconfig, Backend};

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;

/// An integer parameter given as one value or a list of two (`padding=1` or `[1, 1]`).
fn pair(case: &Case, key: &str, default: usize) -> Result<Vec<usize>, String> {
    let Some(v) = case.params.get(key) else {
        return Ok(vec![default; 2]);
    };
    if let Some(n) = v.as_u64() {
        return Ok(vec![n as usize; 2]);
    }
    let list = case.i64s(key)?;
    if list.len() != 2 || list.iter().any(|&n| n < 0) {
        return Err(format!(
            "param '{key}': expected one or two non-negative integers"
        ));
    }
    Ok(list.into_iter().map(|n| n as usize).collect())
}

fn flat(t: &ndarray::ArrayD<f32>) -> Vec<f32> {
    t.iter().copied().collect()
}

/// Runs one case.
pub fn qat_conv_bn2d(case: &Case) -> Result<Verdict, String> {
    let backend = match case.str("qconfig")? {
        "default_qat_fbgemm" => Backend::Fbgemm,
        "default_qat_qnnpack" => Backend::Qnnpack,
        other => return Err(format!("unknown qconfig {other}")),
    };
    let qconfig = get_default_qat_qconfig(backend);
    let weight = case.input("weight")?.to_f32()?;
    let out_channels = weight.shape().first().copied().unwrap_or(0);
    let in_channels = case.i64("in_channels")? as usize;
    let groups = case
        .params
        .get("groups")
        .and_then(|v| v.as_u64())
        .unwrap_or(1) as usize;
    if case.i64("out_channels")? as usize != out_channels
        || weight.shape().get(1).copied().unwrap_or(0) * groups != in_channels
    {
        return Err(format!(
            "weight shape {:?} does not fit the channels",
            weight.shape()
        ));
    }
    if weight.shape().get(2..) != Some(&pair(case, "kernel_size", 0)?[..]) {
        return Err(format!(
            "weight shape {:?} does not fit kernel_size {:?}",
            weight.shape(),
            case.param("kernel_size")?
        ));
    }
    let options = ConvOptions {
        stride: pair(case, "stride", 1)?,
        padding: pair(case, "padding", 0)?,
        dilation: pair(case, "dilation", 1)?,
        groups,
        output_padding: vec![0, 0],
    };
    let bias = if case.bool_or("bias", false) {
        Some(Tensor::parameter(case.input("bias")?.to_f32()?))
    } else {
        None
    };
    let conv = nn::Conv2d::from_parts(Tensor::parameter(weight), bias, options)
        .map_err(|e| e.to_string())?;
    let mut bn = BatchNorm2d::with_config(
        out_channels,
        BatchNormConfig {
            eps: case.f64("eps")?,
            momentum: Some(case.f64("momentum")?),
            ..BatchNormConfig::default()
        },
    );
    bn.weight = Some(Tensor::parameter(case.input("bn_weight")?.to_f32()?));
    bn.bias = Some(Tensor::parameter(case.input("bn_bias")?.to_f32()?));
    let fq = FakeQuantizeModule::from_entry(&qconfig.weight).map_err(|e| e.to_string())?;
    let mut module: Box<dyn Module> = if case.bool_or("relu", false) {
        Box::new(ConvBnReLU2d::from_modules(&conv, &bn, fq).map_err(|e| e.to_string())?)
    } else {
        Box::new(ConvBn2d::from_modules(&conv, &bn, fq).map_err(|e| e.to_string())?)
    };
    module.train(true);
    let x = Tensor::parameter(case.input("x")?.to_f32()?);
    let y = module
        .forward(Value::Float(x.clone()))
        .and_then(|y| y.into_float("qat_conv_bn2d"))
        .map_err(|e| e.to_string())?;
    y.backward_with(case.input("grad_y")?.to_f32()?)
        .map_err(|e| e.to_string())?;
    let grad_x = x.grad().ok_or("no gradient reached x")?;
    let grad_w = conv.weight.grad().ok_or("no gradient reached the weight")?;
    let mut c = Checker::new();
    let want = |k: &str| case.expected(k).and_then(|t| t.to_f32()).map(|a| flat(&a));
    c.floats_rel("y", &y.to_vec(), &want("y")?);
    c.floats_rel("grad_x", &flat(&grad_x), &want("grad_x")?);
    c.floats_rel("grad_weight", &flat(&grad_w), &want("grad_weight")?);
    let stat = |t: &Option<Tensor>| t.as_ref().map(Tensor::to_vec).unwrap_or_default();
    c.floats_rel(
        "running_mean",
        &stat(&bn.running_mean),
        &want("running_mean")?,
    );
    c.floats_rel("running_var", &stat(&bn.running_var), &want("running_var")?);
    Ok(c.finish())
}
