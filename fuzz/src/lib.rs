//! Shared bodies of the fuzz targets.
#![allow(clippy::expect_used)]

pub mod identity;
