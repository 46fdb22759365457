//! Shared test support. Each integration test crate includes it with `mod support;` and uses what it needs.
#![allow(dead_code)]

pub mod apim;
pub mod cluster;
pub mod fixtures;
pub mod kube;
pub mod pods;
pub mod proxy;
