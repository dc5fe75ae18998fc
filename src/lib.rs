//! newsroom: a folder of Docusaurus-style Markdown posts in, syndication feeds
//! and a monthly email digest out.
//!
//! The crate is the pipeline; the `newsroom` binary is a thin CLI over it.
//! Each module is one stage and data flows one way:
//! [`config`] and [`content`] load, [`markdown`] renders, [`feed`] writes feeds,
//! [`digest`] makes the monthly email from the same rendering, [`subscribers`]
//! reads who gets it, and [`site`] runs the stages for `build` and `check`.

pub mod build;
pub mod check;
pub mod clock;
pub mod config;
pub mod content;
pub mod delivery;
pub mod diagnostics;
pub mod digest;
pub mod error;
pub mod failpoint;
pub mod feed;
pub mod inbound;
pub mod init;
pub mod limits;
pub mod markdown;
pub mod render;
pub mod serve;
pub mod site;
pub mod staging;
pub mod store;
pub mod subscribers;
pub mod token;
pub mod urls;
pub mod yaml;
