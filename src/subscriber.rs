//! Who a message is for: the subscriber model every other module shares —
//! where a reader stands ([`Status`]), a reader to mail ([`Subscriber`],
//! from the subscriber file or the store), the one shape a message is
//! addressed to ([`Person`]), and the rules for an address and a name
//! ([`normalise_address`], [`matching_key`], [`clean_name`]).
//!
//! It holds no I/O: the subscriber file's reader (`crate::subscribers`),
//! the store and the messages all build on it, so it sits below them all.

use lettre::message::Mailbox;

/// How much of a user's value is echoed back in a diagnostic, so a pasted
/// paragraph in the email column does not flood the terminal.
const MAX_SHOWN_CHARS: usize = 60;

/// Where a subscriber stands: the `status` column of a subscriber file,
/// and the store's status of each subscriber (one list of them for both, so
/// a file the store exports imports back as it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Signed up, not confirmed yet: not mailed.
    Pending,
    /// Receives the digest; the default when the `status` cell is empty.
    Subscribed,
    /// Asked to stop receiving the digest (any channel): an opt-out.
    Unsubscribed,
    /// Mail to the address bounced for good: an opt-out.
    Bounced,
    /// Reported the digest as spam: an opt-out.
    Complained,
    /// Dropped from the operator's list: not mailed, not an opt-out.
    Removed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Subscribed,
        Status::Unsubscribed,
        Status::Bounced,
        Status::Complained,
        Status::Removed,
    ];

    /// The statuses a `status` cell may hold, for messages.
    const EXPECTED: &'static str = "subscribed, unsubscribed, bounced, complained, pending or removed";

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Subscribed => "subscribed",
            Status::Unsubscribed => "unsubscribed",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
            Status::Removed => "removed",
        }
    }

    /// Parses a status, trimmed and in any case.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// An opt-out: only an explicit resubscription undoes it.
    pub fn is_opt_out(self) -> bool {
        matches!(self, Status::Unsubscribed | Status::Bounced | Status::Complained)
    }

    /// Parses a `status` cell: empty means subscribed.
    pub(crate) fn from_cell(raw: &str) -> Result<Status, String> {
        if raw.trim().is_empty() {
            return Ok(Status::Subscribed);
        }
        Status::parse(raw)
            .ok_or_else(|| format!("unknown status `{}` (expected {})", shown(raw.trim()), Status::EXPECTED))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One valid row, or a subscriber of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The store's id, when the subscriber comes from the store (what an
    /// opaque unsubscribe token names); `None` for a row of a file.
    pub id: Option<i64>,
    /// Normalised address (trimmed, domain lower-cased): the identity used for de-duplication, the ledger and tokens.
    pub email: String,
    /// Display name, trimmed; None when empty. Control characters (CR, LF, tabs, other C0/C1 controls) are replaced by a space and runs of whitespace collapsed, so a name can never break a header line.
    pub name: Option<String>,
    /// Whether the digest is mailed to this subscriber.
    pub status: Status,
    /// Columns other than email/name/status, in file order: (header, value).
    pub extra: Vec<(String, String)>,
    /// 1-based line number of the row in the file (the header is line 1; a quoted field spanning lines counts as its first line).
    pub line: usize,
}

impl Subscriber {
    /// Whether the digest is mailed to this subscriber (status `subscribed`).
    pub fn is_active(&self) -> bool {
        self.status == Status::Subscribed
    }

    /// Who a message to this subscriber is for.
    pub fn person(&self) -> Person<'_> {
        Person { id: self.id, address: &self.email, name: self.name.as_deref() }
    }
}

/// The one shape a message is addressed to, whoever holds the reader: a
/// row of the subscriber file, a subscriber of the store or a row of the
/// delivery ledger each lend theirs ([`Subscriber::person`],
/// `Recipient::person`), so a message is never built from a made-up row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    /// The store's id, what an opaque unsubscribe token names; `None` for
    /// a reader the store does not hold (a file row, `--test-to`).
    pub id: Option<i64>,
    /// The normalised address ([`normalise_address`]).
    pub address: &'a str,
    /// The cleaned display name ([`clean_name`]).
    pub name: Option<&'a str>,
}

/// The key two spellings of one address share: the address lower-cased,
/// local part included. Domains are case-insensitive; RFC 5321 lets a
/// server tell `Ada@` from `ada@`, but the providers that hold most
/// mailboxes do not, and for an opt-out or a duplicate the safe reading is
/// that they are one person. Mail still goes to the address as written.
pub fn matching_key(address: &str) -> String {
    address.to_lowercase()
}

/// Normalises one address: trims, checks it with lettre::Address, lower-cases the domain. Err(reason) in plain words, e.g. "`bob@` is not a valid email address" or "empty email address".
pub fn normalise_address(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("empty email address".to_owned());
    }
    let invalid = || format!("`{}` is not a valid email address", shown(trimmed));
    let address: lettre::Address = trimmed.parse().map_err(|_| invalid())?;
    let domain = address.domain();
    // The local part keeps its case: RFC 5321 lets a server treat `Ada` and
    // `ada` as different mailboxes, while domains are case-insensitive.
    let normalised = if domain.is_ascii() {
        let mut normalised = trimmed.to_owned();
        normalised[address.user().len() + 1..].make_ascii_lowercase();
        normalised
    } else {
        format!("{}@{}", address.user(), domain.to_lowercase())
    };
    // The digest writes the address into a `To:` header and lettre parses that
    // header again to find the recipient. Its header parser is stricter than
    // `Address` (no domain literals such as `a@[127.0.0.1]`, no escaped quotes
    // in the local part), and Unicode lower-casing can change a domain's
    // spelling, so only an address that survives the trip can be mailed.
    let survives_header = normalised
        .parse::<lettre::Address>()
        .ok()
        .and_then(|address| Mailbox::new(None, address).to_string().parse::<Mailbox>().ok())
        .is_some_and(|mailbox| AsRef::<str>::as_ref(&mailbox.email) == normalised);
    if survives_header { Ok(normalised) } else { Err(invalid()) }
}

/// The longest name newsroom keeps, in characters: a name is a greeting
/// and a `To:` header's display name, and a 15,000-character one (signed up
/// on the web) made a `To:` line the relay refused (`500 Line too long`) on
/// every send. 200 is more than any real name and keeps the header within
/// RFC 5322's 998-octet line limit whatever it holds.
pub const MAX_NAME_CHARS: usize = 200;

/// `name` as newsroom keeps it: its first [`MAX_NAME_CHARS`] characters;
/// true when it was longer.
pub fn capped_name(name: &str) -> (&str, bool) {
    match name.char_indices().nth(MAX_NAME_CHARS) {
        Some((end, _)) => (name[..end].trim_end(), true),
        None => (name, false),
    }
}

/// Makes a name safe for a `To:` header and a greeting: control characters
/// become spaces and whitespace runs collapse to one space. Returns the name
/// (None when nothing is left) and whether control characters were present.
pub fn clean_name(raw: &str) -> (Option<String>, bool) {
    let had_controls = raw.chars().any(char::is_control);
    let mut name = String::with_capacity(raw.len());
    for word in raw.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(word);
    }
    ((!name.is_empty()).then_some(name), had_controls)
}

/// A user's value made safe to quote in a one-line diagnostic: control
/// characters escaped and long values cut short.
pub(crate) fn shown(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_SHOWN_CHARS + 3));
    for (count, c) in value.chars().enumerate() {
        if count == MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_address_trims_and_lower_cases_only_the_domain() {
        assert_eq!(normalise_address("  Ada.L@Example.ORG \t").as_deref(), Ok("Ada.L@example.org"));
        assert_eq!(normalise_address("ada@example.org").as_deref(), Ok("ada@example.org"));
        assert_eq!(normalise_address(" "), Err("empty email address".to_owned()));
        assert_eq!(normalise_address("bob@"), Err("`bob@` is not a valid email address".to_owned()));
        assert!(normalise_address("Ada <ada@example.org>").is_err());
        assert!(normalise_address("ada@exa mple.org").is_err());
    }

    /// Found by fuzzing (`subscribers_csv` target): lettre's `Address` accepts
    /// these, but no message can be built for them, and `digest preview`
    /// stopped with "missing destination address, invalid envelope".
    #[test]
    fn addresses_a_message_cannot_carry_are_rejected() {
        for raw in ["a@[127.0.0.1]", "a@[IPv6:::1]", r#""a\"b"@x.org"#] {
            assert_eq!(normalise_address(raw), Err(format!("`{raw}` is not a valid email address")), "{raw}");
        }
        assert_eq!(normalise_address("ü@BÜCHER.example").as_deref(), Ok("ü@bücher.example"));
    }

    #[test]
    fn names_are_cleaned_capped_and_lent_to_a_message() {
        assert_eq!(clean_name(" Ada\r\nLovelace\t "), (Some("Ada Lovelace".into()), true));
        assert_eq!(clean_name("  "), (None, false));
        let long = "x".repeat(MAX_NAME_CHARS + 5);
        assert_eq!(capped_name(&long), (&long[..MAX_NAME_CHARS], true));
        let row = Subscriber {
            id: Some(3),
            email: "ada@example.org".into(),
            name: Some("Ada".into()),
            status: Status::Subscribed,
            extra: Vec::new(),
            line: 2,
        };
        assert_eq!(row.person(), Person { id: Some(3), address: "ada@example.org", name: Some("Ada") });
    }
}
