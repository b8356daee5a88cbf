//! The `yima` process as a library: its configuration, its metrics recorder and the
//! assembly of each long-running part from them. `main.rs` and the integration tests
//! both start the gateway and the worker through [`app`], so what is tested is what
//! runs.

pub mod app;
pub mod config;
pub mod metrics;
