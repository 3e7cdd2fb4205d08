//! Churn, cross-sell and escalation models and how they are evaluated.
//!
//! Models take frames and matrices, never connections: [`dataset`] turns golden records
//! and per-feature usage into inputs and labels; the learners ([`boost`], [`forest`],
//! [`crosssell`], [`map`]) and [`calibrate`] work on those; [`evaluate`] measures them on
//! held-out outcomes.

pub mod boost;
pub mod calibrate;
pub mod churn;
pub mod crosssell;
pub mod dataset;
pub mod escalation;
pub mod evaluate;
pub mod folds;
pub mod forest;
pub mod map;
pub mod metrics;
pub mod outcomes;
