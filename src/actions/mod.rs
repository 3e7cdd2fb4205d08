//! Next Best Action: the playbook turns calibrated scores into a play per account, with the
//! evidence a CSM can read aloud, a priority by value and a weekly capacity queue; the book
//! forecast says how much ARR the book is expected to keep.

pub mod decide;
pub mod evidence;
pub mod forecast;
pub mod playbook;
