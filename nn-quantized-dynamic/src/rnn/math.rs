//! `sigmoid` and `tanh` over slices, as ATen computes them on CPU: `1 / (1 + exp(-x))` and
//! `tanh(x)`.

/// `x <- 1 / (1 + exp(-x))`.
pub(crate) fn sigmoid_in_place(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
}

/// `x <- tanh(x)`.
pub(crate) fn tanh_in_place(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.tanh());
}
