//! newsroom: a folder of Docusaurus-style Markdown posts in; syndication
//! feeds, an email digest, and the subscriber lifecycle around it out.
//!
//! The crate is the work; the `newsroom` binary (`main.rs`, `cli.rs`,
//! `commands/`) is a thin CLI over it. The modules, from the top layer down
//! (the order `.ci/run` declares and `check-layers` checks: a module uses
//! only the layers below it):
//!
//! - **faces the internet**: [`serve`] (one-click unsubscribe, sign-up,
//!   the preview of the site);
//! - **the jobs**: [`delivery`] (`digest send`: the ledger, the relays),
//!   [`build`] (the site's feeds and archive into `public/`), [`check`],
//!   [`init`] (a new site), [`inbound`] (mail that comes back);
//! - [`digest`], the editions made from the posts' renderings (what an
//!   edition holds, its HTML and text, previews);
//! - [`email`] (what every message is made of: headers, MIME, DKIM,
//!   layouts, templates, the sign-up confirmation) and [`feed`] (RSS, Atom
//!   and JSON Feed);
//! - [`render`], a post's rendering with the site's files resolved;
//! - [`markdown`] (Markdown and MDX to HTML and text) and [`store`] (the
//!   database of subscribers, consent events and the delivery ledger);
//! - [`content`] (posts, front matter, authors) and [`subscribers`] (the
//!   subscriber file);
//! - [`subscriber`], the subscriber model they all share (status, the one
//!   shape a message is addressed to, the address and name rules);
//! - [`site`], a site's folder, configuration and paths;
//! - [`config`], `newsroom.yaml`;
//! - the ground floor, used by all: [`error`], [`failpoint`], [`staging`],
//!   [`limits`], [`yaml`], [`urls`], [`diagnostics`], [`clock`], [`token`],
//!   [`edition`] (the calendar of sends).

pub mod build;
pub mod check;
pub mod clock;
pub mod config;
pub mod content;
pub mod delivery;
pub mod diagnostics;
pub mod digest;
pub mod edition;
pub mod email;
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
pub mod subscriber;
pub mod subscribers;
pub mod token;
pub mod urls;
pub mod yaml;
