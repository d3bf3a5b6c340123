//! [`Prepared`]: a module that prepare has given a qconfig and (usually) an activation
//! post-process: PyTorch's `qconfig` attribute plus the forward hook calling
//! `activation_post_process`.

use nn::{Buffer, Child, Method, Module, Result, Tensor, Value};

use super::observer_module::ObserverModule;
use crate::QConfig;

/// Wraps a float module in place of it: same type name, parameters, buffers and printed form,
/// its children plus `activation_post_process`, so paths read as PyTorch's
/// (`conv1.activation_post_process`). The forward runs the module, then the post-process on
/// its output (or on its input for memoryless, i.e. dynamic, observers).
pub struct Prepared {
    inner: Box<dyn Module>,
    qconfig: QConfig,
    activation_post_process: Option<Child>,
    observe_input: bool,
}

impl Prepared {
    pub(crate) fn new(
        inner: Box<dyn Module>,
        qconfig: QConfig,
        app: Option<ObserverModule>,
        observe_input: bool,
    ) -> Prepared {
        Prepared {
            inner,
            qconfig,
            activation_post_process: app.map(|o| Child::named("activation_post_process", o)),
            observe_input,
        }
    }

    /// The wrapped float module.
    pub fn inner(&self) -> &dyn Module {
        self.inner.as_ref()
    }

    /// The qconfig assigned to it.
    pub fn qconfig(&self) -> &QConfig {
        &self.qconfig
    }

    /// Its activation post-process, if the qconfig built one.
    pub fn activation_post_process(&self) -> Option<&ObserverModule> {
        self.activation_post_process
            .as_ref()
            .and_then(|c| c.module().downcast_ref::<ObserverModule>())
    }

    /// The float module, giving up the wrapper and its observer.
    pub fn into_inner(self) -> Box<dyn Module> {
        self.inner
    }
}

/// The float module inside `m` if `m` was prepared, else `m` itself.
pub fn unwrap_prepared(m: &dyn Module) -> &dyn Module {
    match m.downcast_ref::<Prepared>() {
        Some(p) => p.inner(),
        None => m,
    }
}

/// The forward of a module with an activation post-process (eager observer or QAT fake
/// quant): on the input for memoryless (dynamic) post-processes, else on the output.
pub(crate) fn forward_post_processed(
    inner: &mut dyn Module,
    app: Option<&mut Child>,
    observe_input: bool,
    input: Value,
) -> Result<Value> {
    match app {
        None => inner.forward(input),
        Some(app) if observe_input => {
            let x = app.forward(input)?;
            inner.forward(x)
        }
        Some(app) => {
            let y = inner.forward(input)?;
            app.forward(y)
        }
    }
}

/// The wrapped module's children, then `activation_post_process`.
pub(crate) fn children_with<'a>(
    inner: &'a dyn Module,
    app: Option<&'a Child>,
) -> Vec<(String, &'a dyn Module)> {
    let mut v = inner.children();
    if let Some(a) = app {
        v.push(("activation_post_process".into(), a.module()));
    }
    v
}

/// [`children_with`], mutably as slots.
pub(crate) fn child_slots_with<'a>(
    inner: &'a mut dyn Module,
    app: Option<&'a mut Child>,
) -> Vec<(String, &'a mut Box<dyn Module>)> {
    let mut v = inner.child_slots_mut();
    if let Some(a) = app {
        v.push(("activation_post_process".into(), a.slot_mut()));
    }
    v
}

impl Module for Prepared {
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
