//! Kind `e2e_eager_ptq`: eager-mode post-training static quantization of FORMAT.md's
//! `SmallCNN`, end to end (fuse, prepare, calibrate, convert, run), on one engine.

use nn::prelude::*;
use nn::{
    AdaptiveAvgPool2d, BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, FloatFunctional, Linear,
    MaxPool2d, QuantStub, ReLU,
};
use quantization::eager::{
    convert, fuse_modules, prepare, ObserverModule, QConfigMapping, QuantMapping,
};
use quantization::{get_default_qconfig, ZeroPoints};

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;
use crate::conformance::kinds::model_io::{
    default_qconfig_backend, float, load_state_dict, out_values,
};
use crate::conformance::kinds::UNSUPPORTED;

/// FORMAT.md's `SmallCNN(c, classes)`, children named as PyTorch's state dict.
#[derive(Module)]
struct SmallCnn {
    quant: Child,
    conv1: Child,
    bn1: Child,
    relu1: Child,
    conv2: Child,
    bn2: Child,
    skip: Child,
    relu2: Child,
    pool: Child,
    gap: Child,
    fc1: Child,
    relu3: Child,
    fc2: Child,
    dequant: Child,
}

impl SmallCnn {
    fn new(c: usize, classes: usize) -> nn::Result<SmallCnn> {
        let conv = |i, o| Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1));
        Ok(SmallCnn {
            quant: Child::new(QuantStub::new()),
            conv1: Child::new(conv(3, c)?),
            bn1: Child::new(BatchNorm2d::new(c)),
            relu1: Child::new(ReLU::new()),
            conv2: Child::new(conv(c, c)?),
            bn2: Child::new(BatchNorm2d::new(c)),
            skip: Child::new(FloatFunctional::new()),
            relu2: Child::new(ReLU::new()),
            pool: Child::new(MaxPool2d::new(2)?),
            gap: Child::new(AdaptiveAvgPool2d::new([1, 1])?),
            fc1: Child::new(Linear::new(c, 16, true)),
            relu3: Child::new(ReLU::new()),
            fc2: Child::new(Linear::new(16, classes, true)),
            dequant: Child::new(DeQuantStub::new()),
        })
    }
}

impl nn::Forward for SmallCnn {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = self.quant.forward(x)?;
        let y = self.conv1.forward(x)?;
        let y = self.relu1.forward(self.bn1.forward(y)?)?;
        let z = self.bn2.forward(self.conv2.forward(y.clone())?)?;
        let x = self.relu2.forward(self.skip.add(y, z)?)?;
        let x = self.gap.forward(self.pool.forward(x)?)?;
        let x = x.flatten(1)?;
        let x = self.relu3.forward(self.fc1.forward(x)?)?;
        let x = self.fc2.forward(x)?;
        self.dequant.forward(x)
    }
}

/// Runs one `e2e_eager_ptq` case.
pub fn eager_ptq(case: &Case) -> Result<Verdict, String> {
    if case.str("model")? != "SmallCNN" {
        return Err(format!("{UNSUPPORTED}model {}", case.str("model")?));
    }
    let backend = default_qconfig_backend(case)?;
    super::select_engine(case)?;
    let c = case.i64("channels")? as usize;
    let classes = case.i64("classes")? as usize;
    let mut model = SmallCnn::new(c, classes).map_err(|e| e.to_string())?;
    load_state_dict(&mut model, case)?;
    model.eval();

    let mut check = Checker::new();
    let x = case.input("x")?;
    let float_y = out_values(model.forward(float(&x)?).map_err(|e| e.to_string())?)?;
    let want_float: Vec<f32> = case
        .expected("float_y")?
        .to_f32()?
        .iter()
        .copied()
        .collect();
    check.floats_rel("float_y", &float_y, &want_float);

    let groups: Vec<Vec<String>> = serde_json::from_value(case.param("fuse")?.clone())
        .map_err(|e| format!("param 'fuse': {e}"))?;
    let group_refs: Vec<Vec<&str>> = groups
        .iter()
        .map(|g| g.iter().map(String::as_str).collect())
        .collect();
    let group_slices: Vec<&[&str]> = group_refs.iter().map(Vec::as_slice).collect();
    fuse_modules(&mut model, &group_slices).map_err(|e| e.to_string())?;

    let mapping = QuantMapping::default_static();
    let spec = QConfigMapping::global(get_default_qconfig(backend));
    prepare(&mut model, &spec, &mapping).map_err(|e| e.to_string())?;
    for batch in case.input_list("calibration")? {
        model.forward(float(&batch)?).map_err(|e| e.to_string())?;
    }

    let want_q = case
        .expected
        .get("activation_qparams")
        .and_then(|v| v.as_object())
        .ok_or("missing expected activation_qparams")?;
    let mut out_scale = None;
    for (name, q) in want_q {
        let ws = q
            .get("scale")
            .and_then(|v| v.as_f64())
            .ok_or("activation_qparams: scale")?;
        let wz = q
            .get("zero_point")
            .and_then(|v| v.as_i64())
            .ok_or("activation_qparams: zero_point")?;
        let path = format!("{name}.activation_post_process");
        let obs = model
            .get_submodule(&path)
            .ok()
            .and_then(|m| m.downcast_ref::<ObserverModule>());
        let Some(obs) = obs else {
            check.fail(format!("{name}: no observer at {path}"));
            continue;
        };
        let got = obs
            .calculate_qparams()
            .map_err(|e| format!("{path}: {e}"))?;
        let gz = match &got.zero_points {
            ZeroPoints::Int(z) => z.clone(),
            ZeroPoints::Float(z) => z.iter().map(|&v| v as i64).collect(),
        };
        check.scales(&format!("{name}.scale"), &[f64::from(got.scales[0])], &[ws]);
        check.zero_points(&format!("{name}.zero_point"), &gz, &[wz]);
        if name == "fc2" {
            out_scale = Some(ws);
        }
    }

    if let Err(e) = convert(&mut model, &mapping) {
        let msg = e.to_string();
        if msg.contains("is not available on the") {
            return Err(format!("{UNSUPPORTED}{msg}"));
        }
        return Err(msg);
    }
    let y = out_values(model.forward(float(&x)?).map_err(|e| e.to_string())?)?;
    let want_y: Vec<f32> = case.expected("y")?.to_f32()?.iter().copied().collect();
    let quantum = out_scale.ok_or("activation_qparams has no 'fc2' (the output quantum)")?;
    check.floats("y", &y, &want_y, quantum * (1.0 + 1e-6));
    Ok(check.finish())
}
