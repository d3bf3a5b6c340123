//! `torch.ao.nn.qat.Conv1d`, `Conv2d`, `Conv3d`.

use nn::functional::{self, ConvOptions};
use nn::{Child, ConvConfig, Module, NnError, Result, Tensor, Value};

use crate::linear::py_bool;
use crate::weight::{self, fresh_parameter};

/// Python's tuple form: `(3, 3)`, or `(3,)` for one element.
fn tuple(v: &[usize]) -> String {
    if v.len() == 1 {
        return format!("({},)", v[0]);
    }
    let parts: Vec<String> = v.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

/// The printed arguments of a convolution (`nn.Conv2d`'s `extra_repr`), shared by the QAT
/// convolutions and their fused forms.
pub fn conv_extra_repr(
    in_channels: usize,
    out_channels: usize,
    kernel_size: &[usize],
    o: &ConvOptions,
    bias: bool,
) -> String {
    let mut s = format!(
        "{in_channels}, {out_channels}, kernel_size={}, stride={}",
        tuple(kernel_size),
        tuple(&o.stride)
    );
    if o.padding.iter().any(|&p| p != 0) {
        s += &format!(", padding={}", tuple(&o.padding));
    }
    if o.dilation.iter().any(|&d| d != 1) {
        s += &format!(", dilation={}", tuple(&o.dilation));
    }
    if o.groups != 1 {
        s += &format!(", groups={}", o.groups);
    }
    if !bias {
        s += &format!(", bias={}", py_bool(false));
    }
    s
}

/// Checks a convolution's input: `rank + 2` dimensions with `in_channels` channels.
pub fn check_conv_input(name: &str, rank: usize, in_channels: usize, x: &Tensor) -> Result<()> {
    let s = x.shape();
    if s.len() != rank + 2 || s[1] != in_channels {
        let dims = ["L", "H, W", "D, H, W"]
            .get(rank.wrapping_sub(1))
            .copied()
            .unwrap_or("*");
        return Err(NnError::input_shape(
            name,
            format!("(N, {in_channels}, {dims})"),
            &s,
        ));
    }
    Ok(())
}

/// Renames the module in an input-shape error coming from the functional op.
pub(crate) fn rename(name: &str, e: NnError) -> NnError {
    match e {
        NnError::InputShape { expected, got, .. } => NnError::InputShape {
            module: name.to_string(),
            expected,
            got,
        },
        other => other,
    }
}

macro_rules! qat_conv {
    ($name:ident, $float:ident, $rank:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name {
            /// The kernel `(out, in / groups, *k)`.
            pub weight: Tensor,
            /// `(out_channels)`, if the layer has a bias.
            pub bias: Option<Tensor>,
            /// Stride, padding, dilation, groups.
            pub options: ConvOptions,
            in_channels: usize,
            out_channels: usize,
            weight_fake_quant: Child,
            training: bool,
        }

        impl $name {
            /// A layer from a configuration, with PyTorch's default initialisation and the
            /// given weight fake-quant. Errors as the float layer's constructor (and on a
            /// non-zero output padding, which only transposed convolutions have).
            pub fn from_config(
                cfg: ConvConfig,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                let float = nn::$float::from_config(cfg)?;
                $name::from_float(&float, weight_fake_quant)
            }

            /// A layer around existing parameters (shared); shapes are checked as
            /// `nn::$float::from_parts` checks them.
            pub fn from_parts(
                weight: Tensor,
                bias: Option<Tensor>,
                options: ConvOptions,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                let float = nn::$float::from_parts(weight, bias, options)?;
                $name::from_float(&float, weight_fake_quant)
            }

            /// `from_float`: the QAT form of `float`, sharing its parameters, in training
            /// mode.
            pub fn from_float(
                float: &nn::$float,
                weight_fake_quant: Box<dyn Module>,
            ) -> Result<$name> {
                let name = stringify!($name);
                if float.options.output_padding.iter().any(|&p| p != 0) {
                    return Err(NnError::bad_arg(
                        name,
                        "output_padding is for transposed convolutions only",
                    ));
                }
                Ok($name {
                    weight: float.weight.clone(),
                    bias: float.bias.clone(),
                    options: float.options.clone(),
                    in_channels: float.in_channels(),
                    out_channels: float.out_channels(),
                    weight_fake_quant: weight::slot(weight_fake_quant),
                    training: true,
                })
            }

            /// `to_float`: a float convolution with copies of the (not fake-quantized)
            /// parameters, in this module's training mode.
            pub fn to_float(&self) -> Result<nn::$float> {
                let mut c = nn::$float::from_parts(
                    fresh_parameter(&self.weight),
                    self.bias.as_ref().map(fresh_parameter),
                    self.options.clone(),
                )?;
                c.set_training_flag(self.training);
                Ok(c)
            }

            /// Input channels.
            pub fn in_channels(&self) -> usize {
                self.in_channels
            }

            /// Output channels.
            pub fn out_channels(&self) -> usize {
                self.out_channels
            }

            /// Kernel size per spatial dimension.
            pub fn kernel_size(&self) -> Vec<usize> {
                self.weight
                    .shape()
                    .get(2..)
                    .map(<[usize]>::to_vec)
                    .unwrap_or_default()
            }

            /// The weight's fake-quant module.
            pub fn weight_fake_quant(&self) -> &dyn Module {
                self.weight_fake_quant.module()
            }

            /// The weight's fake-quant module, mutably.
            pub fn weight_fake_quant_mut(&mut self) -> &mut dyn Module {
                self.weight_fake_quant.module_mut()
            }

            /// The weight after its fake quant (runs the fake-quant module once).
            pub fn fake_quantized_weight(&mut self) -> Result<Tensor> {
                weight::apply(&mut self.weight_fake_quant, stringify!($name), &self.weight)
            }

            /// The convolution with the fake-quantized weight (`_conv_forward(x, fq(w), b)`),
            /// without the module-level input check.
            pub fn conv_forward(&mut self, x: &Tensor) -> Result<Tensor> {
                let name = stringify!($name);
                check_conv_input(name, $rank, self.in_channels, x)?;
                let w = self.fake_quantized_weight()?;
                functional::conv(x, &w, self.bias.as_ref(), $rank, &self.options)
                    .map_err(|e| rename(name, e))
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }

            fn forward(&mut self, input: Value) -> Result<Value> {
                let x = input.into_float(stringify!($name))?;
                Ok(Value::Float(self.conv_forward(&x)?))
            }

            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                let mut v = vec![("weight".to_string(), self.weight.clone())];
                if let Some(b) = &self.bias {
                    v.push(("bias".to_string(), b.clone()));
                }
                v
            }

            fn children(&self) -> Vec<(String, &dyn Module)> {
                vec![weight::child_ref(&self.weight_fake_quant)]
            }

            fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
                vec![weight::child_slot(&mut self.weight_fake_quant)]
            }

            fn extra_repr(&self) -> String {
                conv_extra_repr(
                    self.in_channels,
                    self.out_channels,
                    &self.kernel_size(),
                    &self.options,
                    self.bias.is_some(),
                )
            }

            fn is_training(&self) -> bool {
                self.training
            }

            fn set_training_flag(&mut self, training: bool) {
                self.training = training;
            }
        }
    };
}

qat_conv!(
    Conv1d,
    Conv1d,
    1,
    "`nnqat.Conv1d`: a 1-D convolution over `(N, C, L)` whose weight passes through its `weight_fake_quant` child."
);
qat_conv!(
    Conv2d,
    Conv2d,
    2,
    "`nnqat.Conv2d`: a 2-D convolution over `(N, C, H, W)` whose weight passes through its `weight_fake_quant` child."
);
qat_conv!(
    Conv3d,
    Conv3d,
    3,
    "`nnqat.Conv3d`: a 3-D convolution over `(N, C, D, H, W)` whose weight passes through its `weight_fake_quant` child."
);
