//! Churn, cross-sell and escalation models and how they are evaluated.

pub mod calibrate;
pub mod forest;
pub mod metrics;
