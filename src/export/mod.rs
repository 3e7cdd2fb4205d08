//! (issue pending)
