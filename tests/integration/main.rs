//! The integration suite: one test binary, a module per capability. Every
//! test runs the real `newsroom` binary on real files and reads what it wrote
//! back with independent parsers.

mod bad_inputs;
mod browser;
mod cli;
mod compat;
mod corpus_editions;
mod corpus_posts;
mod deploy;
mod digest;
mod dkim;
mod editions;
mod editions_property;
mod example_site;
mod feeds_page;
mod hygiene;
mod inbound;
mod inbound_trust;
mod local_trial;
mod month_end;
mod properties;
mod reader_pages;
mod rebuild;
mod rebuild_pages;
mod send;
mod serve;
mod serve_attacks;
mod smtp_server;
mod store;
mod support;
mod topics;
