//! What every quantized module shares: error conversion, Python's printed forms, input checks.

use nn::{NnError, Value};
use qtensor::QTensor;

use crate::functional::QOpError;

/// Converts an operator error into the module error of `module`.
pub(crate) fn op_err(module: &'static str) -> impl Fn(QOpError) -> NnError {
    move |e| match e {
        QOpError::QTensor(q) => NnError::Quant(q),
        other => NnError::bad_arg(module, other.to_string()),
    }
}

/// The quantized tensor in `input`, or the typed error naming `module` and the fix.
pub(crate) fn quant_input(module: &'static str, input: Value) -> Result<QTensor, NnError> {
    input.into_quant(module)
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 or from 1e16.
pub fn py_float(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return match v {
            x if x.is_nan() => "nan".into(),
            x if x == f64::INFINITY => "inf".into(),
            x if x == f64::NEG_INFINITY => "-inf".into(),
            x if x.is_sign_negative() => "-0.0".into(),
            _ => "0.0".into(),
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sci = format!("{v:e}");
        let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

/// PyTorch's printed form of a one-element float tensor (`tensor([0.0542])`): four decimals,
/// scientific notation outside `[1e-4, 1e8]`, `1.` for integral values.
pub fn py_tensor1(v: f32) -> String {
    let a = v.abs();
    let body = if v.is_finite() && v == v.trunc() && a < 1e8 {
        format!("{v:.0}.")
    } else if a != 0.0 && !(1e-4..=1e8).contains(&a) {
        let sci = format!("{v:.4e}");
        let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        format!("{v:.4}")
    };
    format!("tensor([{body}])")
}

/// `(3, 3)`, or `(3,)` for one element: a Python tuple.
pub fn py_tuple(v: &[usize]) -> String {
    if v.len() == 1 {
        return format!("({},)", v[0]);
    }
    let parts: Vec<String> = v.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

/// `True` / `False`.
pub fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_forms() {
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(
            py_float(f64::from(0.023_052_804_f32)),
            "0.023052804172039032"
        );
        assert_eq!(py_float(2.5e20), "2.5e+20");
        assert_eq!(py_tensor1(0.054247007), "tensor([0.0542])");
        assert_eq!(py_tensor1(1.0), "tensor([1.])");
        assert_eq!(py_tensor1(1e-5), "tensor([1.0000e-05])");
        assert_eq!(py_tuple(&[3]), "(3,)");
        assert_eq!(py_tuple(&[3, 1]), "(3, 1)");
    }
}
