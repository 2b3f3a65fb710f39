//! Slipway's playground, end-to-end tests and benchmarks: a whole installation
//! on one machine, built from real processes.
#![forbid(unsafe_code)]

pub mod client;
pub mod example;
pub mod ha;
pub mod process;
pub mod service_proxy;
pub mod stack;
