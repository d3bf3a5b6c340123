//! `torch.ao.nn.quantized.Conv1d` / `Conv2d` / `Conv3d` / `ConvTranspose2d`.

use nn::{Module, NnError, Result, Value};
use qtensor::{Engine, QTensor};

use super::util::{op_err, py_float, py_tuple, quant_input};
use crate::functional::{self as F, ConvOptions, PackedWeight, QOpError};
use crate::state::{
    check_local_state, commit_replacement, out_qparams, read_out_qparams, read_weight, rejected,
    weight_entries, QStateTensor, QuantizedState, QuantizedStateDict, StagedState, StateError,
};

/// What every quantized convolution holds: the packed weight and bias, the geometry and the
/// output parameters. The modules below wrap it; the fused `ConvReLU*d` modules do too.
#[derive(Debug)]
pub struct ConvCore {
    packed: PackedWeight,
    in_channels: usize,
    out_channels: usize,
    kernel_size: Vec<usize>,
    options: ConvOptions,
    scale: f64,
    zero_point: i64,
}

impl ConvCore {
    /// Packs a qint8 weight (`(out, in / groups, *k)`, or `(in, out / groups, *k)` when
    /// `options.transposed` is set) and a float bias for the current engine.
    pub fn new(
        weight: &QTensor,
        bias: Option<&[f32]>,
        options: ConvOptions,
        scale: f64,
        zero_point: i64,
    ) -> Result<ConvCore, QOpError> {
        qtensor::check_scale("output scale", scale)?;
        qtensor::check_zero_point("output zero_point", zero_point, qtensor::QDType::QUInt8)?;
        let s = weight.shape();
        let g = options.groups;
        let (in_channels, out_channels) = match options.transposed {
            Some(_) if s.len() >= 2 => (s[0], s[1] * g),
            _ if s.len() >= 2 => (s[1] * g, s[0]),
            _ => {
                return Err(QOpError::Shape {
                    op: "conv",
                    msg: format!("weight must have at least 3 dimensions, got {s:?}"),
                })
            }
        };
        if let Some(b) = bias {
            if b.len() != out_channels {
                return Err(QOpError::Shape {
                    op: "conv",
                    msg: format!(
                        "bias has {} values for {out_channels} output channels",
                        b.len()
                    ),
                });
            }
        }
        let packed = F::conv_prepack(weight, bias, &options)?;
        crate::register_quant_ops();
        Ok(ConvCore {
            kernel_size: s[2..].to_vec(),
            packed,
            in_channels,
            out_channels,
            options,
            scale,
            zero_point,
        })
    }

    /// The quantized weight.
    pub fn weight(&self) -> &QTensor {
        self.packed.weight()
    }

    /// The float bias.
    pub fn bias(&self) -> Option<&[f32]> {
        self.packed.bias()
    }

    /// Stride, padding, dilation, groups (and output padding when transposed).
    pub fn options(&self) -> &ConvOptions {
        &self.options
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Output scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Output zero point.
    pub fn zero_point(&self) -> i64 {
        self.zero_point
    }

    /// The engine the weight was packed for.
    pub fn engine(&self) -> Engine {
        self.packed.engine()
    }

    /// Runs the convolution, ReLU fused when `relu`; `name` is the module reported in errors.
    pub fn run(&self, name: &'static str, input: Value, relu: bool) -> Result<Value> {
        let x = quant_input(name, input)?;
        let dims = self.kernel_size.len();
        if x.ndim() != dims + 2 || x.shape()[1] != self.in_channels {
            let spatial = ["L", "H, W", "D, H, W"][dims.clamp(1, 3) - 1];
            return Err(NnError::input_shape(
                name,
                format!("(N, {}, {spatial})", self.in_channels),
                x.shape(),
            ));
        }
        let y =
            F::conv(&x, &self.packed, self.scale, self.zero_point, relu).map_err(op_err(name))?;
        Ok(Value::Quant(y))
    }

    /// PyTorch's `extra_repr` of a quantized convolution.
    pub fn repr_fields(&self) -> String {
        let o = &self.options;
        let mut s = format!(
            "{}, {}, kernel_size={}, stride={}, scale={}, zero_point={}",
            self.in_channels,
            self.out_channels,
            py_tuple(&self.kernel_size),
            py_tuple(&o.stride),
            py_float(self.scale),
            self.zero_point
        );
        if o.padding.iter().any(|&p| p != 0) {
            s += &format!(", padding={}", py_tuple(&o.padding));
        }
        if o.dilation.iter().any(|&d| d != 1) {
            s += &format!(", dilation={}", py_tuple(&o.dilation));
        }
        if let Some(op) = o.transposed.as_ref().filter(|p| p.iter().any(|&v| v != 0)) {
            s += &format!(", output_padding={}", py_tuple(op));
        }
        if o.groups != 1 {
            s += &format!(", groups={}", o.groups);
        }
        if self.bias().is_none() {
            s += ", bias=False";
        }
        s
    }
}

/// `weight`, `bias` (when present), `scale`, `zero_point`; staging repacks the weight with the
/// same geometry. The convolution modules and the fused `ConvReLU*d` delegate to it.
impl QuantizedState for ConvCore {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        let mut out = weight_entries(self.weight(), self.bias());
        out.extend(out_qparams(self.scale, self.zero_point));
        out
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        let (w, bias) = read_weight(state, self.bias().is_some())?;
        let (scale, zero_point) = read_out_qparams(state, 0..=255)?;
        let core = ConvCore::new(w, bias.as_deref(), self.options.clone(), scale, zero_point)
            .map_err(rejected("weight"))?;
        Ok(StagedState::new(core))
    }

    commit_replacement!("ConvCore");
}

macro_rules! quantized_conv {
    ($name:ident, $type_name:literal, $dims:expr, $transposed:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name {
            core: ConvCore,
            training: bool,
        }

        impl $name {
            /// A layer from a qint8 weight, an optional float bias, the geometry and the output
            /// parameters; errors if they do not fit together. Packs the weight for the current
            /// engine.
            pub fn new(
                weight: &QTensor,
                bias: Option<&[f32]>,
                options: ConvOptions,
                scale: f64,
                zero_point: i64,
            ) -> Result<$name, QOpError> {
                if weight.ndim() != $dims + 2 || options.transposed.is_some() != $transposed {
                    return Err(QOpError::Shape {
                        op: $type_name,
                        msg: format!(
                            "weight {:?} / options {options:?} do not describe a {}",
                            weight.shape(),
                            $type_name
                        ),
                    });
                }
                Ok($name {
                    core: ConvCore::new(weight, bias, options, scale, zero_point)?,
                    training: true,
                })
            }

            /// The shared convolution state (weight, bias, geometry, output parameters).
            pub fn core(&self) -> &ConvCore {
                &self.core
            }

            /// The module itself, giving up the wrapper (for the fused `ConvReLU` forms).
            pub fn into_core(self) -> ConvCore {
                self.core
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                $type_name
            }

            fn forward(&mut self, input: Value) -> Result<Value> {
                self.core.run($type_name, input, false)
            }

            fn extra_repr(&self) -> String {
                self.core.repr_fields()
            }

            fn is_training(&self) -> bool {
                self.training
            }

            fn set_training_flag(&mut self, training: bool) {
                self.training = training;
            }
        }

        /// The convolution's state (see [`ConvCore`]'s).
        impl QuantizedState for $name {
            fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
                self.core.quantized_state()
            }

            fn stage_quantized_state(
                &self,
                state: &QuantizedStateDict,
            ) -> Result<StagedState, StateError> {
                let core = self
                    .core
                    .stage_quantized_state(state)?
                    .downcast::<ConvCore>($type_name)?;
                Ok(StagedState::new($name {
                    core,
                    training: self.training,
                }))
            }

            commit_replacement!($type_name);
        }
    };
}

quantized_conv!(
    Conv1d,
    "QuantizedConv1d",
    1,
    false,
    "Quantized 1-d convolution over quint8 `(N, C, L)` (`QuantizedConv1d`)."
);
quantized_conv!(
    Conv2d,
    "QuantizedConv2d",
    2,
    false,
    "Quantized 2-d convolution over quint8 `(N, C, H, W)` (`QuantizedConv2d`)."
);
quantized_conv!(
    Conv3d,
    "QuantizedConv3d",
    3,
    false,
    "Quantized 3-d convolution over quint8 `(N, C, D, H, W)` (`QuantizedConv3d`)."
);
quantized_conv!(
    ConvTranspose2d,
    "QuantizedConvTranspose2d",
    2,
    true,
    "Quantized 2-d transposed convolution (`QuantizedConvTranspose2d`); weight \
     `(in, out / groups, kh, kw)`."
);
