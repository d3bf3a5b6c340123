//! Fused float modules ([`fused`]) and their quantized forms ([`quantized`]).

pub mod fused;
pub mod quantized;
