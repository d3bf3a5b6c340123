//! Pooling modules: `nn.MaxPool2d`, `nn.AvgPool2d`, `nn.AdaptiveAvgPool2d`.

use crate::error::{NnError, Result};
use crate::functional::{self, Pool2dOptions};
use crate::layers::{repr, training_flag};
use crate::module::{Module, Value};
use crate::quant_ops::{self, quant_ops};

fn check(name: &str, o: &Pool2dOptions) -> Result<()> {
    if o.kernel_size.contains(&0) || o.stride.contains(&0) || o.dilation.contains(&0) {
        return Err(NnError::bad_arg(
            name,
            "kernel_size, stride and dilation must be positive",
        ));
    }
    if (0..2).any(|i| 2 * o.padding[i] > o.kernel_size[i]) {
        return Err(NnError::bad_arg(
            name,
            "padding should be at most half of the kernel size",
        ));
    }
    Ok(())
}

fn rename(name: &str, e: NnError) -> NnError {
    match e {
        NnError::InputShape { expected, got, .. } => NnError::InputShape {
            module: name.to_string(),
            expected,
            got,
        },
        other => other,
    }
}

/// Maximum over windows (`nn.MaxPool2d`); also takes quantized tensors (exact), as PyTorch.
#[derive(Debug, Clone)]
pub struct MaxPool2d {
    /// Kernel, stride, padding, dilation, ceil mode.
    pub options: Pool2dOptions,
    training: bool,
}

impl MaxPool2d {
    /// A square window of size `k` with stride `k` (PyTorch's default).
    pub fn new(k: usize) -> Result<MaxPool2d> {
        MaxPool2d::with_options(Pool2dOptions::new(k))
    }

    /// A window with explicit options.
    pub fn with_options(options: Pool2dOptions) -> Result<MaxPool2d> {
        check("MaxPool2d", &options)?;
        Ok(MaxPool2d {
            options,
            training: true,
        })
    }
}

impl Module for MaxPool2d {
    fn type_name(&self) -> &'static str {
        "MaxPool2d"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        match input {
            Value::Quant(q) => Ok(Value::Quant(
                quant_ops::max_pool2d(&q, &self.options).map_err(|e| rename("MaxPool2d", e))?,
            )),
            other => {
                let x = other.into_float("MaxPool2d")?;
                Ok(Value::Float(
                    functional::max_pool2d(&x, &self.options)
                        .map_err(|e| rename("MaxPool2d", e))?,
                ))
            }
        }
    }
    fn extra_repr(&self) -> String {
        let o = &self.options;
        format!(
            "kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={}",
            repr::int_or_tuple(&o.kernel_size),
            repr::int_or_tuple(&o.stride),
            repr::int_or_tuple(&o.padding),
            repr::int_or_tuple(&o.dilation),
            repr::boolean(o.ceil_mode)
        )
    }
    training_flag!();
}

/// Average over windows (`nn.AvgPool2d`); quantized inputs go to the registered kernels.
#[derive(Debug, Clone)]
pub struct AvgPool2d {
    /// Kernel, stride, padding, ceil mode, count_include_pad, divisor_override.
    pub options: Pool2dOptions,
    training: bool,
}

impl AvgPool2d {
    /// A square window of size `k` with stride `k` (PyTorch's default).
    pub fn new(k: usize) -> Result<AvgPool2d> {
        AvgPool2d::with_options(Pool2dOptions::new(k))
    }

    /// A window with explicit options.
    pub fn with_options(options: Pool2dOptions) -> Result<AvgPool2d> {
        check("AvgPool2d", &options)?;
        Ok(AvgPool2d {
            options,
            training: true,
        })
    }
}

impl Module for AvgPool2d {
    fn type_name(&self) -> &'static str {
        "AvgPool2d"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        match input {
            Value::Quant(q) => Ok(Value::Quant(
                quant_ops("avg_pool2d")?.avg_pool2d(&q, &self.options)?,
            )),
            other => {
                let x = other.into_float("AvgPool2d")?;
                Ok(Value::Float(
                    functional::avg_pool2d(&x, &self.options)
                        .map_err(|e| rename("AvgPool2d", e))?,
                ))
            }
        }
    }
    fn extra_repr(&self) -> String {
        let o = &self.options;
        format!(
            "kernel_size={}, stride={}, padding={}",
            repr::int_or_tuple(&o.kernel_size),
            repr::int_or_tuple(&o.stride),
            repr::int_or_tuple(&o.padding)
        )
    }
    training_flag!();
}

/// Average to a fixed output size (`nn.AdaptiveAvgPool2d`); quantized inputs go to the
/// registered kernels.
#[derive(Debug, Clone)]
pub struct AdaptiveAvgPool2d {
    /// `(oh, ow)`.
    pub output_size: [usize; 2],
    training: bool,
}

impl AdaptiveAvgPool2d {
    /// Output `(oh, ow)`; errors if a size is 0.
    pub fn new(output_size: [usize; 2]) -> Result<AdaptiveAvgPool2d> {
        if output_size.contains(&0) {
            return Err(NnError::bad_arg(
                "AdaptiveAvgPool2d",
                "output size must be positive",
            ));
        }
        Ok(AdaptiveAvgPool2d {
            output_size,
            training: true,
        })
    }
}

impl Module for AdaptiveAvgPool2d {
    fn type_name(&self) -> &'static str {
        "AdaptiveAvgPool2d"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        match input {
            Value::Quant(q) => Ok(Value::Quant(
                quant_ops("adaptive_avg_pool2d")?.adaptive_avg_pool2d(&q, self.output_size)?,
            )),
            other => {
                let x = other.into_float("AdaptiveAvgPool2d")?;
                Ok(Value::Float(
                    functional::adaptive_avg_pool2d(&x, self.output_size)
                        .map_err(|e| rename("AdaptiveAvgPool2d", e))?,
                ))
            }
        }
    }
    fn extra_repr(&self) -> String {
        format!("output_size={}", repr::int_or_tuple(&self.output_size))
    }
    training_flag!();
}
