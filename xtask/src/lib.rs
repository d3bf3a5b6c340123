//! The workspace's own tasks, as a library so that each task's pieces can be tested.

pub mod bench;
pub mod ci;
pub mod conformance;
pub mod demo;

/// The README's code samples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
