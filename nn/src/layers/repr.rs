//! Python's printed forms of the values in `extra_repr` (tuples, floats, booleans).

/// `(3, 3)`, or `(3,)` for one element.
pub(crate) fn tuple(v: &[usize]) -> String {
    if v.len() == 1 {
        return format!("({},)", v[0]);
    }
    let parts: Vec<String> = v.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

/// `3` when all entries are equal and the module stores an int, else the tuple; PyTorch's
/// pooling modules print what they were given, which is an int for square windows.
pub(crate) fn int_or_tuple(v: &[usize]) -> String {
    if v.iter().all(|&x| x == v[0]) {
        v[0].to_string()
    } else {
        tuple(v)
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 or from 1e16.
pub(crate) fn float(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return match v {
            x if x.is_nan() => "nan".into(),
            x if x == f64::INFINITY => "inf".into(),
            x if x == f64::NEG_INFINITY => "-inf".into(),
            _ => "0.0".into(),
        };
    }
    let sci = format!("{v:e}");
    let (mant, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("integer exponent");
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

/// `True` / `False`.
pub(crate) fn boolean(b: bool) -> &'static str {
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
    fn floats_print_like_python() {
        assert_eq!(float(1e-5), "1e-05");
        assert_eq!(float(0.1), "0.1");
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(2.5e20), "2.5e+20");
        assert_eq!(float(0.01), "0.01");
        assert_eq!(tuple(&[3]), "(3,)");
        assert_eq!(tuple(&[3, 1]), "(3, 1)");
    }
}
