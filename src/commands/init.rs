//! `newsroom init [DIR]`: a starter site, and the commands to run next.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Out;
use crate::cli::InitArgs;
use newsroom::digest::Month;

pub fn run(out: &mut Out, dir: &Path, args: &InitArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let written = newsroom::init::init(dir, &args.title, &args.url, now)?;
    writeln!(out, "created a newsroom site in {}:", dir.display())?;
    for file in &written {
        writeln!(out, "  {}", file.display())?;
    }
    let cd = if dir == Path::new(".") { String::new() } else { format!("  cd {}\n", dir.display()) };
    let month = Month::previous(now);
    write!(
        out,
        "\nnext:\n{cd}  newsroom check                      # every problem, before anything is published\n  \
         newsroom build                      # the feeds, into public/\n  \
         newsroom digest preview --month {month}  # last month's digest (the example post) as files, in preview/\n\
         \n\
         to send it (each step once):\n  \
         # 1. in newsroom.yaml, uncomment `digest:` with from, postal_address and unsubscribe_url, your own values\n  \
         # 2. the key of every link, and your relay, into .env (which .gitignore leaves out):\n  \
         echo \"NEWSROOM_UNSUBSCRIBE_SECRET=$(newsroom secret)\" >> .env\n  \
         echo \"NEWSROOM_SMTP_URL=smtp://USER:PASSWORD@mail.example.org:587\" >> .env\n  \
         set -a; . ./.env; set +a\n  \
         # 3. DKIM (recommended): make a key and set delivery.dkim, as the comments in newsroom.yaml say\n  \
         newsroom digest send --month {month} --test-to YOU@example.org   # one copy, to you\n  \
         newsroom serve                      # the unsubscribe pages the digest links to (serve: in newsroom.yaml)\n  \
         newsroom digest send --month {month}   # everyone in subscribers.csv, exactly once\n\
         (`cargo install --path .` in newsroom's repository, or its .deb, puts `newsroom` on your PATH.)\n"
    )?;
    Ok(ExitCode::SUCCESS)
}
