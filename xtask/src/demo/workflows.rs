//! The quantization workflows the demo runs, each from the same trained float weights.

use super::train::train;
use nn::data::Dataset;
use nn::{Module, StateDict, Tensor, Value};
use nn_quantized_dynamic::WeightDType;
use qtensor::Engine;
use quantization::dynamic::{quantize_dynamic, DynamicSpec};
use quantization::eager::{
    convert, fuse_modules, fuse_modules_qat, prepare, QConfigMapping, QuantMapping,
};
use quantization::fx::{convert_fx, get_default_qconfig_mapping, prepare_fx};
use quantization::qat::{convert_mapping, convert_qat, prepare_qat, QatMapping};
use quantization::{get_default_qat_qconfig, get_default_qconfig, Backend};

use super::measure::{accuracy, latency, weight_bytes};
use super::model::{DigitsCnn, FUSE_GROUPS};
use super::{Options, Outcome};

/// A way to quantize the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    /// Dynamic quantization of the linear layers (`quantize_dynamic`).
    Dynamic,
    /// Eager-mode static post-training quantization.
    Eager,
    /// Graph-mode (FX) static post-training quantization of the same forward code.
    Fx,
    /// Quantization-aware fine-tuning, then conversion.
    Qat,
}

impl Workflow {
    /// Every workflow, in the order the table shows them.
    pub const ALL: &'static [Workflow] = &[
        Workflow::Dynamic,
        Workflow::Eager,
        Workflow::Fx,
        Workflow::Qat,
    ];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Workflow::Dynamic => "dynamic",
            Workflow::Eager => "eager",
            Workflow::Fx => "fx",
            Workflow::Qat => "qat",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Result<Workflow, String> {
        Workflow::ALL
            .iter()
            .copied()
            .find(|w| w.name() == name.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Workflow::ALL.iter().map(|w| w.name()).collect();
                format!(
                    "unknown workflow '{name}'; choose from {}",
                    names.join(", ")
                )
            })
    }

    /// Quantizes a fresh copy of the trained model on `engine` and measures it.
    pub fn run(
        self,
        ctx: &Context<'_>,
        state: &StateDict,
        engine: Engine,
        opts: &Options,
    ) -> Result<Outcome, Box<dyn std::error::Error>> {
        let mut model = DigitsCnn::with_state(state)?;
        let backend = Backend::from(engine);
        match self {
            Workflow::Qat => {
                model.train(true);
                fuse_modules_qat(&mut model, FUSE_GROUPS)?;
                let mapping = convert_mapping();
                let spec = QConfigMapping::global(get_default_qat_qconfig(backend));
                prepare_qat(&mut model, &spec, &QatMapping::default_qat(), &mapping)?;
                let label = format!("qat {engine}");
                train(&mut model, ctx.train, opts.qat_epochs, 1e-4, &label)?;
                convert_qat(&mut model, &mapping)?;
            }
            Workflow::Dynamic => {
                quantize_dynamic(&mut model, &DynamicSpec::Default, WeightDType::QInt8)?;
            }
            Workflow::Eager => {
                fuse_modules(&mut model, FUSE_GROUPS)?;
                let mapping = QuantMapping::default_static();
                let spec = QConfigMapping::global(get_default_qconfig(backend));
                prepare(&mut model, &spec, &mapping)?;
                ctx.calibrate(&mut model)?;
                convert(&mut model, &mapping)?;
            }
            Workflow::Fx => {
                // No manual fusion: prepare_fx traces the forward and fuses by pattern.
                let example = Value::Float(ctx.timing_batch.clone());
                let mapping = get_default_qconfig_mapping(backend);
                let mut prepared = prepare_fx(model, &mapping, &[example])?;
                ctx.calibrate(&mut prepared)?;
                let mut converted = convert_fx(prepared)?;
                return Ok(ctx.measure(self.name(), engine.name(), &mut converted)?);
            }
        }
        Ok(ctx.measure(self.name(), engine.name(), &mut model)?)
    }
}

/// The data every workflow uses.
pub struct Context<'a> {
    train: &'a Dataset,
    test: &'a Dataset,
    timing_batch: Tensor,
}

impl<'a> Context<'a> {
    /// Holds the data sets and builds the timing batch (the first `batch` held-out images).
    pub fn new(train: &'a Dataset, test: &'a Dataset, batch: usize) -> nn::Result<Self> {
        let idx: Vec<usize> = (0..batch).map(|i| i % test.len()).collect();
        let (timing_batch, _) = test.batch(&idx)?;
        Ok(Context {
            train,
            test,
            timing_batch,
        })
    }

    /// Runs 256 training images through a prepared model (calibration).
    pub fn calibrate(&self, model: &mut dyn Module) -> nn::Result<()> {
        let idx: Vec<usize> = (0..self.train.len().min(256)).collect();
        for chunk in idx.chunks(64) {
            let (x, _) = self.train.batch(chunk)?;
            nn::no_grad(|| model.forward(Value::Float(x)))?;
        }
        Ok(())
    }

    /// Accuracy, weight bytes and latency of a model.
    pub fn measure(
        &self,
        workflow: &'static str,
        engine: &str,
        model: &mut dyn Module,
    ) -> nn::Result<Outcome> {
        Ok(Outcome {
            workflow,
            engine: engine.to_string(),
            accuracy: accuracy(model, self.test)?,
            bytes: weight_bytes(model),
            latency: latency(model, &self.timing_batch, 30)?,
        })
    }
}
