//! The pipeline: the core's stages run in order as one job (today: the golden record;
//! the models, actions and exports plug in here).

pub mod refresh;
pub mod run;
