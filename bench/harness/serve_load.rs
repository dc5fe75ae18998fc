//! The load generator of `bench/serve.sh`: N requests to a running
//! `newsroom serve`, each with its own token, at C concurrent connections.
//!
//!   serve_load URL SECRET LIST_ID FIRST_ID COUNT CONCURRENCY post|get|static|clients
//!
//! `post` sends RFC 8058's one-click body to `/unsubscribe/{token}` of ids
//! FIRST_ID.. FIRST_ID+COUNT-1; `get` opens the same links (a link
//! scanner); `static` gets `/newsroom.css` COUNT times, the same server's
//! floor with no token and no store; `clients` gets `/newsroom.css` as
//! COUNT distinct clients behind the loopback proxy (`X-Forwarded-For`
//! 11.0.0.0 + id: each a new key of the per-client rate limiter, as in
//! `bench/limiter-memory.sh`). Prints one line:
//! `requests ok seconds per_second p50_ms p99_ms max_ms`. A general load
//! generator (oha) cannot give each request its own token.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, secret, list_id, first, count, concurrency, mode] = args.as_slice() else {
        eprintln!("usage: serve_load URL SECRET LIST_ID FIRST_ID COUNT CONCURRENCY post|get|static|clients");
        std::process::exit(2);
    };
    let first: i64 = first.parse().expect("FIRST_ID");
    let count: i64 = count.parse().expect("COUNT");
    let concurrency: usize = concurrency.parse().expect("CONCURRENCY");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let next = Arc::new(AtomicI64::new(first));
    let end = first + count;
    let started = Instant::now();
    let results: Vec<(usize, Vec<Duration>)> = runtime.block_on(async {
        let workers = (0..concurrency).map(|_| {
            let (client, next, url, secret, list_id, mode) =
                (client.clone(), next.clone(), url.clone(), secret.clone(), list_id.clone(), mode.clone());
            tokio::spawn(async move {
                let mut ok = 0;
                let mut latencies = Vec::new();
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= end {
                        break;
                    }
                    let link = format!("{url}/unsubscribe/{}", newsroom::token::sign(secret.as_bytes(), &list_id, id));
                    let request = match mode.as_str() {
                        "post" => client
                            .post(&link)
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body("List-Unsubscribe=One-Click"),
                        "get" => client.get(&link),
                        "clients" => client.get(format!("{url}/newsroom.css")).header(
                            "x-forwarded-for",
                            std::net::Ipv4Addr::from(0x0B00_0000_u32.wrapping_add(id as u32)).to_string(),
                        ),
                        _ => client.get(format!("{url}/newsroom.css")),
                    };
                    let sent = Instant::now();
                    if let Ok(response) = request.send().await {
                        let status = response.status();
                        let _ = response.bytes().await;
                        ok += usize::from(status.is_success());
                    }
                    latencies.push(sent.elapsed());
                }
                (ok, latencies)
            })
        });
        let mut results = Vec::new();
        for worker in workers.collect::<Vec<_>>() {
            results.push(worker.await.unwrap());
        }
        results
    });
    let seconds = started.elapsed().as_secs_f64();
    let ok: usize = results.iter().map(|(ok, _)| ok).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(_, l)| l).collect();
    latencies.sort();
    let at =
        |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{} {ok} {seconds:.2} {:.0} {:.2} {:.2} {:.2}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
