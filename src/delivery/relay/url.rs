//! Where the relay is and how to reach it safely: [`SMTP_URL_VAR`] read
//! into a [`Relay`] (host, port, TLS, credentials), and the certificate
//! authority [`SMTP_CA_VAR`] names. Plain text only for a relay on this
//! machine (unless `?tls=required` asks for STARTTLS there too), STARTTLS
//! for any other `smtp://` host, TLS from the first byte for `smtps://`.
//!
//! Kept apart from connecting so that what the user wrote is checked, and
//! refused with a sentence that never repeats the password, before any
//! socket is opened. The credentials never leave this type in print:
//! [`Relay::display`] and its `Debug` show only scheme, host and port.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, bail};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::TlsParameters;

/// The environment variable naming the relay.
pub const SMTP_URL_VAR: &str = "NEWSROOM_SMTP_URL";

/// How long one SMTP step may take before the attempt counts as failed,
/// unless `delivery.timeout` says otherwise.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No TLS: only for a relay on this machine.
    Plain,
    /// `smtp://` to another host: STARTTLS is required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
}

/// Where to hand messages, from `NEWSROOM_SMTP_URL`.
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// How long one SMTP step may take ([`STEP_TIMEOUT`] unless set); connecting may take twice as long.
    pub timeout: Duration,
    pub(super) credentials: Option<Credentials>,
    /// A certificate authority trusted besides the system's ([`SMTP_CA_VAR`]).
    extra_ca: Option<lettre::transport::smtp::client::Certificate>,
}

/// The environment variable naming a PEM file of a certificate authority to
/// trust for the relay besides the system's: a relay with a private CA.
pub const SMTP_CA_VAR: &str = "NEWSROOM_SMTP_CA";

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Relay {
    /// Parses `smtp://[user:pass@]host[:port][?tls=required]` or
    /// `smtps://…`. `tls=required` (lettre's own spelling) asks for STARTTLS
    /// even on this machine, where plain text is otherwise used. Error
    /// messages never repeat the URL, which may hold a password.
    pub fn parse(text: &str) -> Result<Relay> {
        let url = ::url::Url::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("{SMTP_URL_VAR} is not a URL such as smtp://127.0.0.1:2525 ({e})"))?;
        let host =
            url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| anyhow::anyhow!("{SMTP_URL_VAR} has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let mut starttls_required = false;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") => starttls_required = true,
                _ => bail!("{SMTP_URL_VAR} has an unknown setting `{key}={value}`; the one known is `tls=required`"),
            }
        }
        let (security, default_port) = match url.scheme() {
            "smtp" if loopback && !starttls_required => (Security::Plain, 25),
            "smtp" => (Security::StartTls, 587),
            "smtps" => (Security::ImplicitTls, 465),
            other => bail!("{SMTP_URL_VAR} has scheme `{other}`; use smtp:// or smtps://"),
        };
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            Credentials::new(decode(url.username()), decode(url.password().unwrap_or("")))
        });
        Ok(Relay {
            port: url.port().unwrap_or(default_port),
            host,
            security,
            timeout: STEP_TIMEOUT,
            credentials,
            extra_ca: None,
        })
    }

    /// Trusts the certificate authority in the PEM file at `path` too.
    pub fn trust(&mut self, path: &std::path::Path) -> Result<()> {
        let pem =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("{SMTP_CA_VAR}: cannot read `{}`: {e}", path.display()))?;
        let certificate = lettre::transport::smtp::client::Certificate::from_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{SMTP_CA_VAR}: `{}` is not a PEM certificate: {e}", path.display()))?;
        self.extra_ca = Some(certificate);
        Ok(())
    }

    /// The TLS settings for the relay's host: the system's roots, and the extra CA if any.
    pub(super) fn tls_parameters(&self) -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(self.host.clone());
        if let Some(ca) = &self.extra_ca {
            builder = builder.add_root_certificate(ca.clone());
        }
        builder.build_rustls().map_err(|e| e.to_string())
    }

    /// The relay for messages, without credentials: safe to print.
    pub fn display(&self) -> String {
        let scheme = if self.security == Security::ImplicitTls { "smtps" } else { "smtp" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_may_be_plain_other_hosts_need_tls() {
        assert_eq!(Relay::parse("smtp://127.0.0.1:2525").unwrap().security, Security::Plain);
        assert_eq!(Relay::parse("smtp://localhost").unwrap().port, 25);
        assert_eq!(Relay::parse("smtp://mail.example.org").unwrap().security, Security::StartTls);
        assert_eq!(Relay::parse("smtps://u:p@mail.example.org").unwrap().port, 465);
        assert!(Relay::parse("http://x").is_err());
        // STARTTLS on this machine when asked (a local TLS proxy, the tests' own relay).
        assert_eq!(Relay::parse("smtp://127.0.0.1:2525?tls=required").unwrap().security, Security::StartTls);
        let error = Relay::parse("smtp://u:s3cret@127.0.0.1?tls=maybe").unwrap_err().to_string();
        assert!(error.contains("unknown setting `tls=maybe`") && !error.contains("s3cret"), "{error}");
    }

    #[test]
    fn credentials_never_show() {
        let relay = Relay::parse("smtps://user:s3cret@mail.example.org:465").unwrap();
        assert_eq!(relay.display(), "smtps://mail.example.org:465");
        assert!(!format!("{relay:?}").contains("s3cret"));
        let error = Relay::parse("smtpx://user:s3cret@host").unwrap_err().to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }
}
