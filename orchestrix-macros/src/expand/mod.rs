//! One code-generation module per macro.

pub(crate) mod aggregate;
pub(crate) mod command_handler;
pub(crate) mod event_handler;
pub(crate) mod hidden;
pub(crate) mod message;
pub(crate) mod projection;
pub(crate) mod saga_step;
