//! Churn, cross-sell and escalation models and how they are evaluated.

pub mod boost;
pub mod calibrate;
pub mod churn;
pub mod dataset;
pub mod evaluate;
pub mod metrics;
