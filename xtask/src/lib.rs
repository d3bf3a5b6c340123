//! The workspace's own tasks, as a library so that each task's pieces can be tested.

pub mod bench;
pub mod ci;
pub mod conformance;
pub mod demo;
