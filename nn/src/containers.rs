//! Containers: [`Sequential`], [`ModuleList`], [`ModuleDict`].

use crate::error::{NnError, Result};
use crate::module::{transactional, Child, Module, Value};

fn slots(children: &mut [Child]) -> Vec<(String, &mut Box<dyn Module>)> {
    children
        .iter_mut()
        .map(|c| (c.name().to_string(), c.slot_mut()))
        .collect()
}

fn refs(children: &[Child]) -> Vec<(String, &dyn Module)> {
    children
        .iter()
        .map(|c| (c.name().to_string(), c.module()))
        .collect()
}

/// Children run one after another (`nn.Sequential`); named `"0"`, `"1"`, ... or by the names
/// given to [`Sequential::push_named`] (the `OrderedDict` form).
pub struct Sequential {
    children: Vec<Child>,
    training: bool,
}

impl Sequential {
    /// An empty sequence.
    pub fn new() -> Sequential {
        Sequential {
            children: Vec::new(),
            training: true,
        }
    }

    /// Appends a module named by its index (builder form).
    pub fn with(mut self, m: impl Module) -> Sequential {
        self.push(Box::new(m));
        self
    }

    /// Appends a boxed module named by its index.
    pub fn push(&mut self, m: Box<dyn Module>) {
        let name = self.children.len().to_string();
        let mut c = Child::from_box(m);
        c.bind_name(&name);
        self.children.push(c);
    }

    /// Appends a module under `name`; errors if the name is taken, empty or has a dot.
    pub fn push_named(&mut self, name: &str, m: Box<dyn Module>) -> Result<()> {
        check_new_name("Sequential", name, &self.children)?;
        let mut c = Child::from_box(m);
        c.bind_name(name);
        self.children.push(c);
        Ok(())
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True without children.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// The child at `index`.
    pub fn get(&self, index: usize) -> Option<&Child> {
        self.children.get(index)
    }

    /// The child at `index`, mutably.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Child> {
        self.children.get_mut(index)
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new()
    }
}

fn check_new_name(container: &str, name: &str, children: &[Child]) -> Result<()> {
    if name.is_empty() || name.contains('.') {
        return Err(NnError::bad_arg(
            container,
            format!("module name '{name}' must be non-empty and contain no '.'"),
        ));
    }
    if children.iter().any(|c| c.name() == name) {
        return Err(NnError::bad_arg(
            container,
            format!("a child named '{name}' exists already"),
        ));
    }
    Ok(())
}

impl Module for Sequential {
    fn type_name(&self) -> &'static str {
        "Sequential"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        transactional(self, |s| {
            let mut x = input;
            for c in &mut s.children {
                x = c.forward(x)?;
            }
            Ok(x)
        })
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        refs(&self.children)
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        slots(&mut self.children)
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// A list of children addressed by index (`nn.ModuleList`); it has no forward of its own.
pub struct ModuleList {
    children: Vec<Child>,
    training: bool,
}

impl ModuleList {
    /// An empty list.
    pub fn new() -> ModuleList {
        ModuleList {
            children: Vec::new(),
            training: true,
        }
    }

    /// Appends a module, named by its index.
    pub fn push(&mut self, m: Box<dyn Module>) {
        let name = self.children.len().to_string();
        let mut c = Child::from_box(m);
        c.bind_name(&name);
        self.children.push(c);
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True without children.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// The child at `index`.
    pub fn get(&self, index: usize) -> Option<&Child> {
        self.children.get(index)
    }

    /// The child at `index`, mutably (its `forward` names `index` in errors).
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Child> {
        self.children.get_mut(index)
    }

    /// The children, mutably, in order.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Child> {
        self.children.iter_mut()
    }
}

impl Default for ModuleList {
    fn default() -> Self {
        ModuleList::new()
    }
}

impl Module for ModuleList {
    fn type_name(&self) -> &'static str {
        "ModuleList"
    }

    fn forward(&mut self, _input: Value) -> Result<Value> {
        Err(NnError::bad_arg(
            "ModuleList",
            "a ModuleList has no forward; call its children (get_mut(i)) from the parent's forward",
        ))
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        refs(&self.children)
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        slots(&mut self.children)
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// Children addressed by name, in insertion order (`nn.ModuleDict`); no forward of its own.
pub struct ModuleDict {
    children: Vec<Child>,
    training: bool,
}

impl ModuleDict {
    /// An empty dict.
    pub fn new() -> ModuleDict {
        ModuleDict {
            children: Vec::new(),
            training: true,
        }
    }

    /// Inserts or replaces the child `name`; errors if the name is empty or has a dot.
    pub fn insert(&mut self, name: &str, m: Box<dyn Module>) -> Result<Option<Box<dyn Module>>> {
        if let Some(c) = self.children.iter_mut().find(|c| c.name() == name) {
            return Ok(Some(c.replace(m)));
        }
        check_new_name("ModuleDict", name, &self.children)?;
        let mut c = Child::from_box(m);
        c.bind_name(name);
        self.children.push(c);
        Ok(None)
    }

    /// The child `name`.
    pub fn get(&self, name: &str) -> Option<&Child> {
        self.children.iter().find(|c| c.name() == name)
    }

    /// The child `name`, mutably (its `forward` names it in errors).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.name() == name)
    }

    /// The names, in order.
    pub fn keys(&self) -> Vec<String> {
        self.children.iter().map(|c| c.name().to_string()).collect()
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True without children.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

impl Default for ModuleDict {
    fn default() -> Self {
        ModuleDict::new()
    }
}

impl Module for ModuleDict {
    fn type_name(&self) -> &'static str {
        "ModuleDict"
    }

    fn forward(&mut self, _input: Value) -> Result<Value> {
        Err(NnError::bad_arg(
            "ModuleDict",
            "a ModuleDict has no forward; call its children (get_mut(name)) from the parent's forward",
        ))
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        refs(&self.children)
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        slots(&mut self.children)
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}
