//! `newsroom check`'s stage: every problem of the configuration, the
//! inputs it names, every post, the digest template and the subscriber
//! file, found at once and written nowhere.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rayon::prelude::*;

use crate::config::ConfigError;
use crate::content::{self, Post, Scheduled};
use crate::diagnostics::{self, Diagnostic};
use crate::email::template::DigestTemplate;
use crate::markdown::Parts;
use crate::render;
use crate::site::{Input, Site};

/// What `check` found.
#[derive(Debug, Default, serde::Serialize)]
pub struct CheckReport {
    /// Every problem, sorted, errors first.
    pub diagnostics: Vec<Diagnostic>,
    /// How many of the errors are with the configuration or the inputs it
    /// names (exit status 2 rather than 1).
    pub configuration_errors: usize,
    /// Posts read (drafts included).
    pub posts: usize,
    pub scheduled: Scheduled,
    /// With `delivery.dkim` and usable keys: the DNS TXT record of each
    /// to publish, as (name, value).
    pub dkim_records: Vec<(String, String)>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        crate::diagnostics::counts(&self.diagnostics).0
    }
    pub fn warnings(&self) -> usize {
        crate::diagnostics::counts(&self.diagnostics).1
    }
}

/// `newsroom check`: every problem of the configuration, the inputs it
/// names, every post and the digest template; nothing written.
pub fn check(site: &Site, now: DateTime<Utc>) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut diagnostics = Vec::new();
    let mut configuration = |error: ConfigError| {
        report.configuration_errors += 1;
        diagnostics.push(error.to_diagnostic());
    };
    let posts_missing = site.input_problem(Input::Posts).map(&mut configuration).is_some();
    let mut dkim_records = Vec::new();
    let mut dkim_warnings = Vec::new();
    match crate::email::dkim::for_site(site) {
        Err(problem) => configuration(problem),
        Ok(None) => {}
        Ok(Some(signers)) => {
            for signer in &signers.0 {
                if let Some(from) = &site.config.digest.from
                    && !signer.aligns_with(from.email.domain())
                {
                    let at = site.config.error_at("delivery", "dkim", String::new());
                    dkim_warnings.push(Diagnostic::warning(
                    &at.path,
                    (at.line, at.column),
                    format!(
                        "delivery.dkim.domain `{}` is not aligned with the From domain `{}`: DMARC passes only when they are the same, or the From domain is under it",
                        signer.domain,
                        from.email.domain()
                    ),
                ));
                }
                dkim_records.push((format!("{}._domainkey.{}", signer.selector, signer.domain), signer.record.clone()));
            }
        }
    }
    // Without `digest.subscribers` a site may publish feeds only: its
    // default file missing is a warning; a file it names is an input.
    let subscribers = match site.input_problem(Input::Subscribers) {
        // Said once, with the rest of the digest's set-up, when there is none.
        Some(_) if !site.config.has_section("digest") => false,
        // Without a file the store is the list: a warning only when there
        // is no store either.
        Some(problem) if site.config.digest.subscribers.is_none() => {
            if !site.has_subscribers_somewhere() {
                diagnostics.push(Diagnostic::warning(
                    &problem.path,
                    (problem.line, problem.column),
                    format!(
                        "{} and there is no store yet: `digest send` has nobody to mail (write the file, or run `newsroom subscribers import FILE`)",
                        problem.message
                    ),
                ));
            }
            false
        }
        Some(problem) => {
            configuration(problem);
            false
        }
        None => true,
    };
    diagnostics.extend(site.deprecations());
    diagnostics.extend(site.unset_sending_keys());
    diagnostics.extend(
        site.config
            .local_trial_urls()
            .into_iter()
            .map(|problem| Diagnostic::warning(&problem.path, (problem.line, problem.column), problem.message)),
    );
    if !posts_missing {
        let loaded = content::load(site)?;
        diagnostics.extend(loaded.diagnostics);
        diagnostics.extend(crate::digest::assemble::left_out_of_sent_digests_of(site, &loaded.posts));
        diagnostics.extend(unused_topics(site, &loaded.posts));
        report.posts = loaded.posts.len();
        report.scheduled = Scheduled::of(&loaded.posts, now);
        let checked: Vec<&Post> = loaded.posts.iter().filter(|p| !p.draft).collect();
        let post_links = render::post_links(site, &loaded.posts);
        let found: Vec<Vec<Diagnostic>> = checked
            .par_iter()
            .map(|post| render::render_post(site, post, &loaded.kept, &post_links, Parts::EXCERPT).diagnostics)
            .collect();
        diagnostics.extend(found.into_iter().flatten());
    }
    if let Err(error) = DigestTemplate::load(&site.root) {
        diagnostics.push(template_diagnostic(&error, "templates/digest.md"));
    }
    for cadence in crate::edition::Cadence::ALL {
        let name = format!("templates/digest-{}.md", cadence.as_str());
        if site.root.join(&name).is_file()
            && let Err(error) = DigestTemplate::load_for(&site.root, cadence)
        {
            diagnostics.push(template_diagnostic(&error, &name));
        }
    }
    if let Err(error) = crate::email::confirm::ConfirmTemplate::load(&site.root) {
        diagnostics.push(template_diagnostic(&error, "templates/confirm.md"));
    }
    if subscribers {
        let source = site.config.digest.subscribers_path();
        diagnostics.extend(crate::subscribers::load(&site.subscribers_file(), source)?.diagnostics);
    }
    diagnostics.extend(dkim_warnings);
    diagnostics::sort(&mut diagnostics);
    report.diagnostics = diagnostics;
    report.dkim_records = dkim_records;
    Ok(report)
}

/// A warning for each topic none of whose tags a listed post carries: a
/// reader who chose it would get nothing (often a tag spelt differently
/// in the posts).
fn unused_topics(site: &Site, posts: &[Post]) -> Vec<Diagnostic> {
    let used: std::collections::HashSet<&str> = posts
        .iter()
        .filter(|post| !post.draft)
        .flat_map(|post| post.tags.iter().map(|tag| tag.slug.as_str()))
        .collect();
    site.config
        .topics
        .topics
        .iter()
        .filter(|topic| !topic.tags.iter().any(|tag| used.contains(tag.as_str())))
        .map(|topic| {
            let at = site.config.error_at("topics", &topic.key, String::new());
            Diagnostic::warning(
                &at.path,
                (at.line, at.column),
                format!(
                    "topics.{}: no post has any of its tags ({}): a reader who chooses it gets nothing",
                    topic.key,
                    topic.tags.join(", ")
                ),
            )
        })
        .collect()
}

/// A template error as a diagnostic: at its place when it has one.
fn template_diagnostic(error: &anyhow::Error, file: &str) -> Diagnostic {
    match error.downcast_ref::<ConfigError>() {
        Some(problem) => Diagnostic::error(&problem.path, (problem.line, problem.column), problem.message.clone()),
        None => Diagnostic::error(file, (1, 1), format!("{error:#}")),
    }
}
