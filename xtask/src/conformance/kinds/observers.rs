//! Kind `observer`: feed the batches to a fresh observer, compare `calculate_qparams()` and the
//! recorded min / max.

use qtensor::QScheme;
use quantization::{DType, HistogramObserver, ObserverSpec, UniformOptions};

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;

/// The observer described by a case's params (PyTorch's defaults for absent ones).
pub fn spec(case: &Case) -> Result<ObserverSpec, String> {
    let class = case.str("observer")?;
    let dtype = match case.params.get("dtype") {
        Some(_) => {
            let name = case.str("dtype")?;
            DType::from_name(name).ok_or_else(|| format!("unknown dtype {name}"))?
        }
        None => DType::QUInt8,
    };
    let per_channel = class.contains("PerChannel");
    let mut options = if per_channel {
        UniformOptions::per_channel()
    } else {
        UniformOptions::per_tensor()
    };
    options = options
        .dtype(dtype)
        .reduce_range(case.bool_or("reduce_range", false));
    if case.params.contains_key("qscheme") {
        let name = case.str("qscheme")?;
        options = options
            .qscheme(QScheme::from_name(name).ok_or_else(|| format!("unknown qscheme {name}"))?);
    }
    if case.params.contains_key("quant_min") || case.params.contains_key("quant_max") {
        options.quant_min = Some(case.i64("quant_min")?);
        options.quant_max = Some(case.i64("quant_max")?);
    }
    let opt_f = |k: &str, d: f64| case.params.get(k).and_then(|v| v.as_f64()).unwrap_or(d);
    let averaging_constant = opt_f("averaging_constant", 0.01) as f32;
    let ch_axis = opt_f("ch_axis", 0.0) as usize;
    Ok(match class {
        "MinMaxObserver" => ObserverSpec::MinMax(options),
        "MovingAverageMinMaxObserver" => ObserverSpec::MovingAverageMinMax {
            averaging_constant,
            options,
            is_dynamic: false,
        },
        "PerChannelMinMaxObserver" => ObserverSpec::PerChannelMinMax { ch_axis, options },
        "MovingAveragePerChannelMinMaxObserver" => ObserverSpec::MovingAveragePerChannelMinMax {
            averaging_constant,
            ch_axis,
            options,
        },
        "HistogramObserver" => ObserverSpec::Histogram {
            bins: opt_f("bins", HistogramObserver::DEFAULT_BINS as f64) as usize,
            upsample_rate: HistogramObserver::DEFAULT_UPSAMPLE_RATE,
            options,
        },
        other => return Err(format!("unknown observer class {other}")),
    })
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Observes every batch in order, then compares scales (1e-6 relative), zero points (equal)
/// and min_val / max_val (equal as float32).
pub fn observer(case: &Case) -> Result<Verdict, String> {
    let mut obs = spec(case)?.build().map_err(|e| e.to_string())?;
    for b in case.input_list("batches")? {
        obs.observe(b.to_f32()?.view()).map_err(|e| e.to_string())?;
    }
    let q = obs.calculate_qparams().map_err(|e| e.to_string())?;
    let want = |k: &str| -> Result<Vec<f64>, String> {
        case.expected
            .get(k)
            .and_then(|v| v.as_array())
            .ok_or_else(|| format!("missing expected list '{k}'"))?
            .iter()
            .map(|v| v.as_f64().ok_or_else(|| format!("'{k}': not a number")))
            .collect()
    };
    let mut c = Checker::new();
    c.scales("scale", &f64s(&q.scales), &want("scale")?);
    let zps: Vec<i64> = q.zero_points.to_f64().iter().map(|&z| z as i64).collect();
    let want_zp: Vec<i64> = want("zero_point")?.iter().map(|&z| z as i64).collect();
    c.zero_points("zero_point", &zps, &want_zp);
    for (what, got, w) in [
        ("min_val", obs.min_val(), want("min_val")?),
        ("max_val", obs.max_val(), want("max_val")?),
    ] {
        let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        if got != w32 {
            c.fail(format!("{what}: {got:?}, expected {w32:?}"));
        }
    }
    Ok(c.finish())
}
