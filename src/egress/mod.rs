//! The scripts' HTTP client: every request goes through the site's authenticated egress proxy,
//! is judged by the egress policy before it is sent and again on every redirect hop, and is held
//! to the per-execution limits.

mod client;
mod config;
mod headers;

pub use client::{fetch, HttpRequest};
pub use config::{egress_for, Egress};
pub use headers::check_request_header;
