//! [`QatPrepared`]: a QAT-prepared module with its qconfig and activation fake-quant.

use nn::{Buffer, Child, Method, Module, Result, Tensor, Value};

use super::FakeQuantizeModule;
use crate::eager::prepared::{child_slots_with, children_with, forward_post_processed};
use crate::QConfig;

/// What `prepare_qat` puts in place of each module it observes: the module (same type name,
/// parameters, buffers, children and printed form), its qconfig, and the fake-quant of its
/// output as the child `activation_post_process` (paths read as PyTorch's:
/// `conv1.activation_post_process`). Unlike the post-training wrapper its forward is
/// differentiable, `train(mode)` reaches the wrapped module's own `train` (a frozen batch norm
/// stays frozen), and the wrapped module is reachable mutably.
pub struct QatPrepared {
    inner: Box<dyn Module>,
    qconfig: QConfig,
    activation_post_process: Option<Child>,
    observe_input: bool,
}

impl QatPrepared {
    /// Wraps `inner`; with `observe_input` the fake quant runs on the input (memoryless,
    /// dynamic activations) instead of the output.
    pub(crate) fn new(
        inner: Box<dyn Module>,
        qconfig: QConfig,
        app: Option<FakeQuantizeModule>,
        observe_input: bool,
    ) -> QatPrepared {
        QatPrepared {
            inner,
            qconfig,
            activation_post_process: app.map(|a| Child::named("activation_post_process", a)),
            observe_input,
        }
    }

    /// The wrapped module.
    pub fn inner(&self) -> &dyn Module {
        self.inner.as_ref()
    }

    /// The wrapped module, mutably.
    pub fn inner_mut(&mut self) -> &mut dyn Module {
        self.inner.as_mut()
    }

    /// The qconfig assigned to it.
    pub fn qconfig(&self) -> &QConfig {
        &self.qconfig
    }

    /// Its activation fake-quant, if the qconfig built one.
    pub fn activation_post_process(&self) -> Option<&FakeQuantizeModule> {
        self.activation_post_process
            .as_ref()
            .and_then(|c| c.module().downcast_ref::<FakeQuantizeModule>())
    }

    /// Whether the fake quant runs on the input instead of the output.
    pub fn observes_input(&self) -> bool {
        self.observe_input
    }

    /// The parts: the module, its qconfig, its activation fake-quant (`None` if there was
    /// none, or if a pass replaced it by something else).
    pub(crate) fn into_parts(self) -> (Box<dyn Module>, QConfig, Option<FakeQuantizeModule>) {
        let app = self.activation_post_process.and_then(|c| {
            c.into_inner()
                .into_any()
                .downcast::<FakeQuantizeModule>()
                .ok()
                .map(|b| *b)
        });
        (self.inner, self.qconfig, app)
    }
}

impl Module for QatPrepared {
    fn type_name(&self) -> &'static str {
        self.inner.type_name()
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        let app = self.activation_post_process.as_mut();
        forward_post_processed(self.inner.as_mut(), app, self.observe_input, input)
    }

    fn call(&mut self, method: Method, args: Vec<Value>) -> Result<Value> {
        self.inner.call(method, args)
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        self.inner.local_parameters()
    }

    fn local_buffers(&self) -> Vec<(String, Buffer)> {
        self.inner.local_buffers()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        children_with(self.inner.as_ref(), self.activation_post_process.as_ref())
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        child_slots_with(self.inner.as_mut(), self.activation_post_process.as_mut())
    }

    fn train(&mut self, mode: bool) {
        self.inner.train(mode);
        if let Some(a) = &mut self.activation_post_process {
            a.train(mode);
        }
    }

    fn is_training(&self) -> bool {
        self.inner.is_training()
    }

    fn set_training_flag(&mut self, training: bool) {
        self.inner.set_training_flag(training);
    }

    fn extra_repr(&self) -> String {
        self.inner.extra_repr()
    }
}
