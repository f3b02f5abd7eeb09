//! Credentials: where they come from (auth files, credential helpers), how `kiln login`
//! stores them, and the bearer-token flow. Secrets print as `<redacted>`.

pub mod challenge;
pub mod files;
pub mod helper;
pub mod token;

use std::fmt;

/// The user name Docker's config.json gives an `identitytoken` (an OAuth2 refresh token):
/// such credentials are traded for a bearer token with a `refresh_token` grant.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// A secret string (password, identity token, bearer token). Its `Debug` and `Display`
/// never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for sending it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (not secret, shown in messages).
    pub username: String,
    /// The password or token.
    pub password: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Credentials {
    /// `Authorization: Basic …` header value.
    pub fn basic_header(&self) -> Secret {
        use base64::Engine;
        let raw = format!("{}:{}", self.username, self.password.expose());
        Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let c = Credentials {
            username: "alice".into(),
            password: Secret::new("hunter2-very-secret"),
        };
        let shown = format!("{c:?} {} {:?}", c.password, c.basic_header());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("alice") && shown.contains("<redacted>"),
            "{shown}"
        );
        // The header itself is right when exposed.
        assert_eq!(
            c.basic_header().expose(),
            "Basic YWxpY2U6aHVudGVyMi12ZXJ5LXNlY3JldA=="
        );
    }
}
