//! Where a Management API lives and how to authenticate to it.

use std::fmt;

use url::Url;

use super::error::ApimError;

/// Prefix GKO appends to `baseUrl` unless the context overrides it (`spec.path`).
pub const DEFAULT_PATH_PREFIX: &str = "/management";

/// Prefix of the Automation API (APIM 4.8+) under `baseUrl`.
pub const AUTOMATION_PATH_PREFIX: &str = "/automation";

/// Credentials for the Management API. `Debug` never shows the token or the password.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>` (a personal access token).
    Bearer(String),
    /// HTTP Basic.
    Basic { username: String, password: String },
}

impl Credentials {
    /// Picks credentials the way GKO does: a bearer token wins when present; otherwise both username and
    /// password are needed. Empty strings count as missing. Errors never repeat the values.
    pub fn from_parts(
        bearer_token: Option<String>,
        username: Option<String>,
        password: Option<String>,
    ) -> Result<Self, ApimError> {
        let present = |v: Option<String>| v.filter(|s| !s.is_empty());
        if let Some(token) = present(bearer_token) {
            return Ok(Credentials::Bearer(token));
        }
        match (present(username), present(password)) {
            (Some(username), Some(password)) => Ok(Credentials::Basic { username, password }),
            (Some(_), None) => Err(ApimError::Config(
                "basic credentials have a username but no password".into(),
            )),
            (None, Some(_)) => Err(ApimError::Config(
                "basic credentials have a password but no username".into(),
            )),
            (None, None) => Err(ApimError::Config(
                "no credentials: set a bearer token, or a username and a password".into(),
            )),
        }
    }

    /// `"bearer"` or `"basic"`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::Bearer(_) => "bearer",
            Credentials::Basic { .. } => "basic",
        }
    }

    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        // reqwest marks both headers as sensitive, so they stay out of its own debug output too.
        match self {
            Credentials::Bearer(token) => request.bearer_auth(token),
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// One APIM environment as a ManagementContext describes it.
///
/// Built with [`Target::new`], which validates the base URL; `Debug` and `Display` never show credentials.
#[derive(Clone)]
pub struct Target {
    base_url: Url,
    path_prefix: String,
    automation_prefix: String,
    organization_id: String,
    environment_id: String,
    auth: Credentials,
    context: Option<String>,
}

impl Target {
    /// `base_url` is the Management API root without the `/management` prefix (`https://apim.example.com`).
    /// It must be http(s) and may not embed credentials, a query or a fragment.
    pub fn new(
        base_url: &str,
        organization_id: impl Into<String>,
        environment_id: impl Into<String>,
        auth: Credentials,
    ) -> Result<Self, ApimError> {
        let base_url = base_url.trim();
        let url = Url::parse(base_url)
            .map_err(|e| ApimError::Config(format!("baseUrl is not a URL: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ApimError::Config(format!(
                "baseUrl scheme must be http or https, not {}",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ApimError::Config(
                "baseUrl must not embed credentials: use the context's auth".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ApimError::Config(
                "baseUrl must not have a query or a fragment".into(),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ApimError::Config("baseUrl has no host".into()));
        }
        let organization_id = organization_id.into();
        let environment_id = environment_id.into();
        if organization_id.trim().is_empty() || environment_id.trim().is_empty() {
            return Err(ApimError::Config(
                "organizationId and environmentId are required".into(),
            ));
        }
        Ok(Target {
            base_url: url,
            path_prefix: DEFAULT_PATH_PREFIX.to_owned(),
            automation_prefix: AUTOMATION_PATH_PREFIX.to_owned(),
            organization_id,
            environment_id,
            auth,
            context: None,
        })
    }

    /// Overrides the `/management` prefix (`None` keeps the default). `""` or `"/"` means no prefix.
    pub fn with_path_prefix(mut self, prefix: Option<&str>) -> Self {
        if let Some(prefix) = prefix {
            let trimmed = prefix.trim().trim_matches('/');
            self.path_prefix = if trimmed.is_empty() {
                String::new()
            } else {
                format!("/{trimmed}")
            };
        }
        self
    }

    /// Overrides the `/automation` prefix of the Automation API (`None` keeps it). GKO replaces it with the
    /// context's `spec.path` too; gko does not, since one prefix cannot serve both APIs.
    pub fn with_automation_prefix(mut self, prefix: Option<&str>) -> Self {
        if let Some(prefix) = prefix {
            let trimmed = prefix.trim().trim_matches('/');
            self.automation_prefix = if trimmed.is_empty() {
                String::new()
            } else {
                format!("/{trimmed}")
            };
        }
        self
    }

    /// `AUTO` = `{base}{automation prefix}/organizations/{org}/environments/{env}` followed by `extra`.
    pub(crate) fn automation_url(&self, extra: &[&str]) -> Result<Url, ApimError> {
        let mut url = self.base_url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| ApimError::Config("baseUrl cannot be a base URL".into()))?;
            segments.pop_if_empty();
            segments.extend(self.automation_prefix.split('/').filter(|s| !s.is_empty()));
            segments.extend([
                "organizations",
                self.organization_id.as_str(),
                "environments",
                self.environment_id.as_str(),
            ]);
            segments.extend(extra);
        }
        Ok(url)
    }

    /// A label for logs, typically the ManagementContext's `namespace/name`.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// The base URL as given (normalised by URL parsing).
    pub fn base_url(&self) -> &str {
        self.base_url.as_str().trim_end_matches('/')
    }
    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }
    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }
    pub fn environment_id(&self) -> &str {
        &self.environment_id
    }
    pub fn auth(&self) -> &Credentials {
        &self.auth
    }
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// `ENV` = `{base}{prefix}/organizations/{org}/environments/{env}` (v1 REST, APIM 3.x and 4.x).
    pub fn env_url(&self) -> String {
        self.url(false, &[]).map(String::from).unwrap_or_default()
    }

    /// `ENV2` = `{base}{prefix}/v2/organizations/{org}/environments/{env}` (v2 REST, APIM 4.x).
    pub fn env2_url(&self) -> String {
        self.url(true, &[]).map(String::from).unwrap_or_default()
    }

    /// Key under which the APIM generation of this target is remembered: base URL, prefix, org, env.
    pub(crate) fn generation_key(&self) -> String {
        format!(
            "{}{}\u{0}{}\u{0}{}\u{0}{}",
            self.base_url(),
            self.path_prefix,
            self.automation_prefix,
            self.organization_id,
            self.environment_id
        )
    }

    /// `ENV` or `ENV2` followed by `extra` path segments (each percent-encoded).
    pub(crate) fn url(&self, v2: bool, extra: &[&str]) -> Result<Url, ApimError> {
        let mut url = self.base_url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| ApimError::Config("baseUrl cannot be a base URL".into()))?;
            segments.pop_if_empty();
            segments.extend(self.path_prefix.split('/').filter(|s| !s.is_empty()));
            if v2 {
                segments.push("v2");
            }
            segments.extend([
                "organizations",
                self.organization_id.as_str(),
                "environments",
                self.environment_id.as_str(),
            ]);
            segments.extend(extra);
        }
        Ok(url)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context} ")?;
        }
        write!(
            f,
            "{}{} org={} env={}",
            self.base_url(),
            self.path_prefix,
            self.organization_id,
            self.environment_id
        )
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("base_url", &self.base_url())
            .field("path_prefix", &self.path_prefix)
            .field("automation_prefix", &self.automation_prefix)
            .field("organization_id", &self.organization_id)
            .field("environment_id", &self.environment_id)
            .field("auth", &self.auth)
            .field("context", &self.context)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer() -> Credentials {
        Credentials::Bearer("s3cr3t-token".into())
    }

    #[test]
    fn bearer_wins_and_missing_parts_are_errors() {
        let c = Credentials::from_parts(Some("t".into()), Some("u".into()), Some("p".into()));
        assert!(matches!(c, Ok(Credentials::Bearer(ref t)) if t == "t"));
        let c = Credentials::from_parts(Some(String::new()), Some("u".into()), Some("p".into()));
        assert!(matches!(c, Ok(Credentials::Basic { .. })));
        assert!(Credentials::from_parts(None, Some("u".into()), None).is_err());
        assert!(Credentials::from_parts(None, None, Some("hunter2".into())).is_err());
        assert!(Credentials::from_parts(None, None, None).is_err());
        let err = Credentials::from_parts(None, Some("u".into()), Some(String::new()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no password"), "{err}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let basic = Credentials::Basic {
            username: "admin".into(),
            password: "hunter2".into(),
        };
        let out = format!("{basic:?} {:?}", bearer());
        assert!(
            !out.contains("hunter2") && !out.contains("s3cr3t-token"),
            "{out}"
        );
        assert!(out.contains("admin"));
    }

    #[test]
    fn urls_are_built_with_prefix_and_encoding() -> Result<(), ApimError> {
        let t = Target::new("https://apim.example.com/", "DEFAULT", "DEFAULT", bearer())?;
        assert_eq!(
            t.env_url(),
            "https://apim.example.com/management/organizations/DEFAULT/environments/DEFAULT"
        );
        assert_eq!(
            t.env2_url(),
            "https://apim.example.com/management/v2/organizations/DEFAULT/environments/DEFAULT"
        );
        let t = Target::new("http://h:8083/base", "o", "e f", bearer())?
            .with_path_prefix(Some("api/mgmt/"));
        assert_eq!(
            t.env_url(),
            "http://h:8083/base/api/mgmt/organizations/o/environments/e%20f"
        );
        let t = t.with_path_prefix(Some("/"));
        assert_eq!(
            t.url(false, &["apis", "import-crd"])?.as_str(),
            "http://h:8083/base/organizations/o/environments/e%20f/apis/import-crd"
        );
        Ok(())
    }

    #[test]
    fn bad_base_urls_are_rejected() {
        for bad in [
            "not a url",
            "ftp://h",
            "https://u:p@h",
            "https://h/?x=1",
            "https://h/#f",
        ] {
            assert!(Target::new(bad, "o", "e", bearer()).is_err(), "{bad}");
        }
        let err = Target::new("https://admin:hunter2@h", "o", "e", bearer())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("hunter2"));
        assert!(Target::new("https://h", "", "e", bearer()).is_err());
    }

    #[test]
    fn display_and_debug_have_no_secret() -> Result<(), ApimError> {
        let t = Target::new("https://h", "o", "e", bearer())?.with_context("ns/ctx");
        let out = format!("{t} {t:?}");
        assert!(!out.contains("s3cr3t-token"), "{out}");
        assert!(out.contains("ns/ctx"));
        Ok(())
    }
}
