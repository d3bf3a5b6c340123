//! The quantization workflows the demo runs, each from the same trained float weights.

use nn::data::Dataset;
use nn::{Module, StateDict, Tensor, Value};
use nn_quantized_dynamic::WeightDType;
use qtensor::Engine;
use quantization::dynamic::{quantize_dynamic, DynamicSpec};
use quantization::eager::{convert, fuse_modules, prepare, QConfigMapping, QuantMapping};
use quantization::{get_default_qconfig, Backend};

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
}

impl Workflow {
    /// Every workflow, in the order the table shows them.
    pub const ALL: &'static [Workflow] = &[Workflow::Dynamic, Workflow::Eager];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Workflow::Dynamic => "dynamic",
            Workflow::Eager => "eager",
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
        let _ = opts;
        let mut model = DigitsCnn::with_state(state)?;
        match self {
            Workflow::Dynamic => {
                quantize_dynamic(&mut model, &DynamicSpec::Default, WeightDType::QInt8)?;
            }
            Workflow::Eager => {
                fuse_modules(&mut model, FUSE_GROUPS)?;
                let mapping = QuantMapping::default_static();
                let spec = QConfigMapping::global(get_default_qconfig(Backend::from(engine)));
                prepare(&mut model, &spec, &mapping)?;
                ctx.calibrate(&mut model)?;
                convert(&mut model, &mapping)?;
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
