//! newsroom: a folder of Docusaurus-style Markdown posts in, syndication feeds
//! and a monthly email digest out.
//!
//! The crate is the pipeline; the `newsroom` binary is a thin CLI over it.
//! Each module is one stage and data flows one way:
//! [`config`] and [`content`] load, [`markdown`] renders, [`feed`] writes feeds,
//! [`site`] runs the stages for `build` and `check`.

pub mod clock;
pub mod config;
pub mod content;
pub mod diagnostics;
pub mod feed;
pub mod markdown;
pub mod site;
pub mod urls;
