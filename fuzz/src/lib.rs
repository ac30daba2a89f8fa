//! Shared bodies of the fuzz targets.
#![allow(clippy::expect_used, clippy::indexing_slicing)]

pub mod identity;
pub mod member;
pub mod phonebook;
pub mod reconnect;
pub mod signal;
pub mod stream;
pub mod transport;
