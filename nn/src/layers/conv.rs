//! `nn.Conv1d`, `nn.Conv2d`, `nn.Conv3d`, `nn.ConvTranspose2d`.

use crate::error::{NnError, Result};
use crate::functional::{self, ConvOptions};
use crate::layers::linear::default_init;
use crate::layers::{repr, training_flag};
use crate::module::{Module, Value};
use crate::tensor::Tensor;

/// Everything that defines a convolution layer: channels, kernel size, options, bias.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size per spatial dimension.
    pub kernel_size: Vec<usize>,
    /// Stride, padding, dilation, groups, output padding.
    pub options: ConvOptions,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl ConvConfig {
    /// PyTorch's defaults (stride 1, padding 0, dilation 1, groups 1, bias) for this kernel.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: &[usize]) -> ConvConfig {
        ConvConfig {
            in_channels,
            out_channels,
            kernel_size: kernel_size.to_vec(),
            options: ConvOptions::new(kernel_size.len()),
            bias: true,
        }
    }

    /// Sets the stride of every dimension.
    pub fn stride(mut self, s: usize) -> Self {
        self.options = self.options.stride(s);
        self
    }

    /// Sets the padding of every dimension.
    pub fn padding(mut self, p: usize) -> Self {
        self.options = self.options.padding(p);
        self
    }

    /// Sets the dilation of every dimension.
    pub fn dilation(mut self, d: usize) -> Self {
        self.options = self.options.dilation(d);
        self
    }

    /// Sets the number of groups.
    pub fn groups(mut self, g: usize) -> Self {
        self.options = self.options.groups(g);
        self
    }

    /// Sets the output padding (transposed convolutions).
    pub fn output_padding(mut self, p: usize) -> Self {
        self.options = self.options.output_padding(p);
        self
    }

    /// With or without bias.
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
}

fn check_options(name: &str, rank: usize, o: &ConvOptions, kernel: &[usize]) -> Result<()> {
    let lens = [
        kernel.len(),
        o.stride.len(),
        o.padding.len(),
        o.dilation.len(),
        o.output_padding.len(),
    ];
    if lens.iter().any(|&l| l != rank) {
        return Err(NnError::bad_arg(
            name,
            format!(
                "kernel_size, stride, padding, dilation and output_padding need {rank} values each"
            ),
        ));
    }
    if kernel.contains(&0) || o.stride.contains(&0) || o.dilation.contains(&0) || o.groups == 0 {
        return Err(NnError::bad_arg(
            name,
            "kernel_size, stride, dilation and groups must be positive",
        ));
    }
    Ok(())
}

macro_rules! conv_layer {
    ($name:ident, $rank:expr, $transposed:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name {
            /// The kernel: `(out, in / groups, *k)`, or `(in, out / groups, *k)` when transposed.
            pub weight: Tensor,
            /// `(out_channels)`, if the layer has a bias.
            pub bias: Option<Tensor>,
            /// Stride, padding, dilation, groups, output padding.
            pub options: ConvOptions,
            in_channels: usize,
            out_channels: usize,
            training: bool,
        }

        impl $name {
            /// A layer with a square (cubic) kernel and PyTorch's default options and init.
            pub fn new(
                in_channels: usize,
                out_channels: usize,
                kernel_size: usize,
            ) -> Result<$name> {
                $name::from_config(ConvConfig::new(
                    in_channels,
                    out_channels,
                    &[kernel_size; $rank],
                ))
            }

            /// A layer from a full configuration, with PyTorch's default initialisation.
            pub fn from_config(cfg: ConvConfig) -> Result<$name> {
                let name = stringify!($name);
                check_options(name, $rank, &cfg.options, &cfg.kernel_size)?;
                let g = cfg.options.groups;
                if cfg.in_channels % g != 0 || cfg.out_channels % g != 0 {
                    return Err(NnError::bad_arg(
                        name,
                        format!(
                            "in_channels {} and out_channels {} must be divisible by groups {g}",
                            cfg.in_channels, cfg.out_channels
                        ),
                    ));
                }
                let mut shape = if $transposed {
                    vec![cfg.in_channels, cfg.out_channels / g]
                } else {
                    vec![cfg.out_channels, cfg.in_channels / g]
                };
                let fan_in = shape[1] * cfg.kernel_size.iter().product::<usize>();
                shape.extend_from_slice(&cfg.kernel_size);
                Ok($name {
                    weight: default_init(&shape, fan_in),
                    bias: cfg.bias.then(|| default_init(&[cfg.out_channels], fan_in)),
                    options: cfg.options,
                    in_channels: cfg.in_channels,
                    out_channels: cfg.out_channels,
                    training: true,
                })
            }

            /// A layer around existing parameters (fused or loaded); shapes are checked.
            pub fn from_parts(
                weight: Tensor,
                bias: Option<Tensor>,
                options: ConvOptions,
            ) -> Result<$name> {
                let name = stringify!($name);
                let ws = weight.shape();
                if ws.len() != $rank + 2 {
                    return Err(NnError::bad_arg(
                        name,
                        format!("weight must have {} dimensions, got {ws:?}", $rank + 2),
                    ));
                }
                check_options(name, $rank, &options, &ws[2..])?;
                let g = options.groups;
                let (in_channels, out_channels) = if $transposed {
                    (ws[0], ws[1] * g)
                } else {
                    (ws[1] * g, ws[0])
                };
                if ws[0] % g != 0 {
                    return Err(NnError::bad_arg(
                        name,
                        format!("weight {ws:?} does not fit groups {g}"),
                    ));
                }
                if let Some(b) = &bias {
                    if b.shape() != [out_channels] {
                        return Err(NnError::shapes(
                            "Conv",
                            &ws,
                            &b.shape(),
                            "bias must have shape (out_channels)",
                        ));
                    }
                }
                Ok($name {
                    weight,
                    bias,
                    options,
                    in_channels,
                    out_channels,
                    training: true,
                })
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
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }

            fn forward(&mut self, input: Value) -> Result<Value> {
                let name = stringify!($name);
                let x = input.into_float(name)?;
                let s = x.shape();
                if s.len() != $rank + 2 || s[1] != self.in_channels {
                    let dims = ["L", "H, W", "D, H, W"][$rank - 1];
                    return Err(NnError::input_shape(
                        name,
                        format!("(N, {}, {dims})", self.in_channels),
                        &s,
                    ));
                }
                let y = if $transposed {
                    functional::conv_transpose(
                        &x,
                        &self.weight,
                        self.bias.as_ref(),
                        $rank,
                        &self.options,
                    )
                } else {
                    functional::conv(&x, &self.weight, self.bias.as_ref(), $rank, &self.options)
                };
                Ok(Value::Float(y.map_err(|e| match e {
                    NnError::InputShape { expected, got, .. } => NnError::InputShape {
                        module: name.to_string(),
                        expected,
                        got,
                    },
                    other => other,
                })?))
            }

            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                let mut v = vec![("weight".to_string(), self.weight.clone())];
                if let Some(b) = &self.bias {
                    v.push(("bias".to_string(), b.clone()));
                }
                v
            }

            fn extra_repr(&self) -> String {
                let o = &self.options;
                let mut s = format!(
                    "{}, {}, kernel_size={}, stride={}",
                    self.in_channels,
                    self.out_channels,
                    repr::tuple(&self.kernel_size()),
                    repr::tuple(&o.stride)
                );
                if o.padding.iter().any(|&p| p != 0) {
                    s += &format!(", padding={}", repr::tuple(&o.padding));
                }
                if o.dilation.iter().any(|&d| d != 1) {
                    s += &format!(", dilation={}", repr::tuple(&o.dilation));
                }
                if o.output_padding.iter().any(|&p| p != 0) {
                    s += &format!(", output_padding={}", repr::tuple(&o.output_padding));
                }
                if o.groups != 1 {
                    s += &format!(", groups={}", o.groups);
                }
                if self.bias.is_none() {
                    s += ", bias=False";
                }
                s
            }

            training_flag!();
        }
    };
}

conv_layer!(
    Conv1d,
    1,
    false,
    "1-D convolution over `(N, C, L)` (`nn.Conv1d`); parameters `weight`, `bias`."
);
conv_layer!(
    Conv2d,
    2,
    false,
    "2-D convolution over `(N, C, H, W)` (`nn.Conv2d`); parameters `weight`, `bias`."
);
conv_layer!(
    Conv3d,
    3,
    false,
    "3-D convolution over `(N, C, D, H, W)` (`nn.Conv3d`); parameters `weight`, `bias`."
);
conv_layer!(
    ConvTranspose2d,
    2,
    true,
    "2-D transposed convolution (`nn.ConvTranspose2d`); weight `(in, out / groups, kh, kw)`."
);
