//! `newsroom serve`: open the store, bind, say where, serve until a signal.

use std::io::Write;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::Out;
use crate::cli::ServeArgs;
use newsroom::digest::{Edition, Month};
use newsroom::email::confirm::ConfirmTemplate;
use newsroom::email::message::{SECRET_FOR_SERVING, SecretPolicy, UnsubscribeSecret};
use newsroom::error::UsageError;
use newsroom::serve::{ClientRule, Options, PreviewOptions, SignUpOptions, parse_network, serve};
use newsroom::site::Site;
use newsroom::store::Session;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_REQUESTS_PER_SECOND: u32 = 50;

pub fn run(out: &mut Out, site: &Site, args: ServeArgs) -> Result<ExitCode> {
    let secret = UnsubscribeSecret::from_env(SecretPolicy::Required(SECRET_FOR_SERVING))?.into_bytes();
    let config = &site.config;
    let listen = args.listen.or_else(|| config.serve.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let requests_per_second = NonZeroU32::new(config.serve.requests_per_second.unwrap_or(DEFAULT_REQUESTS_PER_SECOND))
        .ok_or_else(|| UsageError::Argument("serve.requests_per_second must be at least 1".into()))?;
    let clients = client_rule(&config.serve)?;
    let fd_limit = newsroom::serve::raise_fd_limit();
    let max_connections = match config.serve.max_connections {
        Some(0) => return Err(UsageError::Argument("serve.max_connections must be at least 1".into()).into()),
        Some(max) => max,
        None => newsroom::serve::default_max_connections(fd_limit),
    };
    let max_connections_per_client = match config.serve.max_connections_per_client {
        Some(0) => {
            return Err(UsageError::Argument("serve.max_connections_per_client must be at least 1".into()).into());
        }
        Some(max) => max,
        None => newsroom::serve::DEFAULT_PER_CLIENT,
    };
    let prune_every = match config.serve.prune_every_seconds {
        Some(0) => return Err(UsageError::Argument("serve.prune_every_seconds must be at least 1".into()).into()),
        Some(seconds) => std::time::Duration::from_secs(seconds),
        None => newsroom::serve::DEFAULT_PRUNE_EVERY,
    };
    if config.digest.unsubscribe_url.as_deref().is_some_and(|url| url.contains("{email}")) {
        eprintln!(
            "warning: digest.unsubscribe_url carries {{email}}: serve answers only the opaque links (`{{public_url}}/unsubscribe/{{token}}`), which digests use when digest.unsubscribe_url is not set and serve.public_url is"
        );
    }
    // The writer replays the unsubscribe journal once the store answers.
    let mut session = Session::open_as_is(site)?;
    let notices = std::mem::take(&mut session.notices);
    let store = session.into_store();
    for notice in notices {
        eprintln!("note: {notice}");
    }
    let signup = match sign_up(site) {
        Ok(signup) => Some(signup),
        Err(SignUpOff::Because(reason)) => {
            eprintln!("note: sign-up (/subscribe) is off: {reason}");
            None
        }
        Err(SignUpOff::Error(error)) => return Err(error),
    };
    let signup_page = signup.as_ref().map(|signup| format!("{}/subscribe", signup.public_url));
    let (generation, generation_changes) = tokio::sync::watch::channel(0u64);
    let preview = args.preview.then(|| PreviewOptions {
        public_dir: site.default_out_dir(),
        preview_dir: site.root.join("preview"),
        generation: generation_changes,
    });
    let options = Options {
        list_name: config.site.title.clone(),
        blog_url: config.blog_url(),
        list_id: config.digest.list_id.clone(),
        secret,
        requests_per_second,
        clients,
        max_connections,
        max_connections_per_client,
        prune_every,
        log: Arc::new(|line| eprintln!("{line}")),
        journal: Arc::new(newsroom::store::journal::Journal::of_site(site)),
        signup,
        preview,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on `{listen}` (--listen or serve.listen)"))?;
        let local = listener.local_addr()?;
        if args.preview && !local.ip().is_loopback() {
            return Err(UsageError::Argument(format!(
                "--preview shows every subscriber's address: listen on a loopback address (127.0.0.1 or [::1]), not {local}"
            ))
            .into());
        }
        // Kept for as long as the service runs: dropping it stops watching.
        let _watcher = match args.watch {
            true => {
                let edition = match (args.edition.as_deref(), args.month.as_deref()) {
                    (Some(name), _) => Edition::parse(name).map_err(UsageError::Argument)?,
                    (None, Some(text)) => Edition::monthly(text.parse().map_err(UsageError::Argument)?),
                    (None, None) => {
                        let now = newsroom::clock::now()?.fixed_offset();
                        let editions = &site.config.digest.editions;
                        Edition::containing(editions.cadence(), now.date_naive(), editions.week_starts)
                            .unwrap_or_else(|| Edition::monthly(Month::of(now)))
                    }
                };
                Some(watch::start(site, edition, generation)?)
            }
            false => None,
        };
        let public = config.serve.public_url.as_deref().unwrap_or("(serve.public_url is not set)");
        writeln!(
            out,
            "serving the unsubscribe links of {} on http://{local}; readers reach it as {public}",
            config.site.title
        )?;
        if let Some(page) = &signup_page {
            writeln!(out, "sign-up page: {page}")?;
        }
        if args.preview {
            writeln!(out, "the writer's preview: http://{local}/")?;
        }
        out.flush()?;
        serve(listener, store, options, shutdown_signal()).await
    })?;
    writeln!(out, "stopped: every change taken is in the store")?;
    Ok(ExitCode::SUCCESS)
}

/// `serve.trusted_proxies` and `serve.ipv6_prefix`, checked.
fn client_rule(serve: &newsroom::config::ServeConfig) -> Result<ClientRule> {
    let mut rule = ClientRule::default();
    if let Some(list) = &serve.trusted_proxies {
        rule.trusted_proxies = list
            .iter()
            .map(|entry| {
                parse_network(entry).ok_or_else(|| {
                    UsageError::Argument(format!(
                        "serve.trusted_proxies: `{entry}` is not an address or a CIDR range (such as 127.0.0.1, 10.0.0.0/8 or ::1/128)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(prefix) = serve.ipv6_prefix {
        if !(1..=128).contains(&prefix) {
            return Err(UsageError::Argument(format!("serve.ipv6_prefix must be from 1 to 128, not {prefix}")).into());
        }
        rule.ipv6_prefix = prefix;
    }
    Ok(rule)
}

enum SignUpOff {
    /// Something is missing: serve runs without sign-up, and says why.
    Because(String),
    /// Something is broken (templates/confirm.md): serve does not start.
    Error(anyhow::Error),
}

/// Sign-up promises a confirmation message: it is offered only when
/// newsroom can mail one that keeps the promises a message makes.
fn sign_up(site: &Site) -> Result<SignUpOptions, SignUpOff> {
    let config = &site.config;
    let Some(public_url) = config.serve.public_url.clone() else {
        return Err(SignUpOff::Because("serve.public_url is not set (confirmation links start with it)".into()));
    };
    let missing: Vec<&str> =
        config.digest.missing_for_sending().into_iter().filter(|key| *key != "digest.unsubscribe_url").collect();
    if !missing.is_empty() {
        return Err(SignUpOff::Because(format!("{} not set (the confirmation message needs it)", missing.join(", "))));
    }
    let relay =
        newsroom::delivery::relay(config.delivery.timeout).map_err(|error| SignUpOff::Because(format!("{error:#}")))?;
    let template = ConfirmTemplate::load(&site.root).map_err(SignUpOff::Error)?;
    let dkim = newsroom::email::dkim::for_site(site).map_err(|e| SignUpOff::Error(e.into()))?;
    let hourly = |value: Option<u32>, key: &str| match value {
        None => Ok(None),
        Some(n) => NonZeroU32::new(n)
            .map(Some)
            .ok_or_else(|| SignUpOff::Error(UsageError::Argument(format!("{key} must be at least 1")).into())),
    };
    let limits = &config.serve.signup;
    let confirmations_per_hour = hourly(limits.confirmations_per_hour, "serve.signup.confirmations_per_hour")?;
    let per_domain_per_hour = hourly(limits.per_domain_per_hour, "serve.signup.per_domain_per_hour")?;
    Ok(SignUpOptions {
        public_url,
        config: config.clone(),
        template,
        relay,
        dkim,
        confirmations_per_hour,
        per_domain_per_hour,
    })
}

/// `--watch`: rebuild the site and the month's preview when a post, a
/// template or the configuration changes. Each rebuild runs this same
/// binary's `build` and `digest preview`, so it is exactly what those
/// commands do, with the configuration read afresh.
mod watch {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use anyhow::{Context, Result};
    use notify::{RecursiveMode, Watcher};

    use newsroom::digest::Edition;
    use newsroom::site::Site;

    /// Changes closer together than this make one rebuild.
    const SETTLE: Duration = Duration::from_millis(300);

    pub fn start(
        site: &Site,
        edition: Edition,
        generation: tokio::sync::watch::Sender<u64>,
    ) -> Result<notify::RecommendedWatcher> {
        let (events, changes) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(events).context("cannot watch the site's files")?;
        let root = site.root.clone();
        let ignored: Vec<PathBuf> =
            ["public", "preview", ".newsroom", ".git", "target"].iter().map(|d| root.join(d)).collect();
        watcher
            .watch(&site.posts_dir(), RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch `{}`", site.posts_dir().display()))?;
        for (path, mode) in [
            (root.join("templates"), RecursiveMode::Recursive),
            (root.join("newsroom.yaml"), RecursiveMode::NonRecursive),
        ] {
            if path.exists() {
                watcher.watch(&path, mode).with_context(|| format!("cannot watch `{}`", path.display()))?;
            }
        }
        let relevant = move |event: &notify::Result<notify::Event>| match event {
            Ok(event) => {
                !event.kind.is_access() && event.paths.iter().any(|p| !ignored.iter().any(|i| p.starts_with(i)))
            }
            Err(_) => false,
        };
        std::thread::Builder::new().name("newsroom-watch".into()).spawn(move || {
            rebuild(&root, &edition);
            generation.send_modify(|g| *g += 1);
            while let Ok(event) = changes.recv() {
                if !relevant(&event) {
                    continue;
                }
                // Let an editor's save (write, rename, chmod) settle.
                while changes.recv_timeout(SETTLE).is_ok() {}
                rebuild(&root, &edition);
                generation.send_modify(|g| *g += 1);
            }
        })?;
        Ok(watcher)
    }

    fn rebuild(root: &Path, edition: &Edition) {
        let started = Instant::now();
        let name = edition.name();
        let Ok(program) = std::env::current_exe() else { return };
        for args in [vec!["build"], vec!["digest", "preview", "--edition", &name]] {
            match Command::new(&program).arg("-C").arg(root).args(&args).output() {
                Ok(output) => {
                    let said =
                        String::from_utf8_lossy(if output.status.success() { &output.stdout } else { &output.stderr });
                    eprintln!("watch: newsroom {}: {}", args.join(" "), said.trim());
                }
                Err(error) => eprintln!("watch: cannot run newsroom {}: {error}", args.join(" ")),
            }
        }
        eprintln!("watch: rebuilt in {} ms", started.elapsed().as_millis());
    }
}

/// SIGTERM (systemd, docker stop) or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
