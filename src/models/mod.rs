//! Churn, cross-sell and escalation models and how they are evaluated.

pub mod crosssell;
pub mod map;
pub mod metrics;
