//! Pooling window parameters and PyTorch's output-size rule.

use crate::op_error::OpError;

/// `max_pool2d` parameters, `[height, width]` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window size.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit padding on both sides (at most half the kernel).
    pub padding: [usize; 2],
    /// Spacing between window taps.
    pub dilation: [usize; 2],
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
}

impl MaxPool2d {
    /// PyTorch's defaults for a kernel: stride = kernel, no padding,
    /// dilation 1, floor mode.
    pub const fn new(kernel: [usize; 2]) -> Self {
        MaxPool2d {
            kernel,
            stride: kernel,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }
}

/// `avg_pool2d` parameters, `[height, width]` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    /// Window size.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit zero padding on both sides (at most half the kernel).
    pub padding: [usize; 2],
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
    /// Divide by the padded window size (`true`, PyTorch's default) or by the
    /// number of input elements in the window.
    pub count_include_pad: bool,
    /// Divide by this instead of the window size.
    pub divisor_override: Option<usize>,
}

impl AvgPool2d {
    /// PyTorch's defaults for a kernel: stride = kernel, no padding, floor
    /// mode, `count_include_pad = true`, no divisor override.
    pub const fn new(kernel: [usize; 2]) -> Self {
        AvgPool2d {
            kernel,
            stride: kernel,
            padding: [0, 0],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
}

/// PyTorch's `pooling_output_shape`: `floor_or_ceil((in + 2 * pad -
/// dilation * (kernel - 1) - 1) / stride) + 1`, where in ceil mode the last
/// window must start inside the input or the left padding. May be `<= 0`.
pub fn pooling_output_size(
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> i64 {
    let (input, kernel, pad, stride, dilation) = (
        input as i64,
        kernel as i64,
        pad as i64,
        stride as i64,
        dilation as i64,
    );
    let numer =
        input + 2 * pad - dilation * (kernel - 1) - 1 + if ceil_mode { stride - 1 } else { 0 };
    let mut out = numer.div_euclid(stride) + 1;
    if ceil_mode && (out - 1) * stride >= input + pad {
        out -= 1;
    }
    out
}

/// Validates kernel / stride / dilation / padding of one pooling op.
pub(crate) fn check_window(
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> Result<(), OpError> {
    if kernel.contains(&0) {
        return Err(OpError::InvalidWindow(format!(
            "kernel_size must be > 0, got {kernel:?}"
        )));
    }
    if stride.contains(&0) {
        return Err(OpError::InvalidWindow(format!(
            "stride must be > 0, got {stride:?}"
        )));
    }
    if dilation.contains(&0) {
        return Err(OpError::InvalidWindow(format!(
            "dilation must be > 0, got {dilation:?}"
        )));
    }
    if padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2 {
        return Err(OpError::InvalidWindow(format!(
            "padding {padding:?} must be at most half of kernel_size {kernel:?}"
        )));
    }
    let too_big = |v: usize| v > (i32::MAX as usize) / 4;
    if kernel
        .iter()
        .chain(&stride)
        .chain(&padding)
        .chain(&dilation)
        .any(|&v| too_big(v))
    {
        return Err(OpError::InvalidWindow("window parameters too large".into()));
    }
    Ok(())
}

/// Output size along one axis, or an error if it is not positive.
pub(crate) fn output_size_checked(
    what: &str,
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<usize, OpError> {
    let out = pooling_output_size(input, kernel, pad, stride, dilation, ceil_mode);
    if out <= 0 {
        return Err(OpError::EmptyOutput(format!(
            "{what}: input {input}, kernel {kernel}, padding {pad}, stride {stride}, \
             dilation {dilation} give output size {out}"
        )));
    }
    Ok(out as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_matches_the_formula_in_floor_and_ceil_mode() {
        // 6 wide, kernel 2, stride 2: 3 windows.
        assert_eq!(pooling_output_size(6, 2, 0, 2, 1, false), 3);
        // 6 wide, kernel 3, stride 2, pad 1: floor((6 + 2 - 2 - 1) / 2) + 1 = 3.
        assert_eq!(pooling_output_size(6, 3, 1, 2, 1, false), 3);
        // 5 wide, kernel 2, stride 2: floor gives 2, ceil gives 3.
        assert_eq!(pooling_output_size(5, 2, 0, 2, 1, false), 2);
        assert_eq!(pooling_output_size(5, 2, 0, 2, 1, true), 3);
        // Ceil mode never starts a window in the right padding:
        // 4 wide, kernel 2, stride 2, pad 1: ceil((4 + 2 - 1 - 1) / 2) + 1 = 3,
        // and the third window starts at 2 * 2 - 1 = 3 < 4 + 1, so it stays 3.
        assert_eq!(pooling_output_size(4, 2, 1, 2, 1, true), 3);
        // 2 wide, kernel 1, stride 2, pad 0: ceil gives 1 + 1 = 2 but window 2
        // would start at 2 >= 2, so one window.
        assert_eq!(pooling_output_size(2, 1, 0, 2, 1, true), 1);
        // Kernel larger than the input: non-positive.
        assert!(pooling_output_size(1, 3, 0, 1, 1, false) <= 0);
    }
}
