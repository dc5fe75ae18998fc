//! `newsroom serve`: the web service that keeps the promises every digest
//! makes. It answers the List-Unsubscribe URL: RFC 8058's one-click POST
//! unsubscribes at once, a GET (a reader's click, a link scanner) shows a
//! page with a button and changes nothing. It takes sign-ups with double
//! opt-in ([`signup`]) when it can mail the confirmation.
//!
//! Everything that reaches it is treated as hostile (docs/security.md):
//! a token is verified (HMAC, constant time) before anything is looked
//! up; headers must arrive within [`HEADER_TIMEOUT`], bodies are at most
//! [`MAX_BODY`] bytes and must arrive within [`BODY_TIMEOUT`]; each client
//! has a rate; pages forbid scripts, framing and other origins; logs carry
//! the route, never the token or an address. A change is committed to the
//! store before its response is sent ([`writer`]); an unsubscribe the
//! store cannot take within [`UNSUBSCRIBE_BUDGET`] is kept in the
//! unsubscribe journal instead, on disk before the answer
//! ([`crate::store::journal`]), so a reader's opt-out never fails because
//! the store is busy.

mod clients;
mod connections;
mod floods;
mod pages;
mod preview;
mod signup;
mod writer;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, MatchedPath, Multipart, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use maud::Markup;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::store::journal::Journal;
use crate::store::{Channel, Store, SubscriberStatus, WebOutcome, WebRequest};
pub use clients::{ClientRule, parse_network};
pub use connections::{DEFAULT_PER_CLIENT, default_max_connections, raise_fd_limit};
pub use pages::mask;
pub use preview::PreviewOptions;
pub use signup::SignUpOptions;
use writer::Writer;

/// Longest wait for a request's headers (a client that sends a byte a
/// second is dropped).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between two parts of a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a request may take in all, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body: a one-click POST is 26 bytes, a form a few hundred.
pub const MAX_BODY: usize = 16 * 1024;
/// Longest an unsubscribe waits for the store before it is kept in the
/// journal instead (a mail provider's one-click POST gives up not much later).
pub const UNSUBSCRIBE_BUDGET: Duration = Duration::from_secs(5);
/// How often the journal is offered to the store while it holds lines.
const REPLAY_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for requests in flight after SIGTERM or Ctrl-C.
pub const GRACE: Duration = Duration::from_secs(10);

/// What the service needs besides the store.
pub struct Options {
    /// The list's name as readers know it (the site's title).
    pub list_name: String,
    /// The blog the list comes from (`site.url` + `blog_path`): every
    /// reader's page links back to it.
    pub blog_url: String,
    /// The List-Id the tokens were signed for.
    pub list_id: String,
    /// The unsubscribe secret that signed them.
    pub secret: Vec<u8>,
    /// Requests a second one client may make (bursts of twice as many).
    pub requests_per_second: NonZeroU32,
    /// Whose `X-Forwarded-For` is read, and how IPv6 clients are grouped.
    pub clients: ClientRule,
    /// Connections held at once ([`connections`]).
    pub max_connections: usize,
    /// Connections one peer that is not a trusted proxy may hold.
    pub max_connections_per_client: usize,
    /// How often the keyed limiters forget the clients whose limit is full
    /// again ([`DEFAULT_PRUNE_EVERY`] unless configured).
    pub prune_every: Duration,
    /// Where a line per request goes (the command writes it to standard error).
    pub log: Arc<dyn Fn(String) + Send + Sync>,
    /// Where unsubscribes wait when the store is busy ([`Journal::of_site`]).
    pub journal: Arc<Journal>,
    /// Sign-up, when the service can mail confirmations; `None`: the
    /// sign-up routes say sign-up is not offered.
    pub signup: Option<SignUpOptions>,
    /// The writer's preview (`--preview`): `public/` and `preview/` shown.
    pub preview: Option<PreviewOptions>,
}

/// Sign-ups one client may make a minute (each may mail a message).
pub const SIGNUPS_PER_MINUTE: u32 = 6;

struct App {
    writer: Writer,
    options: Options,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    signup_limiter: DefaultKeyedRateLimiter<IpAddr>,
    recent_signups: signup::RecentSignUps,
    signup_limits: floods::SignUpLimits,
}

/// How often the keyed limiters forget the clients whose limit is full
/// again, unless `serve.prune_every_seconds` says otherwise: a minute keeps
/// a flood's memory short-lived at the cost of one pass over the keys.
pub const DEFAULT_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Serves on `listener` until `shutdown` completes, then lets requests in
/// flight finish (up to [`GRACE`]) and the store's writer commit what it
/// was given.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let (writer, writer_thread) = Writer::start(store, options.journal.clone(), options.log.clone())?;
    let quota = Quota::per_second(options.requests_per_second)
        .allow_burst(options.requests_per_second.saturating_mul(NonZeroU32::new(2).expect("2 is not zero")));
    let log = options.log.clone();
    let signups = NonZeroU32::new(SIGNUPS_PER_MINUTE).expect("not zero");
    let hourly =
        |configured: Option<NonZeroU32>, default| configured.unwrap_or(NonZeroU32::new(default).expect("not zero"));
    let signup_limits = floods::SignUpLimits::new(
        hourly(options.signup.as_ref().and_then(|s| s.confirmations_per_hour), floods::DEFAULT_CONFIRMATIONS_PER_HOUR),
        hourly(options.signup.as_ref().and_then(|s| s.per_domain_per_hour), floods::DEFAULT_PER_DOMAIN_PER_HOUR),
    );
    let app = Arc::new(App {
        writer,
        options,
        limiter: RateLimiter::keyed(quota),
        signup_limiter: RateLimiter::keyed(Quota::per_minute(signups).allow_burst(signups)),
        recent_signups: signup::RecentSignUps::default(),
        signup_limits,
    });
    let router = router(app.clone());
    tokio::spawn(prune_limiters(Arc::downgrade(&app), app.options.prune_every));
    tokio::spawn(offer_journal(Arc::downgrade(&app)));
    let registry = connections::Registry::new(app.options.max_connections, app.options.max_connections_per_client);
    let clients = app.options.clients.clone();
    drop(app);

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(16 * 1024);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: wait, and go on.
                    Err(error) => {
                        log(format!("accept failed: {error}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let exempt = clients.is_trusted(peer.ip());
                let ticket = match registry.admit(peer.ip(), exempt) {
                    Ok(ticket) => ticket,
                    // Dropped unanswered: the client has nothing finished to lose.
                    Err(_) => continue,
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let in_flight = ticket.in_flight.clone();
                let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    let busy = connections::InFlight::new(&in_flight);
                    let answer = router.clone().oneshot(request.map(Body::new));
                    async move {
                        let response = answer.await;
                        drop(busy);
                        response
                    }
                });
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    // Closed to make room ([`connections`]): dropping the
                    // connection closes its socket.
                    tokio::select! {
                        _ = connection => {}
                        () = ticket.close.notified() => {}
                    }
                    drop(ticket);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    drop(router);
    let finished = tokio::time::timeout(GRACE, graceful.shutdown()).await.is_ok();
    if finished {
        // Every connection is closed, so every writer handle is dropped:
        // the thread ends once what it was given is committed.
        let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    } else {
        log(format!("requests still running {} s after the signal were cut off", GRACE.as_secs()));
    }
    Ok(())
}

/// Every `every`, forgets the keys of every keyed limiter whose state is
/// fresh again ([`floods::prune`]), until the service stops. A pass that
/// forgot any logs how many (counts only, never an address), so an
/// operator sees a flood's memory given back.
async fn prune_limiters(app: std::sync::Weak<App>, every: Duration) {
    let mut every = tokio::time::interval(every);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(app) = app.upgrade() else { return };
        let passes = [floods::prune(&app.limiter), floods::prune(&app.signup_limiter), app.signup_limits.prune()];
        let forgot: usize = passes.iter().map(|pass| pass.forgot).sum();
        let kept: usize = passes.iter().map(|pass| pass.kept).sum();
        if forgot > 0 {
            (app.options.log)(format!("rate limits: forgot {forgot} keys, {kept} kept"));
        }
    }
}

/// Every [`REPLAY_EVERY`] while the journal holds lines, asks the writer
/// to replay it, so a kept unsubscribe reaches the store as soon as the
/// store answers, with or without other requests.
async fn offer_journal(app: std::sync::Weak<App>) {
    let mut every = tokio::time::interval(REPLAY_EVERY);
    loop {
        every.tick().await;
        let Some(app) = app.upgrade() else { return };
        if app.options.journal.is_pending() {
            app.writer.replay();
        }
    }
}

fn router(app: Arc<App>) -> Router {
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut routes = Router::new();
    if let Some(preview) = &app.options.preview {
        routes = routes.merge(preview::routes(&app, &preview.public_dir));
    }
    let mut router = routes
        .route("/unsubscribe/{token}", get(show_unsubscribe).post(unsubscribe))
        .route("/subscribe", get(signup::show_form).post(signup::subscribe))
        .route("/confirm/{token}", get(signup::show_confirm).post(signup::confirm))
        .route("/healthz", get(healthz))
        .route("/newsroom.css", get(stylesheet))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), rate_limit))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(middleware::from_fn(own_pages));
    // A route may set its own policy (the preview's pages and frames);
    // every other response gets these.
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)));
    }
    router.layer(middleware::from_fn_with_state(app.clone(), log_request)).with_state(app)
}

/// One line a request: method, route (the pattern, so no token), status,
/// time. Never the query, the token or an address.
async fn log_request(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or("-", |path| path.as_str()).to_string();
    let response = next.run(request).await;
    (app.options.log)(format!(
        "{method} {route} {} {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}

/// The bucket of the client a request comes from ([`clients`]).
fn client(app: &App, request: &Request) -> Option<IpAddr> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let forwarded = request.headers().get_all(HeaderName::from_static("x-forwarded-for")).iter().map(|v| v.as_bytes());
    let rule = &app.options.clients;
    Some(rule.bucket(rule.client(peer, forwarded)))
}

async fn rate_limit(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if let Some(ip) = client(&app, &request)
        && let Err(not_until) = app.limiter.check_key(&ip)
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        return too_many(wait.as_secs());
    }
    next.run(request).await
}

/// `429` with the seconds to wait.
fn too_many(seconds: u64) -> Response {
    let seconds = seconds.max(1).to_string();
    let mut response = html(
        StatusCode::TOO_MANY_REQUESTS,
        pages::failure("Too many requests", &format!("Wait {seconds} s, then try again.")),
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_str(&seconds).expect("digits"));
    response
}

/// newsroom's clock ([`crate::clock`]); `NEWSROOM_NOW` was checked when
/// the command started, so the system clock stands in only if it changed since.
fn now() -> chrono::DateTime<chrono::Utc> {
    crate::clock::now().unwrap_or_else(|_| chrono::Utc::now())
}

fn html(status: StatusCode, page: Markup) -> Response {
    let mut response =
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page.into_string()).into_response();
    response.extensions_mut().insert(OwnPage);
    response
}

/// Marks a response whose body this service wrote.
#[derive(Clone, Copy)]
struct OwnPage;

/// Every error answer is one of this service's pages: the texts axum,
/// tower-http and the extractors put in theirs ("Failed to buffer the
/// request body: length limit exceeded", multipart parser errors) name
/// the machinery and are not for readers, so any error response this
/// service did not write itself gets a page of its own for its status,
/// with the status and headers (`Allow`, `Retry-After`) kept.
async fn own_pages(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<OwnPage>().is_some() {
        return response;
    }
    let (mut parts, _their_text) = response.into_parts();
    let (title, text) = pages::error_text(status);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Response::from_parts(parts, Body::from(pages::failure(title, text).into_string()))
}

/// The token a link carries: the last segment of the path as it was sent,
/// not percent-decoded. Tokens are made of digits, `-` and lowercase hex,
/// so `%34%32-…` or `42-3F9A…` is another spelling, and only the one
/// spelling newsroom mails verifies.
struct Token(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Token {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Token(parts.uri.path().rsplit('/').next().unwrap_or_default().to_string()))
    }
}

fn unavailable() -> Response {
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::failure("Not done", "Nothing was changed: the list could not be reached. Try again in a minute."),
    )
}

impl App {
    fn verify(&self, token: &str) -> Option<i64> {
        crate::token::verify(&self.options.secret, &self.options.list_id, token)
    }

    fn invalid_link(&self) -> Response {
        html(StatusCode::NOT_FOUND, pages::invalid_link(self.masthead()))
    }

    /// The list as its pages name it.
    fn masthead(&self) -> pages::Masthead<'_> {
        pages::Masthead { list: &self.options.list_name, blog_url: &self.options.blog_url }
    }
}

/// GET of an unsubscribe link: a page with a button; nothing changes.
async fn show_unsubscribe(State(app): State<Arc<App>>, Token(token): Token) -> Response {
    let Some(id) = app.verify(&token) else { return app.invalid_link() };
    let list = app.masthead();
    match app.writer.ask(WebRequest::Look(id)).await {
        Ok(WebOutcome { subscriber: Some(subscriber), .. }) if !subscriber.status.is_opt_out() => {
            html(StatusCode::OK, pages::confirm_unsubscribe(list, &mask(&subscriber.address)))
        }
        Ok(WebOutcome { subscriber, .. }) => {
            html(StatusCode::OK, pages::unsubscribed(list, resubscribable(subscriber.as_ref()).as_deref()))
        }
        Err(_) => unavailable(),
    }
}

/// The masked address of a subscriber who may resubscribe from the page.
fn resubscribable(subscriber: Option<&crate::store::SubscriberRecord>) -> Option<String> {
    subscriber.filter(|s| s.status == SubscriberStatus::Unsubscribed).map(|s| mask(&s.address))
}

/// POST of an unsubscribe link: RFC 8058's one-click body
/// (`List-Unsubscribe=One-Click`, urlencoded or multipart), or the page's
/// buttons (`action=unsubscribe|resubscribe`). Answers 200 with a page:
/// no redirect, no cookie.
async fn unsubscribe(State(app): State<Arc<App>>, Token(token): Token, request: Request) -> Response {
    let Some(id) = app.verify(&token) else { return app.invalid_link() };
    let form = match form_fields(request).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let request = match (form.get("List-Unsubscribe"), form.get("action")) {
        (Some("One-Click"), _) => WebRequest::Unsubscribe(id, Channel::OneClick),
        (_, Some("unsubscribe")) => WebRequest::Unsubscribe(id, Channel::Page),
        (_, Some("resubscribe")) => WebRequest::Resubscribe(id),
        _ => {
            return html(
                StatusCode::BAD_REQUEST,
                pages::failure(
                    "Nothing to do",
                    "The request asked for nothing this page does (RFC 8058: List-Unsubscribe=One-Click).",
                ),
            );
        }
    };
    let list = app.masthead();
    if let WebRequest::Unsubscribe(id, channel) = request {
        let answer = tokio::time::timeout(UNSUBSCRIBE_BUDGET, app.writer.ask(request)).await;
        return match answer {
            Ok(Ok(outcome)) => {
                html(StatusCode::OK, pages::unsubscribed(list, resubscribable(outcome.subscriber.as_ref()).as_deref()))
            }
            _ => keep_unsubscribe(&app, id, channel).await,
        };
    }
    let outcome = match app.writer.ask(request.clone()).await {
        Ok(outcome) => outcome,
        Err(_) => return unavailable(),
    };
    let page = match (request, &outcome.subscriber) {
        (WebRequest::Resubscribe(_), Some(subscriber)) if subscriber.status == SubscriberStatus::Subscribed => {
            pages::resubscribed(list, &mask(&subscriber.address))
        }
        (WebRequest::Resubscribe(_), Some(subscriber)) if subscriber.status.is_opt_out() => {
            match resubscribable(Some(subscriber)) {
                Some(masked) => pages::unsubscribed(list, Some(&masked)),
                None => pages::not_resubscribable(list, &mask(&subscriber.address)),
            }
        }
        _ => pages::unsubscribed(list, resubscribable(outcome.subscriber.as_ref()).as_deref()),
    };
    html(StatusCode::OK, page)
}

/// An unsubscribe the store did not take in time: kept in the journal
/// (on disk before the answer), and answered as done; `503` only when
/// the journal cannot take it either (full, or its disk failing).
async fn keep_unsubscribe(app: &Arc<App>, id: i64, channel: Channel) -> Response {
    let journal = app.options.journal.clone();
    let at = now();
    match tokio::task::spawn_blocking(move || journal.keep(id, channel, at)).await {
        Ok(Ok(())) => {
            (app.options.log)(format!(
                "the store did not answer within {} s: an unsubscribe was kept in the journal",
                UNSUBSCRIBE_BUDGET.as_secs()
            ));
            app.writer.replay();
            html(StatusCode::OK, pages::unsubscribed(app.masthead(), None))
        }
        Ok(Err(error)) => {
            (app.options.log)(format!("an unsubscribe could not be kept: {error:#}"));
            unavailable()
        }
        Err(_) => unavailable(),
    }
}

/// A form's fields, in the order sent.
struct Form(Vec<(String, String)>);

impl Form {
    /// The first value of the field `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A form's fields, from either encoding RFC 8058 allows.
async fn form_fields(request: Request) -> Result<Form, Response> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &()).await.map_err(IntoResponse::into_response)?;
        let mut fields = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(IntoResponse::into_response)? {
            let name = field.name().unwrap_or_default().to_string();
            let value = field.text().await.map_err(IntoResponse::into_response)?;
            fields.push((name, value));
        }
        return Ok(Form(fields));
    }
    if content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded") {
        let body = Bytes::from_request(request, &()).await.map_err(IntoResponse::into_response)?;
        return Ok(Form(url::form_urlencoded::parse(&body).into_owned().collect()));
    }
    Err(html(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        pages::failure(
            "Unsupported form",
            "Send the form as application/x-www-form-urlencoded or multipart/form-data.",
        ),
    ))
}

/// Up, with a store that answers.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.writer.ask(WebRequest::Look(0)).await {
        Ok(_) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n").into_response(),
        Err(_) => {
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer\n").into_response();
            response.extensions_mut().insert(OwnPage);
            response
        }
    }
}

async fn stylesheet() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/css; charset=utf-8")], pages::STYLESHEET).into_response()
}

async fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, pages::failure("Not found", "There is no page at this address."))
}
