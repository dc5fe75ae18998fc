//! The index of a cadence's editions: `digest/index.html` for the monthly
//! ones (their pages are `digest/YYYY-MM/`, as always), and
//! `digest/weekly/index.html`, `digest/daily/index.html` for the others —
//! every edition whose web version `build` wrote, newest first, so that a
//! reader who lands on one finds the rest. Per-post editions have none:
//! their web versions are the posts' own pages.

use std::path::Path;

use anyhow::Result;
use maud::{DOCTYPE, html};

use super::write_file;
use crate::config::Config;
use crate::edition::{Cadence, Edition};

/// Where the index of `cadence`'s editions goes, under the output folder.
pub fn index_path(cadence: Cadence) -> String {
    match cadence {
        Cadence::Monthly => "digest/index.html".into(),
        other => format!("digest/{}/index.html", other.adjective()),
    }
}

/// Writes the index of `cadence`'s `editions` (each with its post count)
/// into `out`.
pub fn write(config: &Config, out: &Path, cadence: Cadence, editions: &mut [(Edition, usize)]) -> Result<()> {
    editions.sort_by(|a, b| b.0.cmp(&a.0));
    let title = format!("{}: every {} digest", config.site.title, cadence.adjective());
    let root = config.blog_url();
    let page = html! {
        (DOCTYPE)
        html lang=(config.site.language) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
            }
            body {
                main {
                    h1 { (title) }
                    ul {
                        @for (edition, posts) in editions.iter() {
                            li {
                                a href={ (root) "digest/" (edition.web_path()) "/" } { (edition.label()) }
                                " (" (posts) " post" @if *posts != 1 { "s" } ")"
                            }
                        }
                    }
                    p { a href=(root) { (config.site.title) } }
                }
            }
        }
    };
    let path = out.join(index_path(cadence));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_file(&path, &page.into_string())
}
